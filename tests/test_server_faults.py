"""Faults on our side: the session they hit closes 1011 with the traceback in the log (never on the
wire); every other session goes on; the replica keeps serving."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import connect

from tests.fakes import EnergyScorer, silence_s, tone_s
from tests.harness import (
    HEALTHY_CONFIG,
    FakeTranscriber,
    FaultyScorer,
    Harness,
    assert_healthy,
    assert_rejected,
    healthy_session,
    running_harness,
)
from tests.stream_client import StreamResult, send_raw, stream, to_pcm16
from whisper_stream.inference.engine import Engine
from whisper_stream.server.limits import Limits
from whisper_stream.server.websocket import serve_session

SPEECH = np.concatenate([tone_s(0.5), silence_s(0.5)])


def _run_beside_healthy(harness: Harness, bad: Any) -> StreamResult:
    async def both() -> tuple[StreamResult, StreamResult]:
        return await asyncio.gather(bad, healthy_session(harness.url, repeats=2, speed=10.0))

    result, healthy = asyncio.run(both())
    assert_healthy(healthy, repeats=2)
    return result


def _error_records(harness: Harness) -> list[logging.LogRecord]:
    return harness.log_records(logging.ERROR)


def test_transcriber_exception_closes_that_session_1011_and_logs_the_traceback() -> None:
    with running_harness() as harness:
        config = {**HEALTHY_CONFIG, "whisper_params": {"prompt": "@fail"}}
        result = _run_beside_healthy(harness, stream(harness.url, SPEECH, config=config, speed=None, timeout_s=10))
        error = assert_rejected(result, "internal_error", 1011)
        assert error["message"] == "internal server error"
        assert "injected" not in json.dumps(result.messages)
        [record] = _error_records(harness)
        assert record.exc_info is not None
        text = logging.Formatter().formatException(record.exc_info)
        assert "Traceback" in text and "injected transcriber failure" in text
        assert record.session_id in record.getMessage()  # type: ignore[attr-defined]
        # the engine's workers survived: later sessions are served
        assert all(t.is_alive() for t in threading.enumerate() if t.name.startswith("whisper-decode"))
        assert_healthy(asyncio.run(healthy_session(harness.url)))
        harness.wait_idle()
        assert harness.engine.open_sessions == 0


def test_vad_exception_closes_that_session_1011() -> None:
    with running_harness(scorer_factory=FaultyScorer) as harness:
        audio = SPEECH.copy()
        audio[100] = -1.0  # full-scale negative: FaultyScorer raises
        result = _run_beside_healthy(harness, stream(harness.url, audio, config=HEALTHY_CONFIG, speed=None))
        assert_rejected(result, "internal_error", 1011, "internal server error")
        [record] = _error_records(harness)
        assert "injected VAD failure" in logging.Formatter().formatException(record.exc_info)  # type: ignore[arg-type]


def test_one_failing_session_among_many_others_finish() -> None:
    with running_harness(max_sessions=10) as harness:
        config = {**HEALTHY_CONFIG, "whisper_params": {"prompt": "@fail"}}

        async def crowd() -> list[StreamResult]:
            failing = [stream(harness.url, SPEECH, config=config, speed=None, timeout_s=10) for _ in range(2)]
            healthy = [healthy_session(harness.url, speed=10.0) for _ in range(6)]
            return await asyncio.gather(*failing, *healthy)

        results = asyncio.run(crowd())
        for failed in results[:2]:
            assert_rejected(failed, "internal_error", 1011)
        for ok in results[2:]:
            assert_healthy(ok)
        assert len(_error_records(harness)) == 2


def test_a_failure_in_a_batched_decode_fails_only_the_session_it_came_from() -> None:
    """With batching, the failing utterance shares a decode with others; they are retried alone."""
    with running_harness(max_sessions=8, decode_workers=1, max_batch_size=8) as harness:
        harness.transcriber.gate.clear()
        failing = {**HEALTHY_CONFIG, "whisper_params": {"prompt": "@fail"}}

        async def scenario() -> list[StreamResult]:
            first = asyncio.create_task(stream(harness.url, SPEECH, config=HEALTHY_CONFIG, speed=None))
            while harness.transcriber.calls < 1:  # the worker holds the first decode at the gate
                await asyncio.sleep(0.01)
            rest = [
                asyncio.create_task(stream(harness.url, SPEECH, config=config, speed=None))
                for config in (HEALTHY_CONFIG, failing, HEALTHY_CONFIG)
            ]
            while harness.engine.queue_depth < 3:  # queued behind it: they will go as one batch
                await asyncio.sleep(0.01)
            harness.transcriber.gate.set()
            return await asyncio.gather(first, *rest)

        first, second, failed, fourth = asyncio.run(scenario())
        assert harness.transcriber.batches == [3]
        assert_rejected(failed, "internal_error", 1011)
        for ok in (first, second, fourth):
            assert ok.close_code == 1000 and len(ok.finals) == 1, ok.messages
        assert len(_error_records(harness)) == 1
        assert any("decoding them one by one" in r.getMessage() for r in harness.log_records(logging.WARNING))


def test_model_not_loaded_refuses_with_1013_at_once() -> None:
    with running_harness(start_engine=False) as harness:
        result = asyncio.run(send_raw(harness.url, json.dumps(HEALTHY_CONFIG), to_pcm16(SPEECH), timeout_s=5))
        assert_rejected(result, "server_busy", 1013, "not loaded yet", "retry")
        assert not _error_records(harness)
        harness.engine.start()
        assert_healthy(asyncio.run(healthy_session(harness.url)))


def test_an_engine_stopping_under_waiting_finals_closes_1012_at_once_not_after_the_finish_timeout() -> None:
    """Queued finals cancelled by ``Engine.stop`` reach the session (they used to be dropped: 120 s, 1011)."""
    with running_harness(Limits(finish_timeout_s=60), decode_workers=1) as harness:
        harness.transcriber.gate.clear()  # the one worker blocks in the first decode

        async def two_sessions() -> list[StreamResult]:
            clients = [
                asyncio.create_task(stream(harness.url, SPEECH, config=HEALTHY_CONFIG, speed=None, timeout_s=20))
                for _ in range(2)
            ]
            while harness.engine.queue_depth < 1:  # one final running (blocked), one waiting
                await asyncio.sleep(0.01)
            stopper = threading.Thread(target=harness.engine.stop)
            stopper.start()
            started = time.monotonic()
            done, _ = await asyncio.wait(clients, return_when=asyncio.FIRST_COMPLETED)
            assert time.monotonic() - started < 5.0
            harness.transcriber.gate.set()
            stopper.join(10)
            return list(await asyncio.gather(*clients))

        results = asyncio.run(two_sessions())
        harness.wait_idle()
    refused = [r for r in results if r.close_code == 1012]
    assert refused and refused[0].of_type("error")[0]["code"] == "server_shutdown"


# ------------------------------------------------------------------ the adapter with a scripted socket


class ScriptedSocket:
    """A WebSocket-like object: hands out ``incoming`` (an exception is raised), records what is sent."""

    def __init__(self, incoming: list[Mapping[str, Any] | BaseException]) -> None:
        self.incoming = list(incoming)
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str | None] | None = None

    async def receive(self) -> Mapping[str, Any]:
        if not self.incoming:
            await asyncio.sleep(3600)
        item = self.incoming.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    async def send_text(self, data: str) -> None:
        self.sent.append(json.loads(data))

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason)


@pytest.fixture
def engine() -> Any:
    engine = Engine(FakeTranscriber(), EnergyScorer)
    engine.start()
    yield engine
    engine.stop()


def _text(data: str) -> dict[str, Any]:
    return {"type": "websocket.receive", "text": data}


def test_a_socket_that_fails_mid_session_ends_it_at_once_with_1011(engine: Engine, caplog: Any) -> None:
    """The reader task's exception reaches the session (it used to die silently until the idle timeout)."""
    websocket = ScriptedSocket([_text(json.dumps(HEALTHY_CONFIG)), RuntimeError("socket broke")])
    with caplog.at_level(logging.ERROR, logger="whisper_stream"):
        asyncio.run(asyncio.wait_for(serve_session(websocket, engine, limits=Limits(idle_timeout_s=30)), 5))
    assert websocket.closed == (1011, "internal_error")
    assert websocket.sent == [{"type": "error", "code": "internal_error", "message": "internal server error"}]
    assert "socket broke" in caplog.text
    assert engine.open_sessions == 0


