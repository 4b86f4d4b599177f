"""When a session may ask for its next partial.

A partial re-decodes the whole utterance so far, so partials are paced: at most
one every ``partial_transcript_interval_s``, and, when decodes come back slowly,
no more often than keeps the decoder busy with this session's partials half of
the time (the gap grows to twice the last round trip).
"""

from __future__ import annotations

PARTIAL_DUTY_CYCLE = 0.5


class PartialPacer:
    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last_request_s = float("-inf")
        self._round_trip_s = 0.0

    @property
    def gap_s(self) -> float:
        """Time between partial requests: the configured interval, longer when decodes are slow."""
        return max(self.interval_s, self._round_trip_s / PARTIAL_DUTY_CYCLE)

    def due(self, now_s: float) -> bool:
        return now_s - self._last_request_s >= self.gap_s

    def requested(self, now_s: float) -> None:
        self._last_request_s = now_s

    def answered(self, now_s: float) -> None:
        self._round_trip_s = max(now_s - self._last_request_s, 0.0)
