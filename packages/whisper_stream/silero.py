"""The silero VAD network: one ONNX session shared by every stream.

``SileroVadModel`` is one onnxruntime session for the whole replica
(onnxruntime sessions are safe to run from several threads); the recurrent
state and the 64-sample context live in each stream's ``SileroScorer``, which
implements ``vad.SpeechScorer``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnxruntime

from whisper_stream.vad import FRAME_SAMPLES, SAMPLE_RATE_HZ

_CONTEXT_SAMPLES = 64


def silero_weights_path() -> Path:
    """The ONNX weights shipped in the silero-vad package (found without importing torch)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the silero-vad package is not installed: pip install --no-deps -r requirements-nodeps.txt "
            "(only its ONNX weights are used; its torch dependency is not needed)"
        )
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
