"""The replica-wide partial budget: partials take only a share of the decoder time finals leave idle."""

from __future__ import annotations

import pytest

from tests.fakes import ManualClock
from whisper_stream.inference.partial_budget import PartialBudget


def simulate(finals_busy: float, *, share: float = 0.5, partial_s: float = 0.1, seconds: float = 600.0) -> float:
    """One worker; finals keep it busy ``finals_busy`` of the time; partials are asked for whenever it is idle.

    Returns the fraction of time spent on partials.
    """
    clock = ManualClock()
    budget = PartialBudget(share=share, clock=clock)
    partial_time_s, step_s = 0.0, 0.05
    final_every_s, final_s = 1.0, finals_busy * 1.0
    next_final_s = 0.0
    while clock.now_s < seconds:
        if finals_busy > 0 and clock.now_s >= next_final_s:  # a final's decode
            clock.now_s += final_s
            budget.spent(final=True, seconds=final_s)
            next_final_s += final_every_s
        elif budget.allows_partial():
            clock.now_s += partial_s
            budget.spent(final=False, seconds=partial_s)
            partial_time_s += partial_s
        else:
            clock.now_s += step_s  # idle
    return partial_time_s / clock.now_s


@pytest.mark.parametrize("finals_busy", [0.0, 0.2, 0.5, 0.8])
def test_partials_take_at_most_their_share_of_the_idle_time(finals_busy: float) -> None:
    taken = simulate(finals_busy)
    assert taken <= 0.5 * (1 - finals_busy) + 0.01
    assert taken >= 0.5 * (1 - finals_busy) - 0.05  # and they do get it


def test_partial_rate_falls_smoothly_and_reaches_zero_when_finals_fill_the_decoder() -> None:
    rates = [simulate(busy) for busy in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert rates == sorted(rates, reverse=True)
    steps = [a - b for a, b in zip(rates, rates[1:], strict=False)]
    assert max(steps) < 0.2  # no cliff: each quarter of load costs at most ~a quarter of the partials
    assert rates[-1] == pytest.approx(0.0, abs=0.01)


def test_a_quiet_spell_banks_at_most_the_burst() -> None:
    clock = ManualClock()
    budget = PartialBudget(share=0.5, burst_s=1.0, clock=clock)
    clock.now_s = 3600.0
    assert budget.credit_s == pytest.approx(1.0)
    budget.spent(final=False, seconds=1.5)
    assert not budget.allows_partial()
    clock.now_s += 1.0  # refills at share per second: back to zero, still no credit
    assert not budget.allows_partial()
    clock.now_s += 0.1
    assert budget.allows_partial()


def test_share_is_validated() -> None:
    with pytest.raises(ValueError, match="share"):
        PartialBudget(share=1.5)


def test_a_spell_of_slow_finals_leaves_a_debt_of_at_most_one_burst() -> None:
    clock = ManualClock()
    budget = PartialBudget(share=0.5, workers=1, burst_s=1.0, clock=clock)
    budget.spent(final=True, seconds=30.0)  # one very slow final: 15 s of partials' time, were it all owed
    assert budget.credit_s == -1.0
    clock.now_s += 1.9
    assert not budget.allows_partial()
    clock.now_s += 0.2  # burst_s / share = 2 s later
    assert budget.allows_partial()
