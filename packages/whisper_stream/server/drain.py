"""Graceful shutdown: finish every open session before the server stops.

On SIGTERM (a rolling deploy, a scale-down) uvicorn would close every WebSocket
at once with 1012, and the utterance each client was in the middle of would
never be transcribed. ``Drain`` keeps the open sessions of a replica; on a
drain, each one finalises what it has (its finals, then ``session_end``) and
closes 1012 so the client reconnects, and new sessions are refused with 1012.
``install_signal_handlers`` runs a drain, bounded by ``timeout_s``, before the
server's own handler: truss runs uvicorn with a 3600 s graceful-shutdown timeout
(``TIMEOUT_GRACEFUL_SHUTDOWN`` in truss's ``truss_server.py``), so what bounds a
drain is the platform's grace period between SIGTERM and SIGKILL (Kubernetes'
default is 30 s). The default drain timeout leaves room inside that.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_DRAIN_TIMEOUT_S = 20.0


class Drain:
    """The open sessions of one replica (one event loop), and whether the replica is draining."""

    def __init__(self) -> None:
        self.draining = False
        self._sessions: dict[object, Callable[[], None]] = {}
        self._all_closed = asyncio.Event()
        self._all_closed.set()

    def register(self, key: object, begin_drain: Callable[[], None]) -> None:
        """A session opened; ``begin_drain`` asks it to finish (called on the event loop)."""
        self._sessions[key] = begin_drain
        self._all_closed.clear()
        if self.draining:
            begin_drain()

    def unregister(self, key: object) -> None:
        self._sessions.pop(key, None)
        if not self._sessions:
            self._all_closed.set()

    @property
    def open_sessions(self) -> int:
        return len(self._sessions)

    async def drain(self, timeout_s: float) -> bool:
        """Ask every session to finish and wait for them; True if all closed within ``timeout_s``."""
        self.draining = True
        logger.info("draining %d open session(s), for at most %g s", len(self._sessions), timeout_s)
        for begin_drain in list(self._sessions.values()):
            begin_drain()
        try:
            await asyncio.wait_for(self._all_closed.wait(), timeout_s)
        except TimeoutError:
            logger.warning("%d session(s) still open after the %g s drain timeout", len(self._sessions), timeout_s)
            return False
        logger.info("all sessions finished")
        return True


_installed: set[int] = set()
_tasks: set[asyncio.Task[None]] = set()


def install_signal_handlers(drain: Drain, *, timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S) -> bool:
    """Drain before the handler already installed (uvicorn's) sees SIGTERM or SIGINT. Once per process.

    Must run on the event loop, in the main thread (where uvicorn runs its loop); returns False elsewhere.
    A second signal during the drain goes straight to the previous handler.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        if sig in _installed:
            continue
        previous = signal.getsignal(sig)
        signal.signal(sig, _handler(drain, loop, previous, timeout_s))
        _installed.add(sig)
    return True


def _handler(
    drain: Drain, loop: asyncio.AbstractEventLoop, previous: Any, timeout_s: float
) -> Callable[[int, FrameType | None], None]:
    def pass_on(sig: int, frame: FrameType | None) -> None:
        if callable(previous):
            previous(sig, frame)
        elif previous == signal.SIG_DFL:
            signal.default_int_handler(sig, frame) if sig == signal.SIGINT else _default(sig)

    def handle(sig: int, frame: FrameType | None) -> None:
        if drain.draining:
            pass_on(sig, frame)
            return

        async def drain_then_pass_on() -> None:
            await drain.drain(timeout_s)
            pass_on(sig, None)

        logger.info("received %s: finishing open sessions before shutting down", signal.Signals(sig).name)
        drain.draining = True

        def start() -> None:
            task = loop.create_task(drain_then_pass_on())
            _tasks.add(task)
            task.add_done_callback(_tasks.discard)

        loop.call_soon_threadsafe(start)

    return handle


def _default(sig: int) -> None:
    signal.signal(sig, signal.SIG_DFL)
    signal.raise_signal(sig)
