from __future__ import annotations

import asyncio
import time

from whisper_stream import metrics
from whisper_stream.server import loop_lag


def lag_counts() -> dict[float, float]:
    samples = metrics.LOOP_LAG_SECONDS.collect()[0].samples
    return {float(s.labels["le"]): s.value for s in samples if s.name.endswith("_bucket")}


def test_a_blocked_loop_shows_in_the_lag_histogram_and_one_monitor_runs_per_loop() -> None:
    before = lag_counts()

    async def run() -> None:
        loop_lag.ensure_monitor()
        loop_lag.ensure_monitor()  # a second session on the same loop: still one monitor
        monitors = [t for t in asyncio.all_tasks() if t.get_name() == "event-loop-lag"]
        assert len(monitors) == 1
        await asyncio.sleep(loop_lag.INTERVAL_S / 2)
        time.sleep(0.3)  # CPU-bound work on the loop
        await asyncio.sleep(loop_lag.INTERVAL_S * 2)

    asyncio.run(run())
    after = lag_counts()
    late = after[float("inf")] - after[0.2] - (before.get(float("inf"), 0) - before.get(0.2, 0))
    assert late >= 1  # the monitor woke > 200 ms late once