def test_an_empty_websocket_message_is_a_protocol_error(engine: Engine) -> None:
    websocket = ScriptedSocket([_text(json.dumps(HEALTHY_CONFIG)), {"type": "websocket.receive"}])
    asyncio.run(asyncio.wait_for(serve_session(websocket, engine), 5))
    assert websocket.closed == (1008, "protocol_error")
    assert websocket.sent[-1]["message"] == "empty websocket message"


def test_a_socket_whose_close_hangs_does_not_hold_the_slot(engine: Engine) -> None:
    class HangingClose(ScriptedSocket):
        async def close(self, code: int = 1000, reason: str | None = None) -> None:
            await asyncio.sleep(3600)

    websocket = HangingClose([_text(json.dumps(HEALTHY_CONFIG)), _text(json.dumps({"terminate_session": True}))])
    asyncio.run(asyncio.wait_for(serve_session(websocket, engine, limits=Limits(send_timeout_s=0.2)), 5))
    assert websocket.sent[-1]["type"] == "session_end"
    assert engine.open_sessions == 0


# ------------------------------------------------------------------ the real server


@pytest.mark.slow
def test_real_server_refuses_connections_cleanly_until_the_model_is_loaded(tmp_path: Any) -> None:
    """truss answers the upgrade with HTTP 503 before ``load()`` is done: no session, no traceback.

    ``load()`` waits on a gate the test opens (tests/gated_transcriber.py), so the server is still
    loading when the connection is tried, however fast the machine: the test cannot skip itself.
    """
    from websockets.exceptions import InvalidStatus

    from tests.conftest import REPO, SERVER_ENV
    from tests.local_server import start_server

    async def attempt(url: str) -> int | None:
        try:
            async with connect(url, open_timeout=10) as websocket:
                await websocket.send(json.dumps({"terminate_session": True}))
                return None
        except InvalidStatus as exc:
            return exc.response.status_code

    gate = tmp_path / "load-gate"
    os.mkfifo(gate)
    env = {
        **SERVER_ENV,
        "WHISPER_TRANSCRIBER": f"{REPO / 'tests' / 'gated_transcriber.py'}:from_settings",
        "LOAD_GATE_FIFO": str(gate),
    }
    with start_server(REPO, port=0, build_dir=tmp_path / "build", env=env, wait_ready=False) as server:
        deadline = time.monotonic() + 120
        while server.readiness() is None:  # until truss answers HTTP at all
            assert time.monotonic() < deadline and server.process.poll() is None, server.log_text()
            time.sleep(0.01)
        assert server.readiness() == 503  # load() waits on the gate
        assert asyncio.run(attempt(server.ws_url)) == 503
        with open(gate, "w", encoding="utf-8"):  # blocks until load() has the other end open: then lets it go
            pass
        server.wait_ready(120)
        result = asyncio.run(stream(server.ws_url, SPEECH, config=HEALTHY_CONFIG, speed=None, timeout_s=60))
        assert result.close_code == 1000 and result.of_type("session_end")
        log = server.log_text()
    assert '"WebSocket /v1/websocket" 503' in log
    assert "Traceback" not in log
