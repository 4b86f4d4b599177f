#!/usr/bin/env python
"""Offline accuracy of the multilingual model on each non-English clip: what the tests' bounds rest on.

Each clip of data/speech/multilingual is transcribed whole, as a final,
by our transcriber with the local server's CPU settings (int8, final beam 1):
once with its language fixed, once with the language detected. Prints per clip
the detected language and its probability, and WER (CER for zh/ja) both ways.

    .venv/bin/python scripts/eval_multilingual.py [--model DIR] [--folder DIR] [--beam 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "packages"), str(REPO)]

from scripts.assemble_multilingual_model import assemble  # noqa: E402
from tests.multilingual_speech import MULTILINGUAL_DIR, clips, error_rate, metric  # noqa: E402
from tests.speech import load_16k  # noqa: E402
from whisper_stream.inference.model_source import resolve_model_source  # noqa: E402
from whisper_stream.inference.requests import DecodeOptions  # noqa: E402
from whisper_stream.inference.transcriber import FasterWhisperTranscriber, TranscriberOptions  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="CTranslate2 model dir (default: the assembled base model)")
    parser.add_argument("--folder", type=Path, default=MULTILINGUAL_DIR)
    parser.add_argument("--beam", type=int, default=1, help="final beam size (the server's CPU default is 1)")
    args = parser.parse_args()
    model_dir = args.model or assemble()
    options = TranscriberOptions(device="cpu", final_beam_size=args.beam)
    transcriber = FasterWhisperTranscriber(resolve_model_source(str(model_dir)), options)
    print(f"{'clip':34} {'detected':>12} {'metric':>6} {'fixed':>6} {'auto':>6} {'s':>5}  text (fixed)")
    for clip in clips(args.folder):
        audio = load_16k(clip.path)
        started = time.perf_counter()
        [probabilities] = transcriber.detect_languages([audio])
        fixed = transcriber.transcribe(audio, DecodeOptions(clip.language, None, False), final=True)
        auto = transcriber.transcribe(audio, DecodeOptions(None, None, False), final=True)
        elapsed_s = time.perf_counter() - started
        code, probability = probabilities[0]
        fixed_rate = error_rate(clip.language, clip.reference, fixed.text)
        auto_rate = error_rate(clip.language, clip.reference, auto.text)
        print(
            f"{clip.name:34} {code:>4} p={probability:.2f} {metric(clip.language):>6} "
            f"{fixed_rate:6.3f} {auto_rate:6.3f} {elapsed_s:5.1f}  {fixed.text}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
