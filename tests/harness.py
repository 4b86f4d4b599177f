"""An in-process server for fast, deterministic server tests.

A Starlette app with one WebSocket route that does what truss's endpoint does
(accept, ``serve_session``, close 1000 when it returns, 1011 if it raises),
served by uvicorn with truss's WebSocket settings on 127.0.0.1 in a background
thread with its own event loop. The engine uses ``EnergyScorer`` and
``FakeTranscriber``, whose behaviour a client picks through its config's
``whisper_params.prompt`` (``@fail``, ``@slow=0.5``, ``@big=100000``).

Every connection gets a ``ServerRecord``: what the server sent, the close code it
chose, and how the session ended, so a test can check the server's side even of
a client that never reads. ``Harness.server_tasks()`` and ``threads()`` are for
leak checks; ``records_for_level`` for log checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.client import ClientProtocol
from websockets.protocol import State
from websockets.uri import parse_uri

from tests.fakes import EnergyScorer, result_for, silence_s, tone_s
from tests.stream_client import SEED_CONFIG, StreamResult, stream
from whisper_stream.audio.vad import SpeechScorer
from whisper_stream.inference.engine import Engine, EngineOptions
from whisper_stream.inference.requests import DecodeOptions
from whisper_stream.protocol.results import Segment, TranscriptionResult
from whisper_stream.samples import SAMPLE_RATE_HZ
from whisper_stream.server.drain import Drain
from whisper_stream.server.limits import Limits
from whisper_stream.server.websocket import serve_session

WS_MAX_SIZE_BYTES = 100 * (1 << 20)  # truss_server.WS_MAX_MSG_SZ_BYTES
_log = logging.getLogger("whisper_stream.inference.transcriber")  # where the real transcriber logs


class FakeTranscriber:
    """Names the audio it got ("<n> samples"); the prompt can ask it to fail, be slow or be verbose.

    Directives in ``whisper_params.prompt``: ``@fail`` raises, ``@slow=S`` sleeps S seconds per decode,
    ``@slowpartial=S`` sleeps S more on partials only, ``@big=N`` appends N characters to the text.
    """

    is_multilingual = False

    def __init__(self, *, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls = 0
        self.batches: list[int] = []
        self.final_context_samples: list[int] = []
        """Per final decoded, how much context it came with."""
        self.gate = threading.Event()  # cleared: every decode waits for it
        self.gate.set()
        self._lock = threading.Lock()

    def transcribe(self, audio: np.ndarray, options: DecodeOptions, *, final: bool) -> TranscriptionResult:
        with self._lock:
            self.calls += 1
            if final:
                self.final_context_samples.append(options.context_samples)
        directives = _directives(options.prompt or "")
        _log.debug("decoding %d samples (%s)", audio.size, "final" if final else "partial")
        if not self.gate.wait(timeout=30):
            raise TimeoutError("test gate never opened")
        time.sleep(float(directives.get("slow", self.delay_s)))
        if not final and "slowpartial" in directives:
            time.sleep(float(directives["slowpartial"]))
        if "fail" in directives:
            raise RuntimeError("injected transcriber failure")
        text = f"{audio.size - options.context_samples} samples"  # the utterance, without its context
        if "big" in directives:
            text += " " + "x" * int(directives["big"])
        utterance_s = (audio.size - options.context_samples) / SAMPLE_RATE_HZ  # without its context
        return TranscriptionResult(text, "en", 0.9, (Segment(text, 0.0, utterance_s),))

    def transcribe_batch(
        self, items: Sequence[tuple[np.ndarray, DecodeOptions]], *, final: bool
    ) -> list[TranscriptionResult]:
        """Like a real batch, one failing item fails the whole batch."""
        with self._lock:
            self.batches.append(len(items))
        if any("fail" in _directives(options.prompt or "") for _, options in items):
            raise RuntimeError("injected transcriber failure (in a batch)")
        return [self.transcribe(audio, options, final=final) for audio, options in items]


def _directives(prompt: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for word in prompt.split():
        if word.startswith("@"):
            name, _, value = word[1:].partition("=")
            found[name] = value
    return found


class FaultyScorer(EnergyScorer):
    """EnergyScorer that raises on a frame holding a full-scale negative sample."""

    def score(self, frame: np.ndarray) -> float:
        if frame.size and float(frame.min()) < -0.999:
            raise RuntimeError("injected VAD failure")
        return super().score(frame)


@dataclass
class ServerRecord:
    """The server's side of one connection."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    outcome: str = "open"  # returned | raised | disconnected
    error: BaseException | None = None
    bytes_received: int = 0
    messages_received: int = 0
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [m for m in self.sent if m.get("type") == "error"]


