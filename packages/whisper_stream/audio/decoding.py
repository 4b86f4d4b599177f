"""Audio frames in the declared encoding and rate → float32 mono samples at 16 kHz.

Frames may have any length: a trailing partial sample is carried into the next
frame, never lost. Resampling is streaming (soxr keeps its filter state between
frames), so splitting a stream differently gives the same samples.
"""

from __future__ import annotations

import numpy as np
import soxr

from whisper_stream.protocol.config import ENCODINGS, MAX_SAMPLE_RATE_HZ, MIN_SAMPLE_RATE_HZ
from whisper_stream.protocol.errors import InvalidDataError, UnsupportedAudioError
from whisper_stream.samples import SAMPLE_RATE_HZ

BYTES_PER_SAMPLE = {"pcm_s16le": 2, "pcm_f32le": 4, "pcm_mulaw": 1, "pcm_alaw": 1}


def _mulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    samples = np.where(codes & 0x80, -magnitude, magnitude)
    return (samples / 32768.0).astype(np.float32)


def _alaw_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    samples = np.where(codes & 0x80, magnitude, -magnitude)
    return (samples / 32768.0).astype(np.float32)


MULAW_TABLE = _mulaw_table()
ALAW_TABLE = _alaw_table()


def decode_samples(data: bytes, encoding: str) -> np.ndarray:
    """Whole samples of ``data`` as float32 in [-1, 1]; ``len(data)`` must be a multiple of the width."""
    if encoding == "pcm_s16le":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    if encoding == "pcm_f32le":
        samples = np.frombuffer(data, dtype="<f4").astype(np.float32)
        if not np.isfinite(samples).all():
            raise InvalidDataError("pcm_f32le audio contains NaN or infinite samples")
        return np.clip(samples, -1.0, 1.0)
    if encoding == "pcm_mulaw":
        return MULAW_TABLE[np.frombuffer(data, dtype=np.uint8)]
    if encoding == "pcm_alaw":
        return ALAW_TABLE[np.frombuffer(data, dtype=np.uint8)]
    raise UnsupportedAudioError(f"unsupported encoding {encoding!r}")


class AudioDecoder:
    """Stateful decoder for one stream: bytes in, 16 kHz float32 samples out."""

    def __init__(self, encoding: str, sample_rate_hz: int) -> None:
        if encoding not in ENCODINGS:
            raise UnsupportedAudioError(f"unsupported encoding {encoding!r} (supported: {', '.join(ENCODINGS)})")
        if not MIN_SAMPLE_RATE_HZ <= sample_rate_hz <= MAX_SAMPLE_RATE_HZ:
            raise UnsupportedAudioError(
                f"unsupported sample rate {sample_rate_hz} Hz (supported: {MIN_SAMPLE_RATE_HZ}-{MAX_SAMPLE_RATE_HZ})"
            )
        self.encoding = encoding
        self.sample_rate_hz = sample_rate_hz
        self._width = BYTES_PER_SAMPLE[encoding]
        self._carry = b""
        self._input_samples = 0
        self._resampler = (
            None
            if sample_rate_hz == SAMPLE_RATE_HZ
            else soxr.ResampleStream(sample_rate_hz, SAMPLE_RATE_HZ, 1, dtype="float32", quality="HQ")
        )

    @property
    def input_duration_s(self) -> float:
        """Seconds of audio received so far, at the declared rate."""
        return self._input_samples / self.sample_rate_hz

    @property
    def pending_bytes(self) -> int:
        return len(self._carry)

    def decode(self, frame: bytes) -> np.ndarray:
        data = self._carry + frame if self._carry else frame
        usable = len(data) - len(data) % self._width
        self._carry = bytes(data[usable:])
        samples = decode_samples(bytes(data[:usable]), self.encoding)
        self._input_samples += samples.size
        return self._resample(samples, last=False)

    def flush(self) -> np.ndarray:
        """The samples still inside the resampler; call once at end of stream.

        A trailing partial sample (fewer bytes than one sample) cannot be decoded;
        it is reported by ``pending_bytes`` and dropped here.
        """
        self._carry = b""
        return self._resample(np.zeros(0, dtype=np.float32), last=True)

    def _resample(self, samples: np.ndarray, *, last: bool) -> np.ndarray:
        if self._resampler is None:
            return samples
        return self._resampler.resample_chunk(samples, last=last)
