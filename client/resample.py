"""Streaming mono resampling: soxr when it is installed, linear interpolation otherwise."""

from __future__ import annotations

import numpy as np

try:
    import soxr
except ImportError:  # the client runs without it, at lower quality
    soxr = None


class Resampler:
    """Feeds float32 chunks of ``in_rate`` audio, returns chunks at ``out_rate``."""

    def __init__(self, in_rate: int, out_rate: int, *, use_soxr: bool = True) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._soxr = None
        if in_rate != out_rate and use_soxr and soxr is not None:
            self._soxr = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32")
        self._step = in_rate / out_rate
        self._tail = np.zeros(0, dtype=np.float32)
        self._pos = 0.0  # next output position, in input samples from the start of _tail

    def process(self, chunk: np.ndarray, *, last: bool = False) -> np.ndarray:
        chunk = np.asarray(chunk, dtype=np.float32)
        if self.in_rate == self.out_rate:
            return chunk
        if self._soxr is not None:
            return self._soxr.resample_chunk(chunk, last=last)
        return self._linear(chunk)

    def _linear(self, chunk: np.ndarray) -> np.ndarray:
        buf = np.concatenate([self._tail, chunk])
        last_index = len(buf) - 1
        if last_index < self._pos:
            self._tail = buf
            return np.zeros(0, dtype=np.float32)
        count = int((last_index - self._pos) // self._step) + 1
        positions = self._pos + np.arange(count) * self._step
        out = np.interp(positions, np.arange(len(buf)), buf).astype(np.float32)
        self._pos += count * self._step - last_index
        self._tail = buf[-1:]
        return out
