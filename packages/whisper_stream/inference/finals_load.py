"""How busy finals keep the decoder: the share of decoder time they took lately.

Finals in context cost more than finals alone (their forced prefix, see
``context``); past a load, that extra time turns into queueing for every final.
The engine decodes finals alone while finals have taken at least
``EngineOptions.context_max_load`` of the decoder lately. The share decays
exponentially with ``window_s``, so it follows load within seconds and a burst
of finals does not shed context for long.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from whisper_stream.inference.stopwatch import Stopwatch


class FinalsLoad:
    """Not thread-safe: the engine calls it under its lock."""

    def __init__(self, *, workers: int = 1, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self.workers = workers
        self.window_s = window_s
        self._stopwatch = Stopwatch(clock)
        self._busy_s = 0.0
        """Decoder seconds of finals, each weighted by exp(-age / window_s)."""

    def spent(self, seconds: float) -> None:
        """A final's decode of ``seconds`` finished."""
        self._decay()
        self._busy_s += seconds

    @property
    def share(self) -> float:
        """The decayed decoder seconds of finals over the decayed seconds of all workers (0 to ~1)."""
        self._decay()
        return self._busy_s / (self.window_s * self.workers)

    def _decay(self) -> None:
        self._busy_s *= math.exp(-self._stopwatch.lap_s() / self.window_s)
