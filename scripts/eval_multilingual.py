#!/usr/bin/env python
"""Offline accuracy of the multilingual model on each non-English clip: what the tests' bounds rest on.

Each clip of data/speech/multilingual is transcribed whole, as a final,
by our transcriber with the local server's CPU settings (int8, final beam 1):
once with its language fixed, once with the language detected. Prints per clip
the detected language and its probability, and WER (CER for zh/ja) both ways.

With ``--cut-spread-ms N``, for each clip the tests stream (``TEST_CLIPS``), what a
streamed final can get instead: the utterance as the session's VAD cuts it (the clip
between half-second pauses, the default VAD settings), decoded with its start and
its end moved by every multiple of 4 ms up to N ms. A greedy decode can change with
a few ms of audio (Japanese: 客観 becomes 100間 when the start moves 4 ms), and the
tests' bounds must hold for every cut the server may make.

    .venv/bin/python scripts/eval_multilingual.py [--model DIR] [--folder DIR] [--beam 1] [--cut-spread-ms 40]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "packages"), str(REPO)]

from scripts.assemble_multilingual_model import assemble  # noqa: E402
from tests.multilingual_speech import MULTILINGUAL_DIR, Clip, clips, clips_under_test, error_rate, metric  # noqa: E402
from tests.speech import load_16k  # noqa: E402
from tests.stream_client import to_pcm16  # noqa: E402
from whisper_stream.audio.silero import SileroVadModel  # noqa: E402
from whisper_stream.audio.vad import FRAME_SAMPLES, SpeechEnd, SpeechStart, VadGate  # noqa: E402
from whisper_stream.inference.model_source import resolve_model_source  # noqa: E402
from whisper_stream.inference.requests import DecodeOptions  # noqa: E402
from whisper_stream.inference.transcriber import FasterWhisperTranscriber, TranscriberOptions  # noqa: E402
from whisper_stream.samples import SAMPLE_RATE_HZ  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="CTranslate2 model dir (default: the assembled base model)")
    parser.add_argument("--folder", type=Path, default=MULTILINGUAL_DIR)
    parser.add_argument("--beam", type=int, default=1, help="final beam size (the server's CPU default is 1)")
    parser.add_argument("--cut-spread-ms", type=int, help="the test clips' finals with the VAD's cut moved this far")
    args = parser.parse_args()
    model_dir = args.model or assemble()
    options = TranscriberOptions(device="cpu", final_beam_size=args.beam)
    transcriber = FasterWhisperTranscriber(resolve_model_source(str(model_dir)), options)
    if args.cut_spread_ms is not None:
        for clip in clips_under_test():
            print(cut_spread(transcriber, clip, args.cut_spread_ms), flush=True)
        return 0
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


_PAUSE_S = 0.5
_STEP_SAMPLES = 64  # 4 ms


def streamed_cut(clip: Clip) -> tuple[np.ndarray, int, int]:
    """The clip between half-second pauses, as pcm_s16le brings it, and the span the session's VAD gives it."""
    pause = np.zeros(int(_PAUSE_S * SAMPLE_RATE_HZ), dtype=np.float32)
    pcm = to_pcm16(np.concatenate([pause, load_16k(clip.path), pause]))
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    scorer, gate = SileroVadModel().new_scorer(), VadGate(threshold=0.5, min_silence_duration_ms=300, speech_pad_ms=30)
    start, end = None, audio.size
    for offset in range(0, audio.size - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        event = gate.update(scorer.score(audio[offset : offset + FRAME_SAMPLES]), offset + FRAME_SAMPLES)
        if isinstance(event, SpeechStart) and start is None:
            start = event.sample
        elif isinstance(event, SpeechEnd):
            end = event.sample
    return audio, start or 0, end


def cut_spread(transcriber: FasterWhisperTranscriber, clip: Clip, spread_ms: int) -> str:
    """One line: the error of the VAD's cut, the range over the moved cuts, and the worst text."""
    audio, start, end = streamed_cut(clip)
    steps = range(-spread_ms * SAMPLE_RATE_HZ // 1000, spread_ms * SAMPLE_RATE_HZ // 1000 + 1, _STEP_SAMPLES)
    cuts = sorted({(start + d, end) for d in steps} | {(start, end + d) for d in steps})
    options = DecodeOptions(clip.language, None, False)
    rates = {}
    for a, b in cuts:
        text = transcriber.transcribe(audio[a:b], options, final=True).text
        rates[(a, b)] = (error_rate(clip.language, clip.reference, text), text)
    worst = max(rates, key=lambda cut: (rates[cut][0], cut == (start, end)))  # on a tie, the VAD's own cut
    return (
        f"{clip.name:34} {metric(clip.language)} at the VAD's cut {rates[(start, end)][0]:.3f}, "
        f"{min(r for r, _ in rates.values()):.3f}-{rates[worst][0]:.3f} over {len(cuts)} cuts within "
        f"{spread_ms} ms; worst (start {worst[0] - start:+d}, end {worst[1] - end:+d} samples): {rates[worst][1]}"
    )


if __name__ == "__main__":
    sys.exit(main())
