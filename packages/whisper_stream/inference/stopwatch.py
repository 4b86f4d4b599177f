"""The time between two looks at a clock: what the engine's time-based meter (``PartialBudget``) advances by
each time it is read or charged."""

from __future__ import annotations

import time
from collections.abc import Callable


class Stopwatch:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = clock()

    def lap_s(self) -> float:
        """Seconds since the previous lap (or since the start); never negative, even if the clock steps back."""
        now = self._clock()
        elapsed_s = max(now - self._last, 0.0)
        self._last = now
        return elapsed_s
