"""How much decoder time partials may take: one budget for the whole replica, not per session.

Partials are a courtesy; finals are the product. Partials may use only decoder
time that finals leave idle, and only ``share`` of it, so a final that arrives
finds the decoder busy with a partial at most that often, whatever the number
of sessions. The budget is a bucket of decoder seconds: it fills at ``share``
seconds per second per worker; each final's decode drains ``share`` times its
duration (that time was never idle); each partial's decode drains its own
duration. A partial is admitted while the bucket holds credit. The bucket
holds at most ``burst_s``, so a quiet spell does not bank a flood of partials,
and owes at most ``burst_s``, so a spell of slow finals (a loaded machine, one
long decode) does not stop partials for long after it ends: the debt it can
leave is repaid within ``burst_s / (share * workers)`` seconds.

Over a stretch where finals keep the decoder busy a fraction ``f`` of the time,
partials get at most ``share * (1 - f)`` of it: their rate falls smoothly as
load grows and reaches zero when finals alone fill the decoder.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from whisper_stream.inference.stopwatch import Stopwatch


class PartialBudget:
    """Not thread-safe: the engine calls it under its lock."""

    def __init__(
        self,
        *,
        share: float = 0.5,
        workers: int = 1,
        burst_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share must be within [0, 1], got {share}")
        self.share = share
        self.workers = workers
        self.burst_s = burst_s
        self._stopwatch = Stopwatch(clock)
        self._credit_s = burst_s

    @property
    def credit_s(self) -> float:
        self._refill()
        return self._credit_s

    def allows_partial(self) -> bool:
        return self.credit_s > 0.0

    def spent(self, *, final: bool, seconds: float) -> None:
        """A decode of ``seconds`` finished (a final's, or a partial's)."""
        self._refill()
        self._credit_s = max(self._credit_s - (self.share * seconds if final else seconds), -self.burst_s)

    def _refill(self) -> None:
        self._credit_s = min(self._credit_s + self.share * self.workers * self._stopwatch.lap_s(), self.burst_s)
