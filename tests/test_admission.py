"""Tests for whisper_stream.server.admission: who gets a slot, and when, with scripted slot holders.

Each scenario runs on an event loop whose clock moves only by what the loop waits for (looptime): the
times asserted are exact, whatever the machine's load.

The end-to-end versions (real sockets, a newcomer among idle, keepalive-only and config-less sockets) are in
tests/test_slot_policy.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import looptime
import pytest

from tests.fakes import EnergyScorer
from tests.harness import FakeTranscriber
from whisper_stream.inference.engine import Engine, EngineOptions
from whisper_stream.protocol.errors import ServerBusyError
from whisper_stream.server.admission import Admission
from whisper_stream.server.limits import Limits

LIMITS = Limits(slot_reclaim_after_s=1.0, slot_wait_s=0.5, max_awaiting_config=3)


class Holder:
    """A session holding a slot: silent since ``silent_since_s`` (loop time); ends ``end_after_s`` after a reclaim."""

    def __init__(self, silent_since_s: float, end_after_s: float = 0.02) -> None:
        self.silent_since_s = silent_since_s
        self.end_after_s = end_after_s
        self.reclaimed = asyncio.Event()
        self.release = asyncio.Event()

    def silent_for_s(self, now_s: float) -> float:
        return now_s - self.silent_since_s

    def reclaim(self) -> None:
        self.reclaimed.set()
        asyncio.get_running_loop().call_later(self.end_after_s, self.release.set)


async def _hold(admission: Admission, holder: Holder) -> None:
    async with admission.slot(holder):
        await holder.release.wait()


def _run(scenario: Callable[[Admission, asyncio.AbstractEventLoop], Awaitable[Any]], max_sessions: int = 2) -> Any:
    engine = Engine(FakeTranscriber(), EnergyScorer, EngineOptions(max_sessions=max_sessions))

    async def main() -> Any:
        return await scenario(Admission(engine, LIMITS), asyncio.get_running_loop())

    with asyncio.Runner(loop_factory=looptime.new_event_loop) as runner:  # loop time advances only by waits
        result = runner.run(main())
    assert engine.open_sessions == 0
    return result


async def _fill(admission: Admission, holders: list[Holder]) -> list[asyncio.Task[None]]:
    tasks = [asyncio.create_task(_hold(admission, holder)) for holder in holders]
    await asyncio.sleep(0.01)
    return tasks


async def _newcomer(admission: Admission, loop: asyncio.AbstractEventLoop) -> tuple[str, float]:
    """Take a slot and give it back at once: ("admitted" or "refused", seconds it took)."""
    started = loop.time()
    try:
        async with admission.slot(Holder(loop.time())):
            return "admitted", loop.time() - started
    except ServerBusyError:
        return "refused", loop.time() - started


def test_a_free_slot_is_taken_at_once() -> None:
    async def scenario(admission: Admission, loop: asyncio.AbstractEventLoop) -> tuple[str, float]:
        return await _newcomer(admission, loop)

    outcome, waited_s = _run(scenario)
    assert outcome == "admitted" and waited_s == 0


def test_a_replica_full_of_streaming_sessions_refuses_after_slot_wait_s() -> None:
    """Sessions that send audio are never ended for another: the newcomer waits slot_wait_s for one to end."""

    async def scenario(admission: Admission, loop: asyncio.AbstractEventLoop) -> tuple[str, float, bool]:
        holders = [Holder(loop.time() + 3600), Holder(loop.time() + 3600)]  # audio all the time
        tasks = await _fill(admission, holders)
        result = await _newcomer(admission, loop)
        for holder in holders:
            holder.release.set()
        await asyncio.gather(*tasks)
        return (*result, any(h.reclaimed.is_set() for h in holders))

    outcome, waited_s, reclaimed = _run(scenario)
    assert outcome == "refused" and waited_s == pytest.approx(0.5) and not reclaimed


def test_a_slot_freed_by_a_session_ending_on_its_own_goes_to_the_waiting_newcomer() -> None:
    async def scenario(admission: Admission, loop: asyncio.AbstractEventLoop) -> tuple[str, float]:
        holders = [Holder(loop.time() + 3600), Holder(loop.time() + 3600)]
        tasks = await _fill(admission, holders)
        loop.call_later(0.2, holders[0].release.set)  # it ends by itself
        result = await _newcomer(admission, loop)
        holders[1].release.set()
        await asyncio.gather(*tasks)
        return result

    outcome, waited_s = _run(scenario)
    assert outcome == "admitted" and waited_s == pytest.approx(0.2)


def test_no_more_newcomers_wait_than_max_awaiting_config() -> None:
    async def scenario(admission: Admission, loop: asyncio.AbstractEventLoop) -> list[tuple[str, float]]:
        holders = [Holder(loop.time() + 3600)]
        tasks = await _fill(admission, holders)
        waiting = [asyncio.create_task(_newcomer(admission, loop)) for _ in range(3)]  # LIMITS: 3 may wait
        await asyncio.sleep(0.01)
        extra = await _newcomer(admission, loop)
        results = await asyncio.gather(*waiting)
        holders[0].release.set()
        await asyncio.gather(*tasks)
        return [extra, *results]

    extra, *waited = _run(scenario, max_sessions=1)
    assert extra == ("refused", 0)
    assert waited == [("refused", pytest.approx(0.5))] * 3


def test_the_longest_silent_session_is_ended_for_a_newcomer_who_gets_its_slot() -> None:
    async def scenario(admission: Admission, loop: asyncio.AbstractEventLoop) -> tuple[str, float, list[bool]]:
        holders = [Holder(loop.time() - 3.0), Holder(loop.time() - 5.0)]
        tasks = await _fill(admission, holders)
        result = await _newcomer(admission, loop)
        holders[0].release.set()
        await asyncio.gather(*tasks)
        return (*result, [h.reclaimed.is_set() for h in holders])

    outcome, waited_s, reclaimed = _run(scenario)
    assert outcome == "admitted" and waited_s == pytest.approx(0.02)  # the reclaimed one took 20 ms to end
    assert reclaimed == [False, True]


def test_a_newcomer_waits_for_a_session_about_to_be_silent_long_enough() -> None:
    """Silent for 0.7 s of the 1 s: the newcomer waits 0.3 s (under slot_wait_s) rather than leave."""

    async def scenario(admission: Admission, loop: asyncio.AbstractEventLoop) -> tuple[str, float]:
        holders = [Holder(loop.time() - 0.7), Holder(loop.time() + 3600)]
        tasks = await _fill(admission, holders)
        result = await _newcomer(admission, loop)
        holders[1].release.set()
        await asyncio.gather(*tasks)
        return result

    outcome, waited_s = _run(scenario)
    assert outcome == "admitted" and waited_s == pytest.approx(0.31)  # came at 0.01 s; reclaimed at 0.3, ended 0.32


def test_a_newcomer_leaves_after_slot_wait_s_when_the_ended_session_is_slow_to_finish() -> None:
    async def scenario(admission: Admission, loop: asyncio.AbstractEventLoop) -> tuple[str, float]:
        holders = [Holder(loop.time() - 5.0, end_after_s=2.0)]
        tasks = await _fill(admission, holders)
        result = await _newcomer(admission, loop)
        await asyncio.gather(*tasks)
        return result

    outcome, waited_s = _run(scenario, max_sessions=1)
    assert outcome == "refused" and waited_s == pytest.approx(0.5)


def test_newcomers_are_served_in_order_and_one_silent_session_is_ended_per_newcomer() -> None:
    async def scenario(admission: Admission, loop: asyncio.AbstractEventLoop) -> tuple[list[int], list[bool]]:
        holders = [Holder(loop.time() - 2.0, end_after_s=0.1), Holder(loop.time() - 3.0, end_after_s=0.2)]
        tasks = await _fill(admission, holders)
        order: list[int] = []

        async def newcomer(index: int) -> None:
            async with admission.slot(Holder(loop.time() + 3600)):
                order.append(index)
                await asyncio.sleep(0.3)

        first = asyncio.create_task(newcomer(0))
        await asyncio.sleep(0.001)
        second = asyncio.create_task(newcomer(1))
        await asyncio.gather(first, second, *tasks)
        return order, [h.reclaimed.is_set() for h in holders]

    order, reclaimed = _run(scenario)
    assert order == [0, 1]
    assert reclaimed == [True, True]


def test_a_slot_that_frees_goes_to_the_waiting_newcomer_not_to_a_later_one() -> None:
    """A reconnecting client arriving just as the slot frees finds the waiting newcomer ahead of it."""

    async def scenario(admission: Admission, loop: asyncio.AbstractEventLoop) -> list[str]:
        holder = Holder(loop.time() - 5.0, end_after_s=0.1)
        tasks = await _fill(admission, [holder])
        order: list[str] = []

        async def newcomer(name: str) -> None:
            async with admission.slot(Holder(loop.time() + 3600)):
                order.append(name)
                await asyncio.sleep(0.05)

        waiting = asyncio.create_task(newcomer("waiting"))
        await holder.release.wait()
        late = asyncio.create_task(newcomer("late"))  # the same loop tick the slot frees
        await asyncio.gather(waiting, late, *tasks)
        return order

    assert _run(scenario, max_sessions=1) == ["waiting", "late"]


def test_connections_waiting_for_their_config_are_bounded_the_oldest_evicted() -> None:
    async def scenario(admission: Admission, loop: asyncio.AbstractEventLoop) -> list[str]:
        evicted: list[str] = []
        with (
            admission.config_wait("a", lambda: evicted.append("a")),
            admission.config_wait("b", lambda: evicted.append("b")),
            admission.config_wait("c", lambda: evicted.append("c")),
        ):
            assert admission.awaiting_config == 3
            with admission.config_wait("d", lambda: evicted.append("d")):
                assert admission.awaiting_config == 3
                with admission.config_wait("e", lambda: evicted.append("e")):
                    assert admission.awaiting_config == 3
            with admission.config_wait("f", lambda: evicted.append("f")):  # c and f: room for both
                assert admission.awaiting_config == 2
        assert admission.awaiting_config == 0
        return evicted

    assert _run(scenario) == ["a", "b"]


@pytest.mark.parametrize("held", [0, 1, 2])
def test_the_slot_count_is_the_engines(held: int) -> None:
    async def scenario(admission: Admission, loop: asyncio.AbstractEventLoop) -> int:
        holders = [Holder(loop.time() + 3600) for _ in range(held)]
        tasks = await _fill(admission, holders)
        count = admission._engine.open_sessions
        for holder in holders:
            holder.release.set()
        await asyncio.gather(*tasks)
        return count

    assert _run(scenario) == held


def test_a_newcomer_who_leaves_while_waiting_leaves_the_queue_to_the_next() -> None:
    """A reconnect storm's connections queue, then go: they hold no place, and the one behind gets the slot."""
    from whisper_stream.server.socket_events import Disconnected

    async def scenario(admission: Admission, loop: asyncio.AbstractEventLoop) -> tuple[str, str, float]:
        holder = Holder(loop.time() - 0.8)
        tasks = await _fill(admission, [holder])
        left = asyncio.Event()

        async def leaving() -> str:
            try:
                async with admission.slot(Holder(loop.time()), left=left):
                    return "admitted"
            except Disconnected:
                return "left"

        first = asyncio.create_task(leaving())
        await asyncio.sleep(0.01)
        second = asyncio.create_task(_newcomer(admission, loop))
        await asyncio.sleep(0.05)
        left.set()
        (outcome, waited_s), gone = await second, await first
        await asyncio.gather(*tasks)
        return gone, outcome, waited_s

    gone, outcome, waited_s = _run(scenario, max_sessions=1)
    assert gone == "left" and outcome == "admitted" and waited_s == pytest.approx(0.2)  # came at 0.02, slot at 0.22
