"""Deterministic stand-ins for the model parts, for tests of the core."""

from __future__ import annotations

import numpy as np

from whisper_stream.inference.requests import DecodeOptions
from whisper_stream.protocol.results import Segment, TranscriptionResult
from whisper_stream.samples import SAMPLE_RATE_HZ

SPEECH_LEVEL = 0.3


class EnergyScorer:
    """Speech probability from frame loudness: loud frames are 'speech'.

    Also an engine's scorer factory: called with the stream's declared rate, which it keeps.
    """

    def __init__(self, input_rate_hz: int = SAMPLE_RATE_HZ) -> None:
        self.input_rate_hz = input_rate_hz
        self.frames_scored = 0

    def score(self, frame: np.ndarray) -> float:
        self.frames_scored += 1
        return 0.95 if float(np.sqrt(np.mean(frame**2))) > 0.05 else 0.02


class ManualClock:
    """A clock that moves only when a test sets or advances ``now_s``."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def tone_s(duration_s: float, level: float = SPEECH_LEVEL) -> np.ndarray:
    """A loud 220 Hz tone: 'speech' for EnergyScorer."""
    t = np.arange(int(duration_s * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    return (level * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def silence_s(duration_s: float) -> np.ndarray:
    return np.zeros(int(duration_s * SAMPLE_RATE_HZ), dtype=np.float32)


class EchoTranscriber:
    """Returns a text that names how much audio it got; counts calls."""

    is_multilingual = False

    def __init__(self) -> None:
        self.calls: list[tuple[int, bool]] = []

    def transcribe(self, audio: np.ndarray, options: DecodeOptions, *, final: bool) -> TranscriptionResult:
        self.calls.append((audio.size, final))
        duration_s = (audio.size - options.context_samples) / SAMPLE_RATE_HZ
        text = f"{audio.size - options.context_samples} samples"  # the utterance, without its context
        return TranscriptionResult(text, "en", 0.9, (Segment(text, 0.0, duration_s),))


def result_for(text: str, duration_s: float = 1.0) -> TranscriptionResult:
    return TranscriptionResult(text, "en", 0.8, (Segment(text, 0.0, duration_s),))
