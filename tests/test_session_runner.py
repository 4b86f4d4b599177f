"""The runner over a real WebSocket (in-process server, fake transcriber): end of input without a
terminate, backpressure on text frames, an engine that stops under a session."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import numpy as np
import pytest
from websockets.asyncio.client import connect

from tests.fakes import silence_s, tone_s
from tests.harness import Harness, assert_healthy, healthy_session, running_harness
from tests.stream_client import SEED_CONFIG, StreamResult, to_pcm16
from whisper_stream.core.session import INPUT_STALL_MARGIN_S
from whisper_stream.server.limits import Limits

CONFIG = json.dumps(SEED_CONFIG)


@pytest.fixture
def harness() -> Iterator[Harness]:
    with running_harness(Limits(idle_timeout_s=30, no_audio_timeout_s=1.0)) as running:
        yield running


async def _read(websocket, result: StreamResult, started: float, until: str | None = None) -> None:
    async for raw in websocket:
        message = json.loads(raw)
        result.messages.append((time.monotonic() - started, message))
        if until is not None and message.get("type") == until:
            return


def test_a_client_that_stops_sending_gets_its_last_final_without_terminating(harness: Harness) -> None:
    """LiveKit's plugin after end_input(): the socket stays open and nothing more is sent.

    The final comes from the input-stall rule (min_silence_duration_ms plus INPUT_STALL_MARGIN_S after
    the last audio), not from the idle timeout: the session is still open after it, and ends only on
    the terminate sent then. (No upper bound in seconds: a loaded machine only makes the final later.)
    """
    idle_timeout_s = harness.limits.idle_timeout_s

    async def wait_for_final() -> tuple[float, StreamResult, StreamResult]:
        result, after = StreamResult(), StreamResult()
        async with connect(harness.url) as websocket:
            await websocket.send(CONFIG)
            audio = tone_s(1.0)
            for offset in range(0, audio.size, 512):
                await websocket.send(to_pcm16(audio[offset : offset + 512]))
            started = time.monotonic()
            while not result.finals:
                raw = await asyncio.wait_for(websocket.recv(), timeout=idle_timeout_s)
                result.messages.append((time.monotonic() - started, json.loads(raw)))
            elapsed_s = time.monotonic() - started
            await websocket.send(json.dumps({"terminate_session": True}))
            await _read(websocket, after, started)
            after.close_code = websocket.close_code
            return elapsed_s, result, after

    elapsed_s, result, after = asyncio.run(wait_for_final())
    [final] = result.finals
    assert final["transcript"] == "16000 samples"  # the whole tone, to its last sample
    assert elapsed_s >= 0.3 + INPUT_STALL_MARGIN_S - 0.1  # not before the client could have stopped talking
    assert not result.of_type("error") and not result.of_type("session_end")
    assert [m["type"] for _, m in after.messages] == ["session_end"] and after.close_code == 1000
    assert after.messages[0][0] < idle_timeout_s  # the terminate ended it, not the idle timeout


def test_a_connection_that_never_sends_audio_is_closed_soon_and_cleanly(harness: Harness) -> None:
    """After no_audio_timeout_s (1 s here), well before idle_timeout_s (30 s); a loaded machine only delays it."""

    async def config_only() -> tuple[float, StreamResult]:
        result = StreamResult()
        async with connect(harness.url) as websocket:
            await websocket.send(CONFIG)
            started = time.monotonic()
            await _read(websocket, result, started)
            result.close_code = websocket.close_code
            return time.monotonic() - started, result

    elapsed_s, result = asyncio.run(config_only())
    assert result.close_code == 1000 and [m["type"] for _, m in result.messages] == ["session_end"]
    limits = harness.limits
    assert limits.no_audio_timeout_s - 0.1 <= elapsed_s < limits.idle_timeout_s  # the no-audio rule ended it


class FloodingSocket:
    """Config, one utterance, then keepalives without end; sending blocks forever (a client that never reads)."""

    def __init__(self) -> None:
        audio = to_pcm16(np.concatenate([tone_s(0.5), silence_s(0.5)]))
        self.script: list[dict] = [
            {"type": "websocket.receive", "text": CONFIG},
            {"type": "websocket.receive", "bytes": audio},
        ]
        self.received = 0
        self.sending = asyncio.Event()

    async def receive(self) -> dict:
        self.received += 1
        if self.script:
            return self.script.pop(0)
        await self.sending.wait()  # the flood starts once the server is stuck sending
        await asyncio.sleep(0)
        return {"type": "websocket.receive", "text": '{"type": "keepalive"}'}

    async def send_text(self, data: str) -> None:
        self.sending.set()
        await asyncio.Event().wait()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = code


def test_a_flood_of_text_frames_is_bounded_by_the_read_ahead() -> None:
    """While a send is blocked, keepalives are read only up to max_read_ahead_bytes (they used to pile up)."""
    from tests.fakes import EnergyScorer
    from tests.harness import FakeTranscriber
    from whisper_stream.inference.engine import Engine
    from whisper_stream.server.websocket import serve_session

    limits = Limits(max_read_ahead_bytes=64 * 100, send_timeout_s=1.0, idle_timeout_s=30)
    engine = Engine(FakeTranscriber(), EnergyScorer)
    engine.start()
    try:
        socket = FloodingSocket()
        asyncio.run(asyncio.wait_for(serve_session(socket, engine, limits=limits), timeout=10))
    finally:
        engine.stop()
    assert socket.closed == 1008
    # the config and the audio, then at most 6400 bytes of keepalives at 64 + 21 bytes each (and the one
    # that tipped it over): the reader stops there until the blocked send gives up
    assert socket.received <= 2 + 6400 // (64 + 21) + 2


def test_a_session_whose_loop_fell_behind_does_not_take_its_own_backlog_for_a_stalled_client(
    harness: Harness,
) -> None:
    """The server's loop stalls for longer than the input-stall rule while the client keeps talking: the audio
    read meanwhile is handled before any deadline, so the utterance is not cut in two."""

    async def talk() -> StreamResult:
        result = StreamResult()
        loop = asyncio.get_running_loop()
        async with connect(harness.url) as websocket:
            await websocket.send(CONFIG)
            audio = np.concatenate([tone_s(3.0), silence_s(1.0)])
            started = time.monotonic()
            blocked = None
            for index, offset in enumerate(range(0, audio.size, 512)):
                if index == 30:  # ~1 s into the tone: the server's loop is busy for 0.3 + margin + 0.7 s
                    blocked = loop.run_in_executor(
                        None, harness.run_on_server, lambda: time.sleep(0.3 + INPUT_STALL_MARGIN_S + 0.7)
                    )
                await websocket.send(to_pcm16(audio[offset : offset + 512]))
                await asyncio.sleep(max(started + (index + 1) * 0.032 - time.monotonic(), 0))
            await blocked
            await websocket.send(json.dumps({"terminate_session": True}))
            await _read(websocket, result, started, until="session_end")
        return result

    result = asyncio.run(talk())
    samples = [int(f["transcript"].split()[0]) for f in result.finals]
    # Not cut where the loop stalled (~1 s in); on a loaded machine the client itself may pause later.
    assert samples[0] >= int(1.5 * 16000), samples
    assert 3 * 16000 <= sum(samples) <= 3 * 16000 + 2 * 512 * len(samples)  # all the tone, padded


@pytest.mark.parametrize(("final_context_s", "in_context"), [(29.0, True), (0.0, False)])
def test_final_context_s_decides_whether_finals_are_decoded_in_context(final_context_s, in_context) -> None:
    with running_harness(Limits(final_context_s=final_context_s), decode_workers=1) as harness:
        # in real time, so each final is asked once the one before is sent: in context when it may be
        assert_healthy(asyncio.run(healthy_session(harness.url, speed=1.0)))
        contexts = harness.transcriber.final_context_samples
    assert len(contexts) > 1
    assert any(contexts) is in_context


@pytest.mark.parametrize("rate_hz", [8_000, 16_000])
def test_each_session_gets_a_vad_scorer_for_the_rate_its_client_declared(rate_hz: int) -> None:
    """The engine is asked for a scorer at the declared rate (silero scores 8 kHz streams at 8 kHz)."""
    from tests.fakes import EnergyScorer
    from tests.stream_client import send_raw

    made: list[EnergyScorer] = []

    def factory(input_rate_hz: int) -> EnergyScorer:
        made.append(EnergyScorer(input_rate_hz))
        return made[-1]

    config = {**SEED_CONFIG, "streaming_whisper_params": {"encoding": "pcm_mulaw", "sample_rate": rate_hz}}
    with running_harness(scorer_factory=factory) as harness:
        tone = bytes([0x80, 0x00] * 2_000)  # mu-law at full scale, alternating sign: loud
        result = asyncio.run(send_raw(harness.url, json.dumps(config), tone, json.dumps({"terminate_session": True})))
    assert result.close_code == 1000
    assert [scorer.input_rate_hz for scorer in made] == [rate_hz]
    assert made[0].frames_scored > 0
