from __future__ import annotations

from tests.fakes import ManualClock
from whisper_stream.inference.stopwatch import Stopwatch


def test_each_lap_is_the_time_since_the_previous_one() -> None:
    clock = ManualClock()
    stopwatch = Stopwatch(clock)
    clock.now_s += 1.5
    assert stopwatch.lap_s() == 1.5
    clock.now_s += 0.25
    assert stopwatch.lap_s() == 0.25
    assert stopwatch.lap_s() == 0.0


def test_a_clock_that_steps_back_gives_no_negative_lap() -> None:
    clock = ManualClock()
    stopwatch = Stopwatch(clock)
    clock.now_s += -2.0
    assert stopwatch.lap_s() == 0.0
    clock.now_s += 1.0
    assert stopwatch.lap_s() == 1.0