class RecordingSocket:
    """Passes everything through to Starlette's WebSocket and notes it in a ``ServerRecord``."""

    def __init__(self, websocket: WebSocket, record: ServerRecord) -> None:
        self._websocket = websocket
        self._record = record
        self._receive = websocket._receive  # as Starlette's: where ws_layer.MessageCap finds the protocol

    async def receive(self) -> Mapping[str, Any]:
        message = await self._websocket.receive()
        self._record.messages_received += 1
        if message.get("bytes") is not None:
            self._record.bytes_received += len(message["bytes"])
        return message

    async def send_text(self, data: str) -> None:
        await self._websocket.send_text(data)
        self._record.sent.append(json.loads(data))

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        if self._record.close_code is None:
            self._record.close_code = code
        await self._websocket.close(code=code, reason=reason)


class _LogCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._records_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._records_lock:
            self.records.append(record)


class Harness:
    """A running in-process server; use ``running_harness()``."""

    def __init__(
        self, engine: Engine, limits: Limits, *, ping_interval_s: float | None = 20.0, drain: Drain | None = None
    ) -> None:
        self.engine = engine
        self.limits = limits
        self.drain = drain
        self.ping_interval_s = ping_interval_s
        self.records: list[ServerRecord] = []
        self.logs = _LogCollector()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0
        self._uvicorn: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def transcriber(self) -> FakeTranscriber:
        assert isinstance(self.engine.transcriber, FakeTranscriber)
        return self.engine.transcriber

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/websocket"

    @property
    def server_config(self) -> uvicorn.Config:
        """uvicorn's Config, from which each new connection's protocol is built (its ``ws_max_size``)."""
        assert self._uvicorn is not None
        return self._uvicorn.config

    async def _endpoint(self, websocket: WebSocket) -> None:
        record = ServerRecord()
        self.records.append(record)
        try:
            await websocket.accept()
            await serve_session(RecordingSocket(websocket, record), self.engine, limits=self.limits, drain=self.drain)
            record.outcome = "returned"
            await _safe_close(websocket, 1000)
        except WebSocketDisconnect:
            record.outcome = "disconnected"
        except Exception as exc:  # truss closes 1011 and logs; a test will see it in the record
            record.outcome, record.error = "raised", exc
            await _safe_close(websocket, 1011)
        finally:
            record.done.set()

    def start(self) -> None:
        app = Starlette(routes=[WebSocketRoute("/v1/websocket", self._endpoint)])
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            log_config=None,
            lifespan="off",
            ws_max_size=WS_MAX_SIZE_BYTES,
            ws_ping_interval=self.ping_interval_s,  # uvicorn's keepalive, as in truss (default 20 s each)
            ws_ping_timeout=self.ping_interval_s,
        )
        self._uvicorn = uvicorn.Server(config)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        ready = threading.Event()

        async def serve() -> None:
            self.loop = asyncio.get_running_loop()
            ready.set()
            assert self._uvicorn is not None
            await self._uvicorn.serve(sockets=[sock])

        self._thread = threading.Thread(target=asyncio.run, args=(serve(),), name="harness-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        deadline = time.monotonic() + 10
        while not self._uvicorn.started:
            if time.monotonic() > deadline:
                raise RuntimeError("harness server did not start")
            time.sleep(0.01)
        logging.getLogger("whisper_stream").addHandler(self.logs)
        logging.getLogger("whisper_stream").setLevel(logging.DEBUG)

    def stop(self) -> None:
        logging.getLogger("whisper_stream").removeHandler(self.logs)
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(15)

    # ------------------------------------------------------------- inspection

    def run_on_server(self, function: Callable[[], Any]) -> Any:
        """Call ``function`` on the server's event loop and return its result."""
        assert self.loop is not None

        async def call() -> Any:
            return function()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(10)

    def server_tasks(self) -> list[str]:
        """Names of the tasks alive on the server loop, except the one doing the asking and the loop's own
        event-loop lag monitor (one per loop, started by the first session: see ``loop_lag``)."""
        return self.run_on_server(
            lambda: sorted(
                repr(t.get_coro())
                for t in asyncio.all_tasks()
                if t is not asyncio.current_task() and not t.done() and t.get_name() != "event-loop-lag"
            )
        )

    def wait_idle(self, timeout_s: float = 10.0) -> None:
        """Wait until every connection's endpoint has returned and no session holds a slot."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(r.done.is_set() for r in self.records) and self.engine.open_sessions == 0:
                return
            time.sleep(0.01)
        raise AssertionError(f"server not idle: {self.engine.open_sessions} sessions open")

    def log_records(self, level: int = logging.DEBUG) -> list[logging.LogRecord]:
        return [r for r in list(self.logs.records) if r.levelno >= level]

    def clear(self) -> None:
        self.records.clear()
        self.logs.records.clear()


async def _safe_close(websocket: WebSocket, code: int) -> None:
    """truss_server._safe_close_websocket: a second close raises RuntimeError, which it logs at debug."""
    with contextlib.suppress(RuntimeError):
        await websocket.close(code=code)


@contextlib.contextmanager
def running_harness(
    limits: Limits = Limits(),
    *,
    max_sessions: int = 8,
    decode_workers: int = 2,
    max_batch_size: int = 1,
    transcriber: FakeTranscriber | None = None,
    scorer_factory: Callable[[int], SpeechScorer] = EnergyScorer,
    start_engine: bool = True,
    ping_interval_s: float | None = 20.0,
    drain: Drain | None = None,
) -> Iterator[Harness]:
    engine = Engine(
        transcriber or FakeTranscriber(),
        scorer_factory,
        EngineOptions(max_sessions=max_sessions, decode_workers=decode_workers, max_batch_size=max_batch_size),
    )
    if start_engine:
        engine.start()
    harness = Harness(engine, limits, ping_interval_s=ping_interval_s, drain=drain)
    harness.start()
    try:
        yield harness
    finally:
        harness.transcriber.gate.set()
        harness.stop()
        engine.stop()


# ------------------------------------------------------------- a client that never reads


class DeafClient:
    """A WebSocket client that stops reading after the handshake, with small socket buffers.

    (``websockets``' own client keeps reading into its queue; this one lets the server's
    send buffer fill, as a stuck or malicious client would.)
    """

    def __init__(self, url: str) -> None:
        self._protocol = ClientProtocol(parse_uri(url), max_size=None)
        self._uri = parse_uri(url)
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (self._uri.host, self._uri.port))
        reader, self._writer = await asyncio.open_connection(sock=sock, limit=1024)
        self._protocol.send_request(self._protocol.connect())
        await self._flush()
        while self._protocol.state is State.CONNECTING:
            self._protocol.receive_data(await reader.read(4096))
        if self._protocol.handshake_exc is not None:
            raise self._protocol.handshake_exc

    async def send(self, message: str | bytes) -> None:
        if isinstance(message, str):
            self._protocol.send_text(message.encode())
        else:
            self._protocol.send_binary(message)
        await self._flush()

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.transport.abort()

    async def _flush(self) -> None:
        assert self._writer is not None
        self._writer.write(b"".join(self._protocol.data_to_send()))
        await self._writer.drain()


# ------------------------------------------------------------- healthy traffic

HEALTHY_AUDIO = np.concatenate([silence_s(0.2), tone_s(0.6), silence_s(0.5), tone_s(0.8), silence_s(0.5)])
HEALTHY_CONFIG: dict[str, Any] = {
    **SEED_CONFIG,
    "streaming_whisper_params": {**SEED_CONFIG["streaming_whisper_params"], "enable_partial_transcripts": False},
}


@functools.cache
def healthy_transcripts(repeats: int = 1) -> list[str]:
    """The finals a healthy session over ``HEALTHY_AUDIO`` gets (sizes of padded speech)."""
    from whisper_stream.core.session import Session
    from whisper_stream.protocol.config import parse_session_config

    session = Session(parse_session_config(json.dumps(HEALTHY_CONFIG)), EnergyScorer())
    session.receive_audio(np.concatenate([HEALTHY_AUDIO] * repeats), 0.0)
    session.end_of_stream(0.0)
    while requests := session.requests_to_run():  # a final is asked for once those before it are sent
        for request in requests:
            samples = request.end_sample - request.start_sample
            session.receive_result(request.request_id, result_for(f"{samples} samples", samples / SAMPLE_RATE_HZ))
    return [m["transcript"] for m in session.messages_to_send() if m.get("is_final")]


async def healthy_session(url: str, *, repeats: int = 1, speed: float | None = 20.0) -> StreamResult:
    """A well-behaved client: the seed config, speech with pauses, terminate."""
    audio = np.concatenate([HEALTHY_AUDIO] * repeats)
    return await stream(url, audio, config=HEALTHY_CONFIG, speed=speed, timeout_s=30.0)


def assert_healthy(result: StreamResult, *, repeats: int = 1) -> None:
    """The healthy session was untouched: every final, in order, session_end, close 1000."""
    assert result.close_code == 1000, (result.close_code, result.close_reason, result.messages)
    assert [f["transcript"] for f in result.finals] == healthy_transcripts(repeats)
    nums = [f["transcription_num"] for f in result.finals]
    assert nums == list(range(len(nums)))
    [end] = result.of_type("session_end")
    assert end["finals_sent"] == len(nums)
    assert not result.of_type("error")


def assert_rejected(result: StreamResult, code: str, close_code: int, *fragments: str) -> dict[str, Any]:
    """One error message, last, naming what is wrong; the close code; no traceback anywhere."""
    assert result.messages, "no reply at all"
    error = result.messages[-1][1]
    assert error["type"] == "error", result.messages
    assert len(result.of_type("error")) == 1
    assert error["code"] == code, error
    for fragment in fragments:
        assert fragment in error["message"], error
    assert result.close_code == close_code, (result.close_code, error)
    wire = json.dumps([m for _, m in result.messages]) + result.close_reason
    assert "Traceback" not in wire and 'File "' not in wire
    return error
