"""Does the endpoint invent text from noise? Non-speech streamed through the real core (silero + tiny.en).

Three measurements, each with ``min_speech_duration_ms`` off (0, as before) and at the default:

1. **Non-speech**: 13 minutes of generated signals (digital silence, dither, white/pink/brown noise at
   several levels, clicks, mains hum at 50 and 60 Hz with harmonics): replayed through the core, and
   (``--server-speeds``) streamed through truss's real local server at those speeds, partials on:
   every non-empty final is an invented one.
2. **Gaps of the speech set**: the utterances of data/speech (LibriSpeech test-clean and test-other, misc)
   separated by 1-2.5 s of room tone (pink noise at -50 dBFS); a non-empty final lying mostly (> 50 %)
   outside the utterances is a false final, counted per hour of gap audio. WER of the same stream shows
   what the guard costs in real words.
3. **Noise tails**: JFK's clip ending right after the last word (as ``--fast``/``--speed 4`` send it):
   finals that start after the last reference word (10.8 s).

No package this project depends on ships recorded room noise or music, so the noise is generated
(seeded, reproducible). Usage: ``python bench/nonspeech.py [--minutes-per-signal 1.0]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.audio import DEFAULT_DATA_DIR
from bench.replay import REPO, Replayer, finals
from bench.wer import wer
from tests.speech import load_16k
from whisper_stream.protocol.config import SessionConfig, VadOptions

SR = 16_000


def _db(level_dbfs: float) -> float:
    return 10 ** (level_dbfs / 20)


def _colored(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with a 1/f**exponent power spectrum (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1]
    shaped = np.fft.irfft(spectrum / freqs ** (exponent / 2), n)
    return (shaped / np.sqrt(np.mean(shaped**2))).astype(np.float32)


def non_speech_signals(seconds: float, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    signals = {
        "digital silence": np.zeros(n, np.float32),
        "dither (TPDF, 1 LSB)": ((rng.random(n) - rng.random(n)) / 32768).astype(np.float32),
    }
    for level in (-60, -40, -30, -20):
        signals[f"white {level} dBFS"] = _db(level) * _colored(rng, n, 0)
    for name, exponent in (("pink", 1), ("brown", 2)):
        for level in (-40, -25):
            signals[f"{name} {level} dBFS"] = _db(level) * _colored(rng, n, exponent)
    clicks = _db(-60) * _colored(rng, n, 0)
    for at in rng.integers(0, n - 64, size=int(seconds * 2)):  # two clicks a second, of random height
        clicks[at : at + 16] += rng.uniform(0.1, 0.9) * np.hanning(16)
    signals["clicks"] = clicks
    for mains in (50, 60):
        hum = sum(_db(-20 - 6 * k) * np.sin(2 * np.pi * mains * (k + 1) * t) for k in range(5))
        signals[f"hum {mains} Hz"] = (hum + _db(-60) * _colored(rng, n, 0)).astype(np.float32)
    return signals


def _read_manifest(folder: Path) -> list[tuple[Path, str]]:
    import csv

    with open(folder / "manifest.tsv", newline="") as handle:
        return [(folder / row["filename"], row["transcript"]) for row in csv.DictReader(handle, delimiter="\t")]


def speech_with_gaps(seed: int = 1) -> tuple[np.ndarray, list[tuple[int, int]], str, float]:
    """The utterances of data/speech with room-tone gaps: audio, utterance spans, references, gap seconds."""
    rng = np.random.default_rng(seed)
    clips = []
    for folder in ("librispeech_clean", "librispeech_test_other", "misc_short"):
        clips += _read_manifest(DEFAULT_DATA_DIR / folder)
    pieces, spans, references, gap_samples, position = [], [], [], 0, 0
    for path, reference in clips:
        gap = int(rng.uniform(1.0, 2.5) * SR)
        pieces.append(_db(-50) * _colored(rng, gap, 1))
        audio = load_16k(path)
        pieces.append(audio)
        spans.append((position + gap, position + gap + audio.size))
        references.append(reference)
        position += gap + audio.size
        gap_samples += gap
    tail = int(1.5 * SR)
    pieces.append(_db(-50) * _colored(rng, tail, 1))
    return np.concatenate(pieces), spans, " ".join(references), (gap_samples + tail) / SR


def _outside_fraction(final: dict, spans: list[tuple[int, int]]) -> float:
    start = int(final["segments"][0]["start_time"] * SR)
    end = max(int(final["segments"][-1]["end_time"] * SR), start + 1)
    inside = sum(max(0, min(end, b) - max(start, a)) for a, b in spans)
    return 1 - inside / (end - start)


def config_with(min_speech_duration_ms: int) -> SessionConfig:
    """Partials off: in a replay they change no non-empty final, only the time it takes."""
    config = SessionConfig()
    return dataclasses.replace(
        config,
        vad=VadOptions(min_speech_duration_ms=min_speech_duration_ms),
        streaming=dataclasses.replace(config.streaming, enable_partial_transcripts=False),
    )


def _invented(messages: list[dict], name: str) -> list[str]:
    return [f"{name}: {f['transcript']!r}" for f in finals(messages)]


def through_server(signals: dict[str, np.ndarray], speeds: list[float], min_speech_ms: int) -> None:
    """Stream every signal through truss's real local server (tiny.en, partials on) at each speed."""
    import asyncio
    import tempfile

    from tests.conftest import SERVER_ENV
    from tests.local_server import start_server
    from tests.stream_client import SEED_CONFIG, stream

    config = {**SEED_CONFIG, "vad_params": {**SEED_CONFIG["vad_params"], "min_speech_duration_ms": min_speech_ms}}
    with tempfile.TemporaryDirectory() as build, start_server(REPO, build_dir=build, env=SERVER_ENV) as server:
        for speed in speeds:
            invented: list[str] = []
            for name, audio in signals.items():
                result = asyncio.run(stream(server.ws_url, audio, config=config, speed=speed, timeout_s=3600))
                invented += [f"{name}: {f['transcript']!r}" for f in result.finals if f["transcript"]]
            print(f"| {min_speech_ms} | server {speed:g}x | {len(invented)} | {'; '.join(invented[:6]) or '-'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes-per-signal", type=float, default=1.0)
    parser.add_argument("--min-speech-ms", type=int, nargs="+", default=[0, VadOptions().min_speech_duration_ms])
    parser.add_argument("--server-speeds", type=float, nargs="*", default=[], help="e.g. 4 1 (1x takes 13 min)")
    args = parser.parse_args()

    started = time.monotonic()
    replayer = Replayer.with_bundled_model()
    signals = non_speech_signals(args.minutes_per_signal * 60)
    total_min = sum(s.size for s in signals.values()) / SR / 60
    print(f"# Non-speech: {len(signals)} signals, {total_min:.0f} min\n")
    print("| min_speech_duration_ms | how | non-empty finals | what they said |")
    print("|---|---|---|---|")
    for min_speech in args.min_speech_ms:
        invented = []
        for name, audio in signals.items():
            invented += _invented(replayer.replay(audio, config_with(min_speech)), name)
        print(f"| {min_speech} | replay | {len(invented)} | {'; '.join(invented[:6]) or '-'} |", flush=True)
    if args.server_speeds:
        through_server(signals, args.server_speeds, args.min_speech_ms[-1])

    audio, spans, reference, gap_s = speech_with_gaps()
    print(
        f"\n# Gaps of the speech set: {len(spans)} utterances, {audio.size / SR / 60:.1f} min, "
        f"{gap_s / 60:.1f} min of room-tone gaps\n"
    )
    print("| min_speech_duration_ms | false finals | per hour of gaps | WER | finals | false ones |")
    print("|---|---|---|---|---|---|")
    for min_speech in args.min_speech_ms:
        sent = finals(replayer.replay(audio, config_with(min_speech)))
        false = [f for f in sent if _outside_fraction(f, spans) > 0.5]
        hypothesis = " ".join(f["transcript"] for f in sent)
        error = wer(reference, hypothesis)
        print(
            f"| {min_speech} | {len(false)} | {len(false) / (gap_s / 3600):.1f} | {error:.2%} | {len(sent)} |"
            + (f" {'; '.join(repr(f['transcript']) for f in false[:4])}" if false else "")
        )

    jfk = load_16k(DEFAULT_DATA_DIR / "jfk.flac")
    print("\n# JFK ending right after the last word (as --fast sends it)\n")
    print("| min_speech_duration_ms | finals after 10.8 s |")
    print("|---|---|")
    for min_speech in args.min_speech_ms:
        tails = [
            f
            for f in finals(replayer.replay(jfk, config_with(min_speech), speed=4.0))
            if f["segments"][0]["start_time"] >= 10.8
        ]
        print(f"| {min_speech} | {len(tails)} {' '.join(repr(f['transcript']) for f in tails)} |")
    print(f"\n{replayer.decodes} decodes ({replayer.cache_hits} cached), {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
