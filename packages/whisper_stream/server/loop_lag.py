"""Event-loop lag: how late the server's event loop wakes a task that asked to sleep a little.

One monitor task per event loop (started by the first session on it) sleeps
``interval_s`` again and again and records how much later than asked it woke,
in the ``whisper_stream_event_loop_lag_seconds`` histogram of ``/metrics``. A
loop that is busy (CPU-bound work on it, or too little CPU for the process)
shows here before it shows in latencies.
"""

from __future__ import annotations

import asyncio
import weakref

from whisper_stream import metrics

INTERVAL_S = 0.05

_monitors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = weakref.WeakKeyDictionary()


def ensure_monitor() -> None:
    """Start the running loop's monitor, once per loop (it ends with the loop)."""
    loop = asyncio.get_running_loop()
    task = _monitors.get(loop)
    if task is None or task.done():
        _monitors[loop] = loop.create_task(_monitor(loop), name="event-loop-lag")


async def _monitor(loop: asyncio.AbstractEventLoop) -> None:
    while True:
        asked = loop.time() + INTERVAL_S
        await asyncio.sleep(INTERVAL_S)
        metrics.LOOP_LAG_SECONDS.observe(max(loop.time() - asked, 0.0))
