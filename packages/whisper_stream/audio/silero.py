"""The silero VAD network: one ONNX session shared by every stream.

``SileroVadModel`` is one onnxruntime session for the whole replica
(onnxruntime sessions are safe to run from several threads); the recurrent
state and the 64-sample context live in each stream's ``SileroScorer``, which
implements ``vad.SpeechScorer``. The network takes a batch (windows of many
streams, their states side by side): ``vad_batch`` scores the frames of every
stream with new audio in one call and leaves the probabilities in each
stream's scorer, which hands them out in order when the session asks.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np
import onnxruntime

from whisper_stream.audio.package_files import package_file
from whisper_stream.audio.vad import FRAME_SAMPLES
from whisper_stream.samples import SAMPLE_RATE_HZ

_CONTEXT_SAMPLES = 64


def silero_weights_path() -> Path:
    """The ONNX weights shipped in the silero-vad package (found without importing torch)."""
    missing = RuntimeError(
        "the silero-vad package is not installed: pip install --no-deps -r requirements-nodeps.txt "
        "(only its ONNX weights are used; its torch dependency is not needed)"
    )
    return package_file("silero_vad", "data/silero_vad.onnx", missing)


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

    def run_batch(self, windows: np.ndarray, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Windows ``(batch, 576)`` and states ``(2, batch, 128)`` in; probabilities ``(batch,)`` and states out."""
        probabilities, new_states = self._session.run(
            None, {"input": windows, "state": states, "sr": self._sample_rate}
        )
        return probabilities[:, 0], new_states


class SileroScorer:
    """Per-stream silero state: the recurrent state and the previous frame's tail.

    Frames can be scored ahead, batched with other streams (``frames_ahead``,
    then ``window``/``advance`` per frame, by ``vad_batch``): ``score`` then
    returns those probabilities, in order, for the same frames.
    """

    def __init__(self, model: SileroVadModel) -> None:
        self.model = model
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT_SAMPLES, dtype=np.float32)
        self._unframed = np.zeros(0, dtype=np.float32)  # received samples short of a whole frame
        self._scored: deque[float] = deque()

    def score(self, frame: np.ndarray) -> float:
        if self._scored:
            return self._scored.popleft()
        if frame.shape != (FRAME_SAMPLES,):
            raise ValueError(f"silero VAD takes frames of {FRAME_SAMPLES} samples, got {frame.shape}")
        window = self.window(frame)
        probability, state = self.model.run(window, self._state)
        self._advance(window, state)
        return probability

    # ------------------------------------------------------- scoring ahead

    def frames_ahead(self, samples: np.ndarray) -> list[np.ndarray]:
        """The whole frames that ``samples`` complete, cut as the session will cut them (from sample 0)."""
        joined = np.concatenate([self._unframed, samples.astype(np.float32, copy=False)])
        whole = joined.size // FRAME_SAMPLES * FRAME_SAMPLES
        self._unframed = joined[whole:]
        return [joined[i : i + FRAME_SAMPLES] for i in range(0, whole, FRAME_SAMPLES)]

    def window(self, frame: np.ndarray) -> np.ndarray:
        return np.concatenate([self._context, frame.astype(np.float32, copy=False)])

    @property
    def state(self) -> np.ndarray:
        return self._state

    def scored_ahead(self, window: np.ndarray, probability: float, state: np.ndarray) -> None:
        """Take the result of ``window`` (scored in a batch): the next ``score`` call returns it."""
        self._advance(window, state)
        self._scored.append(probability)

    def _advance(self, window: np.ndarray, state: np.ndarray) -> None:
        self._state = state
        self._context = window[-_CONTEXT_SAMPLES:]
