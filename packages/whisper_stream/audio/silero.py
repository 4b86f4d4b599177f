"""The silero VAD network: one ONNX session shared by every stream, at 16 kHz or at 8 kHz.

``SileroVadModel`` is one onnxruntime session for the whole replica
(onnxruntime sessions are safe to run from several threads). Silero runs at
16 kHz (512-sample windows) and at 8 kHz (256-sample windows) with the same
weights; ``SileroRate`` is the network at one of them. A stream's rate is chosen
from the sample rate its client declared (``scoring_rate_hz``): narrowband audio
(a phone line's 8 kHz) is scored at 8 kHz. At 16 kHz such audio has nothing above
4 kHz, and silero, trained on wideband speech at that rate, scores it lower and
choppier: on speech through a phone channel (``bench/telephony.py``) it cut
utterances apart more often than on the same speech wideband; at 8 kHz it cuts
them as it does wideband.

The recurrent state and the context before each window live in each stream's
``SileroScorer``, which implements ``vad.SpeechScorer``: it takes the session's
512-sample 16 kHz frames either way, so the gate's positions stay 16 kHz sample
indexes. The network takes a batch (windows of many streams at one rate, their
states side by side): ``vad_batch`` scores the frames of every stream with new
audio in one call per rate and leaves the probabilities in each stream's scorer,
which hands them out in order when the session asks.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np
import onnxruntime

from whisper_stream.audio.package_files import package_file
from whisper_stream.audio.vad import FRAME_SAMPLES
from whisper_stream.samples import SAMPLE_RATE_HZ

NARROWBAND_RATE_HZ = 8_000
"""Silero's other rate, and the highest declared input rate scored at it."""
SILERO_RATES_HZ = (NARROWBAND_RATE_HZ, SAMPLE_RATE_HZ)
_CONTEXT_SAMPLES_16K = 64  # silero's context before each window: 64 samples at 16 kHz, 32 at 8 kHz


def silero_weights_path() -> Path:
    """The ONNX weights shipped in the silero-vad package (found without importing torch)."""
    missing = RuntimeError(
        "the silero-vad package is not installed: pip install --no-deps -r requirements-nodeps.txt "
        "(only its ONNX weights are used; its torch dependency is not needed)"
    )
    return package_file("silero_vad", "data/silero_vad.onnx", missing)


def scoring_rate_hz(input_rate_hz: int) -> int:
    """The rate silero scores a stream declared at ``input_rate_hz``: 8 kHz for narrowband input, else 16 kHz.

    Only input at 8 kHz or below: its 16 kHz samples (``decoding``'s resampler) hold nothing above 4 kHz,
    so taking every other one is an exact 8 kHz signal. Between 8 and 16 kHz the audio would need a
    low-pass first, and has the band above 4 kHz that silero's 16 kHz mode is trained on.
    """
    return NARROWBAND_RATE_HZ if input_rate_hz <= NARROWBAND_RATE_HZ else SAMPLE_RATE_HZ


class SileroRate:
    """The shared network at one rate (``SILERO_RATES_HZ``)."""

    def __init__(self, session: onnxruntime.InferenceSession, rate_hz: int) -> None:
        if rate_hz not in SILERO_RATES_HZ:
            raise ValueError(f"silero VAD runs at {SILERO_RATES_HZ} Hz, not {rate_hz}")
        self._session = session
        self.rate_hz = rate_hz
        self._sr = np.array(rate_hz, dtype=np.int64)

    def run(self, window: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
        probability, new_state = self._session.run(
            None, {"input": window[np.newaxis, :], "state": state, "sr": self._sr}
        )
        return float(probability[0, 0]), new_state

    def run_batch(self, windows: np.ndarray, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Windows ``(batch, 576)`` (``(batch, 288)`` at 8 kHz), states ``(2, batch, 128)`` in; probabilities
        ``(batch,)`` and states out."""
        probabilities, new_states = self._session.run(None, {"input": windows, "state": states, "sr": self._sr})
        return probabilities[:, 0], new_states


class SileroVadModel:
    """The shared silero network, at both its rates."""

    def __init__(self, weights_path: Path | None = None) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            str(weights_path or silero_weights_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._rates = {rate_hz: SileroRate(session, rate_hz) for rate_hz in SILERO_RATES_HZ}

    def at_rate(self, rate_hz: int) -> SileroRate:
        try:
            return self._rates[rate_hz]
        except KeyError:
            raise ValueError(f"silero VAD runs at {SILERO_RATES_HZ} Hz, not {rate_hz}") from None

    def new_scorer(self, input_rate_hz: int = SAMPLE_RATE_HZ) -> SileroScorer:
        """A scorer for one stream whose client declared ``input_rate_hz`` (see ``scoring_rate_hz``)."""
        return SileroScorer(self._rates[scoring_rate_hz(input_rate_hz)])


class SileroScorer:
    """Per-stream silero state: the recurrent state and the previous window's tail.

    Takes 512-sample frames at 16 kHz; at 8 kHz it scores every other sample of each (256 samples).
    Frames can be scored ahead, batched with other streams (``frames_ahead``,
    then ``window``/``advance`` per frame, by ``vad_batch``): ``score`` then
    returns those probabilities, in order, for the same frames.
    """

    def __init__(self, model: SileroRate) -> None:
        self.model = model
        self._step = SAMPLE_RATE_HZ // model.rate_hz  # 16 kHz samples per sample scored
        context_samples = _CONTEXT_SAMPLES_16K // self._step
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(context_samples, dtype=np.float32)
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
        """The network's input for ``frame``: the context, then the frame at the model's rate."""
        return np.concatenate([self._context, frame[:: self._step].astype(np.float32, copy=False)])

    @property
    def state(self) -> np.ndarray:
        return self._state

    def scored_ahead(self, window: np.ndarray, probability: float, state: np.ndarray) -> None:
        """Take the result of ``window`` (scored in a batch): the next ``score`` call returns it."""
        self._advance(window, state)
        self._scored.append(probability)

    def _advance(self, window: np.ndarray, state: np.ndarray) -> None:
        self._state = state
        self._context = window[-self._context.size :]
