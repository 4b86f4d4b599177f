"""The VAD gate: per-frame speech probabilities in, speech start/end decisions out.

Pure numpy, no model: the silero network that scores frames lives in
``whisper_stream.audio.silero`` and is handed in through the ``SpeechScorer``
protocol, so the streaming core imports (and is tested) without onnxruntime.
``VadGate`` uses the same hysteresis as silero's own ``get_speech_timestamps``:
start at ``threshold``, end after ``min_silence_duration_ms`` below
``threshold - 0.15``, both sides padded by ``speech_pad_ms``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from whisper_stream.samples import SAMPLE_RATE_HZ

FRAME_SAMPLES = 512
_NEGATIVE_THRESHOLD_GAP = 0.15

__all__ = ["FRAME_SAMPLES", "SpeechEnd", "SpeechScorer", "SpeechStart", "VadEvent", "VadGate"]


class SpeechScorer(Protocol):
    """Gives the speech probability of each consecutive 512-sample frame of one stream."""

    def score(self, frame: np.ndarray) -> float: ...


@dataclass(frozen=True)
class SpeechStart:
    """Speech began; ``sample`` already includes the padding before it."""

    sample: int


@dataclass(frozen=True)
class SpeechEnd:
    """Speech ended at ``sample`` (padding included); decided ``min_silence`` later."""

    sample: int


VadEvent = SpeechStart | SpeechEnd


class VadGate:
    """Hysteresis over frame probabilities; positions are 16 kHz sample indexes."""

    def __init__(self, *, threshold: float, min_silence_duration_ms: int, speech_pad_ms: int) -> None:
        self.threshold = threshold
        self.negative_threshold = max(threshold - _NEGATIVE_THRESHOLD_GAP, 0.01)
        self.min_silence_samples = min_silence_duration_ms * SAMPLE_RATE_HZ // 1000
        self.speech_pad_samples = speech_pad_ms * SAMPLE_RATE_HZ // 1000
        self.in_speech = False
        self._silence_start: int | None = None
        self._last_end = 0

    def update(self, probability: float, frame_end_sample: int) -> VadEvent | None:
        """Feed the probability of the frame ending at ``frame_end_sample``."""
        frame_start = frame_end_sample - FRAME_SAMPLES
        if probability >= self.threshold and self.threshold < 1.0:  # 1: no frame is speech, however sure
            self._silence_start = None
            if not self.in_speech:
                self.in_speech = True
                return SpeechStart(max(frame_start - self.speech_pad_samples, self._last_end, 0))
            return None
        if not self.in_speech or probability >= self.negative_threshold:
            return None
        if self._silence_start is None:
            self._silence_start = frame_start
        if frame_end_sample - self._silence_start < self.min_silence_samples:
            return None
        return self._end(min(self._silence_start + self.speech_pad_samples, frame_end_sample))

    @property
    def silence_start_sample(self) -> int | None:
        """Where the current run of non-speech frames began, while speech may be ending."""
        return self._silence_start

    def force_end(self, sample: int) -> SpeechEnd | None:
        """End the current speech now (end of stream, a forced final, input stopped).

        At ``sample``, the end of the audio; or, if speech has already paused, where the silence wait
        would have ended it (silence start plus padding), so the trailing silence is not decoded.
        """
        if not self.in_speech:
            return None
        if self._silence_start is not None:
            sample = min(sample, self._silence_start + self.speech_pad_samples)
        return self._end(sample)

    def _end(self, sample: int) -> SpeechEnd:
        self.in_speech = False
        self._silence_start = None
        self._last_end = sample
        return SpeechEnd(sample)
