"""Who holds the replica's ``max_sessions`` slots, and who gets the next one.

So that clients that send no audio cannot lock out clients that do:

- **No slot before the config.** A connection waiting for its config (at most ``config_timeout_s``) holds no
  slot; at most ``max_awaiting_config`` connections wait at once, and one more evicts the one that has waited
  longest (``limit_exceeded``, 1008), so sockets opened without a config cannot pile up either.
- **A silent session gives its slot up.** When every slot is held and a config arrives, a session that has
  sent no audio for ``slot_reclaim_after_s`` (however many keepalives it sent) is ended for the newcomer the
  way an idle one is (its finals, ``session_end``, close 1000); the longest silent goes first.
- **Newcomers wait briefly, in order.** A newcomer at a full replica waits for a slot at most ``slot_wait_s``:
  one that frees, or one of a session ended for it; then it gets 1013. A slot that frees goes to the first
  newcomer waiting, not to whoever connects next, so clients reconnecting in a loop (each of them made to
  wait too) cannot take it from one that waits. At most ``max_awaiting_config`` wait; one more gets 1013 at
  once.

So a newcomer at a replica whose sessions send no audio gets a slot at most ``slot_reclaim_after_s`` after
their last audio (their config, if they never sent any), plus the time the ended session takes to send its
last finals; waiting ``slot_wait_s`` and retrying once a second, as 1013 asks, it is first in line for every
slot that frees meanwhile. Sessions that stream audio are never ended for another.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Protocol

from whisper_stream import metrics
from whisper_stream.inference.engine import Engine
from whisper_stream.protocol.errors import ServerBusyError
from whisper_stream.server.limits import Limits
from whisper_stream.server.socket_events import Disconnected


class SlotHolder(Protocol):
    """A session holding a slot (``SessionRunner``)."""

    def silent_for_s(self, now_s: float) -> float:
        """Seconds since its last audio frame (since its config, if it sent none)."""
        ...

    def reclaim(self) -> None:
        """End gracefully, now: another client needs the slot."""
        ...


class Admission:
    """The slots of one replica (one event loop). Every method runs on that loop."""

    def __init__(self, engine: Engine, limits: Limits) -> None:
        self._engine = engine
        self._limits = limits
        self._awaiting: dict[object, Callable[[], None]] = {}  # in order of arrival
        self._holders: dict[SlotHolder, bool] = {}  # holder -> ended for another already
        self._waiters: list[asyncio.Event] = []  # newcomers, in order of arrival

    @property
    def awaiting_config(self) -> int:
        return len(self._awaiting)

    @property
    def waiting_for_slot(self) -> int:
        return len(self._waiters)

    @contextlib.contextmanager
    def config_wait(self, key: object, evict: Callable[[], None]) -> Iterator[None]:
        """A connection waits for its config; ``evict()`` ends that wait if too many newer ones arrive."""
        while len(self._awaiting) >= max(self._limits.max_awaiting_config, 1):
            oldest = next(iter(self._awaiting))
            self._awaiting.pop(oldest)()
            metrics.SESSIONS_TOTAL.labels(outcome="evicted").inc()
        self._awaiting[key] = evict
        try:
            yield
        finally:
            self._awaiting.pop(key, None)

    @contextlib.asynccontextmanager
    async def slot(self, holder: SlotHolder, *, left: asyncio.Event | None = None) -> AsyncIterator[None]:
        """Hold a slot for the ``with`` block, or raise ``ServerBusyError`` (at once, or after ``slot_wait_s``).

        ``left`` set while waiting (the client went away) ends the wait with ``Disconnected``.
        """
        loop = asyncio.get_running_loop()
        arrived_s = loop.time()
        await self._wait_for_slot(loop, left or asyncio.Event())
        metrics.SLOT_WAIT_SECONDS.observe(loop.time() - arrived_s)
        with self._engine.session_slot():  # counts it; cannot refuse: a slot was free, with no await since
            self._holders[holder] = False
            try:
                yield
            finally:
                del self._holders[holder]
                self._wake_waiters()

    async def _wait_for_slot(self, loop: asyncio.AbstractEventLoop, left: asyncio.Event) -> None:
        busy = ServerBusyError(
            f"server is at its limit of {self._engine.options.max_sessions} concurrent sessions; retry later"
        )
        if not self._waiters and self._free_slots() > 0:
            return
        if len(self._waiters) >= self._limits.max_awaiting_config:
            raise busy
        deadline_s = loop.time() + self._limits.slot_wait_s
        me = asyncio.Event()
        self._waiters.append(me)
        try:
            while True:
                now_s = loop.time()
                if left.is_set():  # gone while waiting: no slot, and no session ended for it
                    raise Disconnected("client disconnected while waiting for a slot")
                if self._waiters[0] is me and self._free_slots() > 0:
                    return
                if now_s >= deadline_s:
                    raise busy
                look_again_s = self._make_room(self._waiters.index(me) + 1, now_s)
                me.clear()  # woken when a slot frees, or when it goes
                await _first_of(me, left, timeout_s=min(look_again_s, deadline_s) - now_s)
        finally:
            self._waiters.remove(me)
            self._wake_waiters()

    def _make_room(self, needed: int, now_s: float) -> float:
        """End silent sessions until ``needed`` slots are free or freeing. When to look again: the time the
        next session will have been silent long enough, else ``inf`` (the waiter is woken as a slot frees)."""
        short = needed - self._free_slots() - sum(self._holders.values())
        candidates = sorted(
            (holder for holder, ended in self._holders.items() if not ended),
            key=lambda holder: -holder.silent_for_s(now_s),
        )
        for holder in candidates:
            if short <= 0:
                break
            if holder.silent_for_s(now_s) < self._limits.slot_reclaim_after_s:
                break
            self._holders[holder] = True
            holder.reclaim()
            metrics.SESSIONS_TOTAL.labels(outcome="reclaimed").inc()
            short -= 1
        still = [holder for holder in candidates if not self._holders[holder]]
        if short <= 0 or not still:
            return math.inf
        return now_s + self._limits.slot_reclaim_after_s - still[0].silent_for_s(now_s)

    def _free_slots(self) -> int:
        return self._engine.options.max_sessions - self._engine.open_sessions

    def _wake_waiters(self) -> None:
        for waiter in self._waiters:
            waiter.set()


async def _first_of(*events: asyncio.Event, timeout_s: float) -> None:
    """Until one of ``events`` is set, or ``timeout_s``."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


def admission_for(engine: Engine, limits: Limits) -> Admission:
    """The admission of ``engine``'s replica, made at its first session (the first ``limits`` given are kept)."""
    admission = _by_engine.get(engine)
    if admission is None:
        admission = _by_engine[engine] = Admission(engine, limits)
    return admission


_by_engine: weakref.WeakKeyDictionary[Engine, Admission] = weakref.WeakKeyDictionary()
