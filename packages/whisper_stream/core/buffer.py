"""A growable float32 sample buffer addressed by absolute sample index.

Appending is amortised O(frame) (capacity doubles), trimming drops the head
without copying until the head is more than half the storage; so a 30-second
utterance arriving in 32 ms frames is not re-copied on every frame.
"""

from __future__ import annotations

import numpy as np

from whisper_stream.samples import SAMPLE_RATE_HZ


class SampleBuffer:
    def __init__(self, initial_capacity: int = SAMPLE_RATE_HZ) -> None:
        self._data = np.zeros(initial_capacity, dtype=np.float32)
        self._head = 0  # index in _data of sample `start`
        self._size = 0
        self.start = 0  # absolute index of the first sample held

    @property
    def end(self) -> int:
        """Absolute index one past the last sample held."""
        return self.start + self._size

    def __len__(self) -> int:
        return self._size

    def append(self, samples: np.ndarray) -> None:
        needed = self._head + self._size + samples.size
        if needed > self._data.size:
            if self._size + samples.size <= self._data.size // 2:
                self._compact()
            else:
                grown = np.zeros(max(self._data.size * 2, self._size + samples.size), dtype=np.float32)
                grown[: self._size] = self._data[self._head : self._head + self._size]
                self._data, self._head = grown, 0
        tail = self._head + self._size
        self._data[tail : tail + samples.size] = samples
        self._size += samples.size

    def view(self, start: int, end: int) -> np.ndarray:
        """Samples ``[start, end)`` (absolute indexes) without copying; valid until the next append."""
        if start < self.start or end > self.end or start > end:
            raise IndexError(f"[{start}, {end}) is outside the buffer [{self.start}, {self.end})")
        offset = self._head + start - self.start
        return self._data[offset : offset + end - start]

    def copy(self, start: int, end: int) -> np.ndarray:
        return self.view(start, end).copy()

    def zero_padded(self, start: int, length: int) -> np.ndarray:
        """A copy of ``length`` samples from ``start``, zeros past the end of what the buffer holds."""
        out = np.zeros(length, dtype=np.float32)
        held = self.view(start, min(start + length, self.end))
        out[: held.size] = held
        return out

    def drop_before(self, position: int) -> None:
        """Forget every sample before absolute index ``position``."""
        drop = min(max(position - self.start, 0), self._size)
        self._head += drop
        self._size -= drop
        self.start += drop

    def _compact(self) -> None:
        self._data[: self._size] = self._data[self._head : self._head + self._size]
        self._head = 0
