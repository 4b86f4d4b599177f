"""Frame-by-frame voice activity detection with silero VAD.

``SileroVadModel`` is one ONNX session shared by every stream (onnxruntime
sessions are safe to run from several threads); the recurrent state and the
64-sample context live in each stream's ``SileroScorer``. ``VadGate`` turns
per-frame speech probabilities into speech start/end decisions with the same
hysteresis as silero's own ``get_speech_timestamps``: start at ``threshold``,
end after ``min_silence_duration_ms`` below ``threshold - 0.15``, both sides
padded by ``speech_pad_ms``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import onnxruntime

FRAME_SAMPLES = 512
SAMPLE_RATE_HZ = 16_000
_CONTEXT_SAMPLES = 64
_NEGATIVE_THRESHOLD_GAP = 0.15


class SpeechScorer(Protocol):
    """Gives the speech probability of each consecutive 512-sample frame of one stream."""

    def score(self, frame: np.ndarray) -> float: ...


def silero_weights_path() -> Path:
    """The ONNX weights shipped in the silero-vad package (found without importing torch)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the silero-vad package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"


class SileroVadModel:
    """The shared silero VAD network."""

    def __init__(self, weights_path: Path | None = None) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(weights_path or silero_weights_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._sample_rate = np.array(SAMPLE_RATE_HZ, dtype=np.int64)

    def new_scorer(self) -> SileroScorer:
        return SileroScorer(self)

    def run(self, window: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
        probability, new_state = self._session.run(
            None, {"input": window[np.newaxis, :], "state": state, "sr": self._sample_rate}
        )
        return float(probability[0, 0]), new_state


class SileroScorer:
    """Per-stream silero state: the recurrent state and the previous frame's tail."""

    def __init__(self, model: SileroVadModel) -> None:
        self._model = model
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT_SAMPLES, dtype=np.float32)

    def score(self, frame: np.ndarray) -> float:
        if frame.shape != (FRAME_SAMPLES,):
            raise ValueError(f"silero VAD takes frames of {FRAME_SAMPLES} samples, got {frame.shape}")
        window = np.concatenate([self._context, frame.astype(np.float32, copy=False)])
        probability, self._state = self._model.run(window, self._state)
        self._context = window[-_CONTEXT_SAMPLES:]
        return probability


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
        if probability >= self.threshold:
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
        """End the current speech at ``sample`` (end of stream, or a forced final)."""
        return self._end(sample) if self.in_speech else None

    def _end(self, sample: int) -> SpeechEnd:
        self.in_speech = False
        self._silence_start = None
        self._last_end = sample
        return SpeechEnd(sample)
