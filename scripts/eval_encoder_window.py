#!/usr/bin/env python
"""Accuracy and speed of decoding with the encoder input cut to the utterance vs padded to 30 s.

CTranslate2's Whisper encoder accepts fewer than 3000 mel frames; faster-whisper
always pads to 3000 (30 s). This decodes every utterance of the chosen
data/speech folders both ways (greedy, no timestamps, the same prompt-free settings)
and prints WER and median decode time side by side.

    .venv/bin/python scripts/eval_encoder_window.py [--folders librispeech_test_other,librispeech_clean]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "packages"), str(REPO)]

from tests.speech import SPEECH_DIR, load_16k, normalize  # noqa: E402
from whisper_stream.inference.model_source import resolve_model_source  # noqa: E402
from whisper_stream.inference.requests import DecodeOptions  # noqa: E402
from whisper_stream.inference.transcriber import FasterWhisperTranscriber, TranscriberOptions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folders", default="librispeech_test_other,librispeech_clean,misc_short")
    parser.add_argument("--limit", type=int, default=0, help="utterances per folder (0: all)")
    args = parser.parse_args()
    import jiwer

    transcriber = FasterWhisperTranscriber(resolve_model_source(None), TranscriberOptions(device="cpu"))
    options = DecodeOptions(language="en", prompt=None, word_timestamps=False)
    refs: list[str] = []
    hyps: dict[str, list[str]] = {"30 s window": [], "utterance window": []}
    times: dict[str, list[float]] = {name: [] for name in hyps}
    for folder in args.folders.split(","):
        with open(SPEECH_DIR / folder / "manifest.tsv", newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        for row in rows[: args.limit or None]:
            audio = load_16k(SPEECH_DIR / folder / row["filename"])
            if audio.size > 30 * 16_000:
                continue
            refs.append(normalize(row["transcript"]))
            for name, fit in (("30 s window", False), ("utterance window", True)):
                started = time.perf_counter()
                [(result, _)] = transcriber.decode([(audio, options)], fit_encoder_window=fit)
                times[name].append(time.perf_counter() - started)
                hyps[name].append(normalize(result.text))
    print(f"{len(refs)} utterances, tiny.en int8, {transcriber.options.cpu_threads or 'auto'} threads, greedy")
    print(f"{'encoder input':<18} {'WER':>7} {'median decode s':>16} {'total s':>8}")
    for name in hyps:
        error = jiwer.wer(refs, hyps[name])
        print(f"{name:<18} {error:>7.4f} {statistics.median(times[name]):>16.3f} {sum(times[name]):>8.1f}")


if __name__ == "__main__":
    main()
