from __future__ import annotations

import asyncio
import time

from tests.fresh_metrics import FreshMetrics
from whisper_stream.server import loop_lag


def test_a_blocked_loop_shows_in_the_lag_histogram_and_one_monitor_runs_per_loop(fresh_metrics: FreshMetrics) -> None:
    async def run() -> None:
        loop_lag.ensure_monitor()
        loop_lag.ensure_monitor()  # a second session on the same loop: still one monitor
        monitors = [t for t in asyncio.all_tasks() if t.get_name() == "event-loop-lag"]
        assert len(monitors) == 1
        await asyncio.sleep(loop_lag.INTERVAL_S / 2)
        time.sleep(0.3)  # CPU-bound work on the loop
        await asyncio.sleep(loop_lag.INTERVAL_S * 2)

    asyncio.run(run())
    lags = fresh_metrics.buckets("whisper_stream_event_loop_lag_seconds")
    assert lags[float("inf")] - lags[0.2] >= 1  # the monitor woke > 200 ms late once (it slept 50 ms, blocked 300)
