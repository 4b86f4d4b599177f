#!/usr/bin/env python
"""Compare two packaged silero VAD weights through our own scorer and gate.

A: ``silero_vad/data/silero_vad.onnx`` from the silero-vad package (inputs
``input``, ``state``, ``sr``). B: ``faster_whisper/assets/silero_vad_v6.onnx``
from faster-whisper 1.2.1 (inputs ``input``, ``h``, ``c``; 16 kHz only). Both
run frame by frame through ``whisper_stream.audio.silero.SileroScorer`` (same 512-sample
frames, same 64-sample context) and ``VadGate`` (threshold 0.5, 300 ms min
silence, 30 ms pad: the protocol defaults); only the network call differs.

For every file of the speech set, data/speech (padded with 1 s of silence on both
sides, so each has a start and an end) it prints the largest probability
difference, how many frames got a different speech/non-speech decision, and
whether the gate's start/end events are identical. Identical events mean the
same audio reaches Whisper, so the finals are the same; where the events
differ, both utterance lists are transcribed with the bundled tiny.en and the
finals compared.

    python scripts/compare_vad_weights.py [--data data/speech]

Needs both packages: ``pip install --no-deps silero-vad==6.2.3`` brings A
without torch.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime
import soundfile
import soxr

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "packages"), str(REPO)]

from bench.audio import DEFAULT_DATA_DIR  # noqa: E402
from whisper_stream.audio.silero import SileroScorer, SileroVadModel  # noqa: E402
from whisper_stream.audio.vad import FRAME_SAMPLES, SpeechEnd, SpeechStart, VadGate  # noqa: E402
from whisper_stream.samples import SAMPLE_RATE_HZ  # noqa: E402

PAD_S = 1.0
THRESHOLD = 0.5


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed")
    return Path(next(iter(spec.submodule_search_locations)), *parts)


class FasterWhisperV6Model:
    """faster-whisper's silero v6 export behind ``SileroRate.run``'s signature (16 kHz only)."""

    rate_hz = SAMPLE_RATE_HZ

    def __init__(self, path: Path) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(self, window: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
        probability, h, c = self._session.run(None, {"input": window[np.newaxis, :], "h": state[0:1], "c": state[1:2]})
        return float(np.asarray(probability).reshape(-1)[0]), np.concatenate([h, c], axis=0)


@dataclass
class Trace:
    probabilities: np.ndarray
    segments: list[tuple[int, int]]


def trace(model: object, audio: np.ndarray) -> Trace:
    scorer = SileroScorer(model)  # type: ignore[arg-type]  # duck-typed: only rate_hz and run() are used
    gate = VadGate(threshold=THRESHOLD, min_silence_duration_ms=300, speech_pad_ms=30)
    probabilities, segments, start = [], [], 0
    for end in range(FRAME_SAMPLES, audio.size + 1, FRAME_SAMPLES):
        probability = scorer.score(audio[end - FRAME_SAMPLES : end])
        probabilities.append(probability)
        event = gate.update(probability, end)
        if isinstance(event, SpeechStart):
            start = event.sample
        elif isinstance(event, SpeechEnd):
            segments.append((start, event.sample))
    if (last := gate.force_end(audio.size)) is not None:
        segments.append((start, last.sample))
    return Trace(np.array(probabilities), segments)


def load_padded(path: Path) -> np.ndarray:
    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != SAMPLE_RATE_HZ:
        mono = soxr.resample(mono, rate, SAMPLE_RATE_HZ)
    pad = np.zeros(int(PAD_S * SAMPLE_RATE_HZ), dtype=np.float32)
    return np.concatenate([pad, mono.astype(np.float32), pad])


def finals(audio: np.ndarray, segments: list[tuple[int, int]]) -> list[str]:
    from faster_whisper import WhisperModel

    from whisper_stream.inference.model_source import bundled_tiny_en_path

    model = WhisperModel(str(bundled_tiny_en_path()), device="cpu", compute_type="int8")
    texts = []
    for start, end in segments:
        pieces, _ = model.transcribe(audio[start:end], language="en", beam_size=1, vad_filter=False)
        texts.append(" ".join(p.text.strip() for p in pieces))
    return texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args(argv)

    a_path = _package_file("silero_vad", "data", "silero_vad.onnx")
    b_path = _package_file("faster_whisper", "assets", "silero_vad_v6.onnx")
    model_a, model_b = SileroVadModel(a_path).at_rate(SAMPLE_RATE_HZ), FasterWhisperV6Model(b_path)
    files = sorted(p for p in args.data.rglob("*") if p.suffix in {".flac", ".wav", ".mp3", ".ogg"})
    print(f"A = {a_path}\nB = {b_path}\n{len(files)} files under {args.data}")
    total_frames = decision_diffs = files_same_events = finals_checked = finals_same = 0
    worst = 0.0
    for path in files:
        audio = load_padded(path)
        a, b = trace(model_a, audio), trace(model_b, audio)
        diff = float(np.max(np.abs(a.probabilities - b.probabilities)))
        worst = max(worst, diff)
        flips = int(np.sum((a.probabilities >= THRESHOLD) != (b.probabilities >= THRESHOLD)))
        total_frames += a.probabilities.size
        decision_diffs += flips
        same = a.segments == b.segments
        files_same_events += same
        line = f"{path.relative_to(args.data)}: max |pA-pB| {diff:.2e}, decision flips {flips}, events same {same}"
        if not same:
            finals_checked += 1
            texts_a, texts_b = finals(audio, a.segments), finals(audio, b.segments)
            finals_same += texts_a == texts_b
            line += f", finals same {texts_a == texts_b}"
        print(line)
    print(
        f"\nframes {total_frames}; max |pA-pB| {worst:.2e}; frames with a different decision at {THRESHOLD}: "
        f"{decision_diffs} ({decision_diffs / max(total_frames, 1):.4%}); files with identical start/end events: "
        f"{files_same_events}/{len(files)}; files with different events whose finals still match: "
        f"{finals_same}/{finals_checked}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
