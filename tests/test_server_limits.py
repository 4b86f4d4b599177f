"""The named limits: each one documented, enforced, and enforced without harm to other sessions."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import numpy as np
import pytest
from websockets.asyncio.client import connect

from tests.fakes import silence_s, tone_s
from tests.harness import HEALTHY_CONFIG, assert_healthy, assert_rejected, healthy_session, running_harness
from tests.stream_client import StreamResult, send_raw, stream
from whisper_stream.server import settings
from whisper_stream.server.limits import Limits

CONFIG = json.dumps(HEALTHY_CONFIG)


def test_every_limit_is_documented() -> None:
    doc = Limits.__doc__ or ""
    for field in dataclasses.fields(Limits):
        assert f"\n    {field.name} " in doc, field.name  # a row of the table
    assert "max_sessions" in doc and "1013" in doc
    for env in ("MAX_FRAME_BYTES", "MAX_SESSION_S", "IDLE_TIMEOUT_S", "MAX_SESSIONS"):
        assert env in doc + (settings.__doc__ or "")


# ------------------------------------------------------------------ concurrent sessions


async def _hold(url: str, release: asyncio.Event) -> StreamResult:
    """An admitted session that just sends its config and waits (keepalives) until released."""
    result = StreamResult()
    async with connect(url) as websocket:
        await websocket.send(CONFIG)
        while not release.is_set():
            await websocket.send(json.dumps({"type": "keepalive"}))
            await asyncio.sleep(0.05)
        await websocket.send(json.dumps({"terminate_session": True}))
        async for message in websocket:
            result.messages.append((0.0, json.loads(message)))
    result.close_code = websocket.close_code
    return result


def test_over_the_session_cap_is_refused_after_slot_wait_s_with_1013_and_a_message() -> None:
    """Every slot held by a session that is not silent long enough to give it up: the newcomer waits
    slot_wait_s (0.3 s here) for one to free, then gets 1013."""
    with running_harness(Limits(slot_wait_s=0.3), max_sessions=3) as harness:

        async def scenario() -> tuple[list[StreamResult], StreamResult, float, StreamResult, StreamResult]:
            release = asyncio.Event()
            holders = [asyncio.create_task(_hold(harness.url, release)) for _ in range(2)]
            while harness.engine.open_sessions < 2:
                await asyncio.sleep(0.01)
            healthy = asyncio.create_task(healthy_session(harness.url, speed=4.0))  # the third slot
            while harness.engine.open_sessions < 3:
                await asyncio.sleep(0.01)
            started = time.monotonic()
            refused = await send_raw(harness.url, CONFIG, timeout_s=5)
            refused_after_s = time.monotonic() - started
            healthy_result = await healthy
            admitted_later = await healthy_session(harness.url)  # a slot is free again
            release.set()
            return await asyncio.gather(*holders), refused, refused_after_s, healthy_result, admitted_later

        held, refused, refused_after_s, healthy, admitted_later = asyncio.run(scenario())
        error = assert_rejected(refused, "server_busy", 1013, "limit of 3 concurrent sessions", "retry")
        assert error["message"]
        assert 0.3 <= refused_after_s < 2.0  # slot_wait_s, then 1013 (generous for loaded CI)
        assert_healthy(healthy)
        assert_healthy(admitted_later)
        assert all(h.close_code == 1000 for h in held)
        harness.wait_idle()


# ------------------------------------------------------------------ session duration


def test_max_session_duration_sends_the_finals_then_closes_1008() -> None:
    limits = Limits(max_session_duration_s=2.8)
    audio = np.concatenate([tone_s(0.5), silence_s(0.5)] * 5)  # 5 s: three utterances before the limit
    with running_harness(limits) as harness:

        async def both() -> tuple[StreamResult, StreamResult]:
            return await asyncio.gather(
                stream(harness.url, audio, config=HEALTHY_CONFIG, speed=None, timeout_s=10),
                healthy_session(harness.url),  # 2.6 s of audio: under the limit
            )

        long, healthy = asyncio.run(both())
        assert_rejected(long, "limit_exceeded", 1008, "maximum of 2.8 s of audio")
        # every utterance before the limit has its final, in order, before the error
        assert [f["transcription_num"] for f in long.finals] == [0, 1, 2]
        assert long.finals[-1]["segments"][0]["end_time"] <= 2.8 + 512 / 16_000  # the frame that crossed it
        assert_healthy(healthy)


# ------------------------------------------------------------------ audio waiting to be transcribed


def test_too_much_audio_waiting_ends_the_session_with_its_finals_and_the_point_it_reached() -> None:
    """Whisper is stuck while a client floods: the server keeps reading (so keepalive pings, every 0.3 s
    here, are answered), and when more than ``max_pending_audio_s`` waits it sends the finals of all
    audio through the VAD and closes 1008, naming where transcription stopped. Others are unaffected."""
    limits = Limits(max_pending_audio_s=3.0)
    audio = np.concatenate([np.concatenate([tone_s(1.0), silence_s(0.5)])] * 40)  # 60 s
    with running_harness(limits, ping_interval_s=0.3) as harness:
        harness.transcriber.gate.clear()

        async def scenario() -> tuple[StreamResult, StreamResult]:
            flood = asyncio.create_task(
                stream(harness.url, audio, config=HEALTHY_CONFIG, speed=None, frame_samples=2048, timeout_s=30)
            )
            await asyncio.sleep(1.5)  # five keepalive periods with Whisper stuck
            assert not harness.records[0].done.is_set()
            harness.transcriber.gate.set()
            return await flood, await healthy_session(harness.url)

        flooded, healthy = asyncio.run(scenario())
        error = assert_rejected(flooded, "limit_exceeded", 1008, "waiting to be transcribed", "over the limit of 3 s")
        reached_s = float(error["message"].split("audio after ")[1].split(" s ")[0])
        assert 3.0 <= reached_s < 10.0
        finals = flooded.finals
        assert [f["transcription_num"] for f in finals] == list(range(len(finals)))
        assert len(finals) >= 2
        assert finals[-1]["segments"][0]["end_time"] == pytest.approx(reached_s, abs=1.6)
        assert_healthy(healthy)


def test_a_paced_client_faster_than_real_time_is_never_cut_off() -> None:
    """At 20x real time with Whisper keeping up, nothing waits long: every utterance, close 1000."""
    audio = np.concatenate([np.concatenate([tone_s(1.0), silence_s(0.5)])] * 20)  # 30 s
    with running_harness(Limits(max_pending_audio_s=3.0)) as harness:
        result = asyncio.run(stream(harness.url, audio, config=HEALTHY_CONFIG, speed=20.0, timeout_s=30))
        assert result.close_code == 1000
        assert [f["transcription_num"] for f in result.finals] == list(range(20))
