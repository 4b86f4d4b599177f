"""When a session must end whatever its client does: its timers, sans I/O (times in, the next deadline out).

While it streams, a session ends at the first of:

- ``DURATION``: ``max_session_duration_s`` of wall-clock time since its config (an error, 1008);
- ``IDLE``: no message at all for ``idle_timeout_s``, or for ``no_audio_timeout_s`` when nothing came after
  the config (graceful, 1000);
- ``NO_AUDIO``: no audio for ``keepalive_only_timeout_s``, however many keepalives and control messages came
  (graceful, 1000): keepalives hold a paused session open, not a slot for ever.

After the end of the stream only ``FINISH`` is left: the last finals within ``finish_timeout_s`` (else 1013).
The runner asks ``next_deadline`` after every event and acts on whichever is due; ``DURATION`` and ``FINISH``
do not depend on the client, so they are due even while its messages keep coming.
"""

from __future__ import annotations

import enum

from whisper_stream.server.limits import Limits


class Deadline(enum.Enum):
    DURATION = "duration"
    IDLE = "idle"
    NO_AUDIO = "no_audio"
    FINISH = "finish"

    @property
    def regardless_of_input(self) -> bool:
        """Due even while client messages wait to be handled (the others are about the client's silence)."""
        return self in (Deadline.DURATION, Deadline.FINISH)


class SessionTimers:
    """The clock readings a session's deadlines follow; every time is the caller's (the event loop's)."""

    def __init__(self, limits: Limits, started_s: float) -> None:
        self._limits = limits
        self.started_s = started_s
        self.last_message_s = started_s
        self.last_audio_s = started_s
        """The last audio frame's arrival, or the config's: how long the session has been silent."""
        self.client_active = False  # any message after the config
        self.finish_by_s: float | None = None

    def message(self, arrived_s: float, *, audio: bool) -> None:
        """A client message (audio, control or keepalive) arrived at ``arrived_s``."""
        self.last_message_s = max(self.last_message_s, arrived_s)
        self.client_active = True
        if audio:
            self.last_audio_s = max(self.last_audio_s, arrived_s)

    def finishing(self, now_s: float) -> None:
        """The stream ended: only the finish deadline is left."""
        if self.finish_by_s is None:
            self.finish_by_s = now_s + self._limits.finish_timeout_s

    def silent_for_s(self, now_s: float) -> float:
        return now_s - self.last_audio_s

    def next_deadline(self) -> tuple[float, Deadline]:
        if self.finish_by_s is not None:
            return self.finish_by_s, Deadline.FINISH
        idle_s = self._limits.idle_timeout_s
        if not self.client_active:
            idle_s = min(idle_s, self._limits.no_audio_timeout_s)
        return min(
            (self.started_s + self._limits.max_session_duration_s, Deadline.DURATION),
            (self.last_message_s + idle_s, Deadline.IDLE),
            (self.last_audio_s + self._limits.keepalive_only_timeout_s, Deadline.NO_AUDIO),
            key=lambda pair: pair[0],
        )

    def due(self, now_s: float, *, input_waiting: bool) -> Deadline | None:
        """The deadline due at ``now_s``; with client input waiting, only one that does not depend on it."""
        at_s, deadline = self.next_deadline()
        if now_s < at_s:
            return None
        if input_waiting and not deadline.regardless_of_input:
            at_s, deadline = self._hard_deadline()
            return deadline if now_s >= at_s else None
        return deadline

    def _hard_deadline(self) -> tuple[float, Deadline]:
        if self.finish_by_s is not None:
            return self.finish_by_s, Deadline.FINISH
        return self.started_s + self._limits.max_session_duration_s, Deadline.DURATION
