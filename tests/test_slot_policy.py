"""The slot policy end to end (in-process server, real sockets): clients that send no audio cannot lock out
clients that do. A newcomer gets in within the stated bound at a replica full of config-less, idle and
keepalive-only sockets; sessions end at their wall-clock and keepalive-only bounds; a client that keeps
sending after its end of stream neither floods the log nor holds its slot past the finish deadline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.fakes import silence_s, tone_s
from tests.harness import HEALTHY_CONFIG, Harness, assert_healthy, assert_rejected, healthy_session, running_harness
from tests.stream_client import StreamResult, stream, to_pcm16
from whisper_stream.server.limits import Limits

CONFIG = json.dumps(HEALTHY_CONFIG)
KEEPALIVE = json.dumps({"type": "keepalive"})
SPEECH = to_pcm16(np.concatenate([tone_s(0.5), silence_s(0.5)]))


async def _collect(websocket: ClientConnection, result: StreamResult) -> StreamResult:
    with contextlib.suppress(ConnectionClosed):
        async for raw in websocket:
            result.messages.append((0.0, json.loads(raw)))
    result.close_code = websocket.close_code
    result.close_reason = websocket.close_reason or ""
    return result


async def _keepalive_only(url: str, *, speak_first: bool = False, every_s: float = 0.1) -> StreamResult:
    """Config (and maybe one utterance), then keepalives until the server ends the session."""
    result = StreamResult()
    async with connect(url) as websocket:
        await websocket.send(CONFIG)
        if speak_first:
            await websocket.send(SPEECH)

        async def keep_alive() -> None:
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await websocket.send(KEEPALIVE)
                    await asyncio.sleep(every_s)

        sender = asyncio.create_task(keep_alive())
        try:
            return await _collect(websocket, result)
        finally:
            sender.cancel()


async def _wait_for(condition, timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_a_newcomer_at_a_replica_full_of_keepalive_only_sessions_gets_in_within_the_bound() -> None:
    """Three slots held by sessions that spoke once, then only sent keepalives. A newcomer arriving once they
    have been silent for slot_reclaim_after_s gets the slot of the longest silent at once; that one gets its
    final, session_end and close 1000; the others go on."""
    limits = Limits(slot_reclaim_after_s=1.0, slot_wait_s=0.5, idle_timeout_s=30)
    with running_harness(limits, max_sessions=3) as harness:

        async def scenario() -> tuple[list[StreamResult], StreamResult, float]:
            holders = []
            for _ in range(3):
                holders.append(asyncio.create_task(_keepalive_only(harness.url, speak_first=True)))
                await asyncio.sleep(0.2)  # the first is the longest silent
            await _wait_for(lambda: harness.engine.open_sessions == 3)
            await asyncio.sleep(1.0)  # all silent for at least 1 s now (the last for ~1.1 s after its speech)
            started = time.monotonic()
            newcomer = await healthy_session(harness.url, speed=None)
            waited_s = time.monotonic() - started
            first = await asyncio.wait_for(holders[0], 5)
            for task in holders[1:]:
                task.cancel()
            await asyncio.gather(*holders[1:], return_exceptions=True)
            return [first], newcomer, waited_s

        [reclaimed], newcomer, waited_s = asyncio.run(scenario())
        assert_healthy(newcomer)
        assert waited_s < 1.0  # admitted at once (the rest is the session itself, at full speed)
        assert reclaimed.close_code == 1000 and "idle" in reclaimed.close_reason
        assert [f["transcript"] for f in reclaimed.finals] and reclaimed.of_type("session_end")
        assert not reclaimed.of_type("error")


def test_a_newcomer_is_never_locked_out_by_config_less_sockets() -> None:
    """Ten sockets that never send their config hold no slot: with a cap of 2, a newcomer gets in at once."""
    with running_harness(Limits(config_timeout_s=5.0), max_sessions=2) as harness:

        async def scenario() -> tuple[StreamResult, float]:
            sockets = [await connect(harness.url) for _ in range(10)]
            try:
                started = time.monotonic()
                result = await healthy_session(harness.url, speed=None)
                return result, time.monotonic() - started
            finally:
                for websocket in sockets:
                    await websocket.close()

        result, took_s = asyncio.run(scenario())
        assert_healthy(result)
        assert took_s < 2.0


def test_too_many_config_less_sockets_evict_the_oldest_with_1008() -> None:
    with running_harness(Limits(config_timeout_s=5.0, max_awaiting_config=3)) as harness:

        async def scenario() -> tuple[StreamResult, list[bool]]:
            first = await connect(harness.url)
            result = StreamResult()
            collecting = asyncio.create_task(_collect(first, result))
            await _wait_for(lambda: len(harness.records) == 1)
            others = [await connect(harness.url) for _ in range(3)]  # the fourth waiting evicts the first
            await asyncio.wait_for(collecting, 5)
            open_ = [websocket.close_code is None for websocket in others]
            for websocket in others:
                await websocket.close()
            return result, open_

        evicted, others_open = asyncio.run(scenario())
        assert_rejected(evicted, "limit_exceeded", 1008, "no config yet", "send the config")
        assert others_open == [True, True, True]


def test_keepalives_alone_hold_a_session_only_for_keepalive_only_timeout_s() -> None:
    limits = Limits(keepalive_only_timeout_s=1.0, idle_timeout_s=30)
    with running_harness(limits) as harness:
        started = time.monotonic()
        result = asyncio.run(_keepalive_only(harness.url, speak_first=True))
        elapsed_s = time.monotonic() - started
        assert result.close_code == 1000 and result.close_reason == "no audio"
        assert len(result.finals) == 1 and result.of_type("session_end")
        assert 1.0 <= elapsed_s < 3.0


def test_a_session_ends_at_max_session_duration_s_of_wall_clock_time_with_its_finals() -> None:
    """Audio in real time, but slower than the clock (a client that pauses): the wall clock ends it."""
    limits = Limits(max_session_duration_s=2.5)
    audio = np.concatenate([tone_s(0.4), silence_s(0.6)] * 3)  # 3 s of audio, sent at half speed: 6 s
    with running_harness(limits) as harness:
        result = asyncio.run(stream(harness.url, audio, config=HEALTHY_CONFIG, speed=0.5, timeout_s=10))
        assert_rejected(result, "limit_exceeded", 1008, "maximum of 2.5 s since its config")
        # 1.25 s of audio came in 2.5 s: the first utterance, and the start of the second, cut at the limit
        assert [f["transcription_num"] for f in result.finals] == [0, 1]
        assert result.finals[-1]["segments"][0]["end_time"] <= 1.25 + 0.1
        assert result.of_type("session_end")


def _speak_terminate_then_flood(url: str, duration_s: float) -> StreamResult:
    async def run() -> StreamResult:
        result = StreamResult()
        async with connect(url) as websocket:
            await websocket.send(CONFIG)
            await websocket.send(SPEECH)
            await websocket.send(json.dumps({"terminate_session": True}))
            collecting = asyncio.create_task(_collect(websocket, result))
            end = time.monotonic() + duration_s
            with contextlib.suppress(ConnectionClosed):
                while time.monotonic() < end and not collecting.done():
                    for _ in range(50):  # as fast as the socket takes them
                        await websocket.send(SPEECH[:64])
                        await websocket.send(KEEPALIVE)
                    await asyncio.sleep(0)
            return await asyncio.wait_for(collecting, 10)

    return asyncio.run(run())


def test_what_a_client_sends_after_terminate_is_one_log_line_not_one_per_frame() -> None:
    with running_harness(Limits()) as harness:
        harness.transcriber.gate.clear()  # the last final waits while the client keeps sending
        releaser = _release_after(harness, 0.5)
        result = _speak_terminate_then_flood(harness.url, duration_s=1.0)
        releaser.join()
        assert result.close_code == 1000 and len(result.finals) == 1
        harness.wait_idle()
        after_end = [r for r in harness.log_records(logging.DEBUG) if "after the end of the stream" in r.getMessage()]
        assert len(after_end) == 1 and after_end[0].levelno == logging.INFO, [r.getMessage() for r in after_end]
        assert not harness.log_records(logging.WARNING)


def test_a_client_that_never_stops_sending_cannot_hold_its_slot_past_the_finish_deadline() -> None:
    """Whisper is stuck; the client terminates and then floods. The finish deadline (0.5 s) still comes:
    1013, the slot back. (The flood used to keep the event queue full, and the deadline was never looked at.)"""
    limits = Limits(finish_timeout_s=0.5)
    with running_harness(limits) as harness:
        harness.transcriber.gate.clear()
        started = time.monotonic()
        result = _speak_terminate_then_flood(harness.url, duration_s=5.0)
        elapsed_s = time.monotonic() - started
        harness.transcriber.gate.set()
        assert_rejected(result, "server_busy", 1013, "did not complete within 0.5 s")
        assert elapsed_s < 3.0
        harness.wait_idle()
        assert_healthy(asyncio.run(healthy_session(harness.url)))


def _release_after(harness: Harness, delay_s: float):  # type: ignore[no-untyped-def]
    import threading

    thread = threading.Timer(delay_s, harness.transcriber.gate.set)
    thread.start()
    return thread
