"""How long one decode can hold a worker: pathological audio decoded as a final, with the bounds
(``context_decoding.max_new_tokens``: 16 + 12 tokens per second of audio; ``fallback.budget_s``: no new
temperature pass after max(2 s, a quarter of the audio's length)) and without them (Whisper's 224 tokens, all
six temperature passes), side by side in one run.

    .venv/bin/python bench/decode_bounds.py [--model DIR] [--beam 5] [--reps 1]

Inputs: white noise, a steady tone, a chord of tones that changes every 0.5 s (music-like), one word said
again and again (the first 0.6 s of the JFK clip repeated), silence, and the Japanese FLEURS clip (the one
whose fallback decode once ran away on the multilingual model). Each is decoded as a final through the
real ``FasterWhisperTranscriber`` (direct decode, then faster-whisper's temperature fallback when the
guards doubt it). Prints, per input: seconds of audio, the decode's wall time and its text's length, capped
and uncapped. Times are wall times on this machine: run it idle, and read them side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "packages")]

import numpy as np  # noqa: E402

from bench.audio import DEFAULT_DATA_DIR  # noqa: E402
from tests.speech import load_16k  # noqa: E402
from whisper_stream.inference import context_decoding, fallback  # noqa: E402
from whisper_stream.inference.model_source import resolve_model_source  # noqa: E402
from whisper_stream.inference.requests import DecodeOptions  # noqa: E402
from whisper_stream.inference.transcriber import FasterWhisperTranscriber, TranscriberOptions  # noqa: E402
from whisper_stream.samples import SAMPLE_RATE_HZ  # noqa: E402

UNCAPPED_NEW_TOKENS = 224


def inputs(seconds: float) -> dict[str, tuple[np.ndarray, str | None]]:
    """Each pathological input and the language it is decoded in (None: detected)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    chord_hz = np.repeat(rng.uniform(200, 900, size=(int(seconds * 2) + 1, 3)), SAMPLE_RATE_HZ // 2, axis=0)
    chord = sum(np.sin(2 * np.pi * chord_hz[: t.size, k] * t) for k in range(3)) / 3
    word = load_16k(DEFAULT_DATA_DIR / "jfk.flac")[int(0.35 * SAMPLE_RATE_HZ) : int(0.95 * SAMPLE_RATE_HZ)]
    japanese = load_16k(DEFAULT_DATA_DIR / "multilingual" / "ja_fleurs_1837.wav")
    return {
        "white noise": ((0.3 * rng.standard_normal(t.size)).astype(np.float32), "en"),
        "tone 440 Hz": ((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), "en"),
        "changing chords": ((0.3 * chord).astype(np.float32), "en"),
        "one word repeated": (np.tile(word, int(seconds / 0.6)).astype(np.float32), "en"),
        "silence": (np.zeros(t.size, np.float32), "en"),
        "Japanese FLEURS clip": (japanese, "ja"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="", help="a model directory; default: the bundled tiny.en")
    parser.add_argument("--beam", type=int, default=5, help="the final beam (production's on a GPU: 5)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the synthetic inputs")
    args = parser.parse_args(argv)
    transcriber = FasterWhisperTranscriber(
        resolve_model_source(args.model), TranscriberOptions(device="cpu", final_beam_size=args.beam)
    )
    print(f"model {args.model or 'tiny.en'}, beam {args.beam}, multilingual {transcriber.is_multilingual}")
    print("| input | audio s | capped: decode s | text chars | uncapped: decode s | text chars |")
    print("|---|---|---|---|---|---|")
    worst = {"capped": 0.0, "uncapped": 0.0}
    for name, (audio, language) in inputs(args.seconds).items():
        if language != "en" and not transcriber.is_multilingual:
            continue
        options = DecodeOptions(language, None, False)
        row = [name, f"{audio.size / SAMPLE_RATE_HZ:.1f}"]
        for label in ("capped", "uncapped"):
            with uncapped() if label == "uncapped" else contextlib.nullcontext():
                started = time.perf_counter()
                result = transcriber.transcribe(audio, options, final=True)
                seconds = time.perf_counter() - started
            worst[label] = max(worst[label], seconds)
            row += [f"{seconds:.2f}", str(len(result.text))]
        print("| " + " | ".join(row) + " |", flush=True)
    print(f"worst decode: capped {worst['capped']:.2f} s, uncapped {worst['uncapped']:.2f} s")
    return 0


@contextlib.contextmanager
def uncapped() -> Iterator[None]:
    """Whisper's own bound (224 new tokens) in place of the cap by audio length, and no time budget."""
    with (
        mock.patch.object(context_decoding, "max_new_tokens", lambda _s: UNCAPPED_NEW_TOKENS),
        mock.patch.object(fallback, "max_new_tokens", lambda _s: UNCAPPED_NEW_TOKENS),
        mock.patch.object(fallback, "budget_s", lambda _s: math.inf),
    ):
        yield


if __name__ == "__main__":
    raise SystemExit(main())
