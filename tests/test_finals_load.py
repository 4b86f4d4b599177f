from __future__ import annotations

import pytest

from tests.fakes import ManualClock
from whisper_stream.inference.finals_load import FinalsLoad


def test_the_share_follows_the_busy_fraction_of_finals_and_decays_when_they_stop() -> None:
    clock = ManualClock()
    load = FinalsLoad(window_s=10.0, clock=clock)
    for _ in range(60):  # half of every second in a final's decode
        clock.now_s += 1.0
        load.spent(0.5)
    assert load.share == pytest.approx(0.5, abs=0.05)
    clock.now_s += 30.0  # three windows of silence
    assert load.share < 0.03


def test_the_share_is_of_all_workers() -> None:
    one, two = ManualClock(), ManualClock()
    loads = FinalsLoad(workers=1, clock=one), FinalsLoad(workers=2, clock=two)
    for load in loads:
        load.spent(4.0)
    assert loads[1].share == pytest.approx(loads[0].share / 2)


def test_a_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window_s"):
        FinalsLoad(window_s=0.0)
