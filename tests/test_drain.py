"""Graceful shutdown: open sessions finish (finals, session_end) and close 1012 before the server stops."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.fakes import tone_s
from tests.harness import running_harness
from tests.stream_client import SEED_CONFIG, StreamResult, to_pcm16
from whisper_stream.server import drain as drain_module
from whisper_stream.server.drain import Drain, install_signal_handlers
from whisper_stream.server.limits import Limits

CONFIG = json.dumps(SEED_CONFIG)


async def _speak_and_read(url: str, speaking: asyncio.Event) -> StreamResult:
    result = StreamResult()
    async with connect(url) as websocket:
        await websocket.send(CONFIG)
        audio = tone_s(2.0)
        for offset in range(0, audio.size, 512):  # mid-utterance: no silence, no terminate
            await websocket.send(to_pcm16(audio[offset : offset + 512]))
        speaking.set()
        with contextlib.suppress(ConnectionClosed):
            async for raw in websocket:
                result.messages.append((0.0, json.loads(raw)))
    result.close_code = websocket.close_code
    return result


def test_a_drain_finishes_the_utterance_in_progress_then_closes_1012_and_refuses_new_sessions() -> None:
    drain = Drain()
    with running_harness(Limits(idle_timeout_s=30), drain=drain) as harness:

        async def scenario() -> tuple[StreamResult, int | None]:
            speaking = asyncio.Event()
            client = asyncio.create_task(_speak_and_read(harness.url, speaking))
            await speaking.wait()
            await asyncio.sleep(0.2)
            assert drain.open_sessions == 1
            finished = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(drain.drain(5.0), harness.loop))
            result = await client
            assert await finished
            late = await connect(harness.url)  # draining: refused at once, told to reconnect elsewhere
            with pytest.raises(ConnectionClosed):
                await late.send(CONFIG)
                while True:
                    await late.recv()
            return result, late.close_code

        result, late_code = asyncio.run(asyncio.wait_for(scenario(), timeout=20))
        harness.wait_idle()
    assert [f["transcript"] for f in result.finals] == ["32000 samples"]  # the whole 2 s said so far
    types = [m["type"] for _, m in result.messages]
    assert types[-2:] == ["session_end", "error"] and result.messages[-1][1]["code"] == "server_shutdown"
    assert result.close_code == 1012 and late_code == 1012


def test_signal_handler_drains_first_then_hands_the_signal_to_the_previous_handler() -> None:
    calls: list[tuple[str, float]] = []
    original = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGTERM, lambda sig, frame: calls.append(("previous", time.monotonic())))
    drain_module._installed.clear()

    async def main() -> None:
        drain = Drain()
        done = asyncio.Event()

        def begin_drain() -> None:
            calls.append(("drain", time.monotonic()))
            asyncio.get_running_loop().call_later(0.2, lambda: (drain.unregister("session"), done.set()))

        drain.register("session", begin_drain)
        assert install_signal_handlers(drain, timeout_s=5)
        os.kill(os.getpid(), signal.SIGTERM)
        await done.wait()
        for _ in range(50):
            if len(calls) == 2:
                break
            await asyncio.sleep(0.02)

    try:
        asyncio.run(asyncio.wait_for(main(), timeout=10))
    finally:
        signal.signal(signal.SIGTERM, original[0])
        signal.signal(signal.SIGINT, original[1])
        drain_module._installed.clear()
    assert [name for name, _ in calls] == ["drain", "previous"]
    assert calls[1][1] - calls[0][1] >= 0.2  # the server's own handler only after the sessions finished


def test_install_refuses_off_the_main_thread() -> None:
    import threading

    results: list[bool] = []

    def worker() -> None:
        async def main() -> None:
            results.append(install_signal_handlers(Drain()))

        asyncio.run(main())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert results == [False]


def test_drain_times_out_and_says_so() -> None:
    async def main() -> bool:
        drain = Drain()
        drain.register("stuck", lambda: None)  # never finishes
        return await drain.drain(0.1)

    assert asyncio.run(main()) is False
