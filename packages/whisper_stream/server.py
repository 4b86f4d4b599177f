"""The async adapter: runs one ``Session`` over one WebSocket.

Works with any object shaped like Starlette's ``WebSocket`` (what Truss hands to
``Model.websocket``): ``receive()`` returning ASGI message dicts, ``send_text()``
and ``close()``. One task reads the socket; everything that changes the session
happens in the main loop below, one event at a time, so no locks are needed.
Decoding audio and running the VAD happen in a worker thread; Whisper runs in
the engine's threads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from whisper_stream import messages, metrics
from whisper_stream.audio import AudioDecoder
from whisper_stream.config import SessionConfig, parse_session_config
from whisper_stream.engine import Engine
from whisper_stream.errors import (
    ClientError,
    CloseCode,
    ConfigError,
    FrameTooLargeError,
    InternalError,
    LimitExceededError,
    ProtocolError,
    StreamingError,
)
from whisper_stream.messages import Control
from whisper_stream.results import TranscriptionResult
from whisper_stream.session import RequestKind, Session, SessionState, TranscriptionRequest
from whisper_stream.vad import SAMPLE_RATE_HZ

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """Per-session limits; every one is documented in the README."""

    max_frame_bytes: int = 1 << 20
    max_session_duration_s: float = 4 * 3600.0
    idle_timeout_s: float = 60.0
    config_timeout_s: float = 10.0
    max_pending_audio_s: float = 60.0
    send_timeout_s: float = 30.0
    finish_timeout_s: float = 120.0


class WebSocketLike(Protocol):
    async def receive(self) -> Mapping[str, Any]: ...

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class _Disconnected(Exception):
    """The peer went away; nothing more can be sent."""


class _SessionLog(logging.LoggerAdapter):
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"[session {self.extra['session_id']}] {msg}", kwargs


async def serve_session(
    websocket: WebSocketLike, engine: Engine, *, limits: Limits = Limits(), session_id: str | None = None
) -> None:
    """Run one session to its end. Never raises for anything the peer did."""
    log = _SessionLog(logger, {"session_id": session_id or uuid.uuid4().hex[:12]})
    try:
        with engine.session_slot():
            metrics.SESSIONS_TOTAL.labels(outcome="accepted").inc()
            log.info("session opened (%d open)", engine.open_sessions)
            await _SessionRunner(websocket, engine, limits, log).run()
    except _Disconnected:
        log.info("client disconnected")
    except StreamingError as exc:
        await _fail(websocket, exc, log)
    except Exception:
        log.exception("session failed")
        await _fail(websocket, InternalError(), log)


async def _fail(websocket: WebSocketLike, exc: StreamingError, log: logging.LoggerAdapter) -> None:
    metrics.ERRORS.labels(code=exc.code).inc()
    if exc.code == "server_busy":
        metrics.SESSIONS_TOTAL.labels(outcome="refused").inc()
    log.info("closing with %d %s: %s", exc.close_code, exc.code, exc)
    try:
        await asyncio.wait_for(
            websocket.send_text(json.dumps(messages.error_message(exc.code, exc.public_message))), timeout=5.0
        )
        await asyncio.wait_for(websocket.close(code=int(exc.close_code), reason=exc.code), timeout=5.0)
    except Exception:  # the peer may be gone already; nothing else to tell it
        log.debug("could not deliver the error", exc_info=True)


class _SessionRunner:
    def __init__(self, websocket: WebSocketLike, engine: Engine, limits: Limits, log: logging.LoggerAdapter) -> None:
        self.websocket = websocket
        self.engine = engine
        self.limits = limits
        self.log = log
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.futures: dict[int, Future[TranscriptionResult]] = {}
        self.submitted_at: dict[int, float] = {}
        self.may_read = asyncio.Event()
        self.may_read.set()
        self.session: Session | None = None
        self.decoder: AudioDecoder | None = None

    async def run(self) -> None:
        config = await self._receive_config()
        self._check_model_supports(config)
        self.decoder = AudioDecoder(config.streaming.encoding, config.streaming.sample_rate_hz)
        self.session = Session(config, self.engine.new_scorer())
        self.log.info(
            "config: %s at %d Hz, language %s, partials %s",
            config.streaming.encoding,
            config.streaming.sample_rate_hz,
            config.whisper.audio_language,
            config.streaming.enable_partial_transcripts,
        )
        reader = asyncio.create_task(self._read_socket())
        try:
            await self._main_loop(self.session)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            for future in self.futures.values():
                future.cancel()
        await self.websocket.close(code=int(CloseCode.NORMAL), reason="session ended")
        self.log.info(
            "session ended: %.1f s audio, %d finals, %d partials",
            self.session.audio_duration_s,
            self.session.finals_sent,
            self.session.partials_sent,
        )

    async def _receive_config(self) -> SessionConfig:
        try:
            message = await asyncio.wait_for(self.websocket.receive(), timeout=self.limits.config_timeout_s)
        except TimeoutError:
            raise LimitExceededError(f"no config received within {self.limits.config_timeout_s:g} s") from None
        kind, payload = _unpack(message)
        if kind == "disconnect":
            raise _Disconnected
        if kind == "bytes":
            raise ConfigError("config", "the first message must be the JSON config as text; audio came first")
        return parse_session_config(payload)

    def _check_model_supports(self, config: SessionConfig) -> None:
        language = config.whisper.audio_language
        if not self.engine.transcriber.is_multilingual and language not in ("en", "auto"):
            raise ConfigError("whisper_params.audio_language", f"this model is English-only, got {language!r}")

    async def _read_socket(self) -> None:
        while True:
            await self.may_read.wait()
            message = await self.websocket.receive()
            kind, payload = _unpack(message)
            await self.events.put((kind, payload))
            if kind == "disconnect":
                return

    async def _main_loop(self, session: Session) -> None:
        last_client_activity = self.loop.time()
        finish_deadline: float | None = None
        while session.state is not SessionState.CLOSED:
            now = self.loop.time()
            deadline = finish_deadline or last_client_activity + self.limits.idle_timeout_s
            try:
                kind, payload = await asyncio.wait_for(self.events.get(), timeout=max(deadline - now, 0.0))
            except TimeoutError:
                if finish_deadline is not None:
                    raise InternalError("finals did not complete in time") from None
                await self._finish(session, reason="idle")
                raise LimitExceededError(
                    f"no audio or keepalive for {self.limits.idle_timeout_s:g} s; session closed"
                ) from None
            if kind == "disconnect":
                raise _Disconnected
            if kind == "result":
                self._on_result(session, *payload)
            else:
                last_client_activity = self.loop.time()
                if await self._on_client_message(session, kind, payload) and finish_deadline is None:
                    finish_deadline = self.loop.time() + self.limits.finish_timeout_s
            self._dispatch(session)
            await self._flush_outbox(session)

    async def _on_client_message(self, session: Session, kind: str, payload: Any) -> bool:
        """Handle one client message; True once the stream has ended."""
        if session.state is not SessionState.STREAMING:
            if kind == "text" and messages.parse_control(payload) is Control.KEEPALIVE:
                return True
            raise ProtocolError("message received after the end of the stream")
        if kind == "text":
            control = messages.parse_control(payload)
            if control is Control.TERMINATE:
                await self._finish(session, reason="client")
                return True
            if control is Control.FINALIZE:
                session.finalize(self.loop.time())
            return False
        if len(payload) > self.limits.max_frame_bytes:
            raise FrameTooLargeError(
                f"audio frame of {len(payload)} bytes is over the {self.limits.max_frame_bytes} byte cap"
            )
        if payload:
            await asyncio.to_thread(self._ingest, session, payload, self.loop.time())
            if session.audio_duration_s > self.limits.max_session_duration_s:
                await self._finish(session, reason="duration")
                raise LimitExceededError(
                    f"session reached its maximum of {self.limits.max_session_duration_s:g} s of audio"
                )
        return False

    def _ingest(self, session: Session, frame: bytes, now_s: float) -> None:
        assert self.decoder is not None
        samples = self.decoder.decode(frame)
        metrics.AUDIO_RECEIVED_SECONDS.inc(samples.size / SAMPLE_RATE_HZ)
        session.receive_audio(samples, now_s)

    async def _finish(self, session: Session, *, reason: str) -> None:
        """End of stream: every buffered sample becomes finals, sent before returning if we close on a limit."""
        assert self.decoder is not None
        if self.decoder.pending_bytes:
            self.log.warning("%d trailing byte(s) do not make a whole sample", self.decoder.pending_bytes)
        tail = self.decoder.flush()
        now = self.loop.time()
        await asyncio.to_thread(session.receive_audio, tail, now)
        session.end_of_stream(now)
        self.log.info("end of stream (%s)", reason)
        if reason == "client":
            return
        self._dispatch(session)
        await self._flush_outbox(session)
        deadline = self.loop.time() + self.limits.finish_timeout_s
        while session.state is not SessionState.CLOSED:
            kind, payload = await asyncio.wait_for(self.events.get(), timeout=max(deadline - self.loop.time(), 0.0))
            if kind == "disconnect":
                raise _Disconnected
            if kind == "result":
                self._on_result(session, *payload)
                await self._flush_outbox(session)

    def _dispatch(self, session: Session) -> None:
        for request in session.requests_to_run():
            future = self.engine.submit(request)
            if future is None:
                session.partial_skipped(request.request_id)
                continue
            self.futures[request.request_id] = future
            self.submitted_at[request.request_id] = self.loop.time()
            future.add_done_callback(lambda f, r=request: self.loop.call_soon_threadsafe(self._deliver, r, f))
        self.may_read.set() if self._below_backpressure(session) else self.may_read.clear()

    def _deliver(self, request: TranscriptionRequest, future: Future[TranscriptionResult]) -> None:
        if not future.cancelled():
            self.events.put_nowait(("result", (request, future)))

    def _on_result(self, session: Session, request: TranscriptionRequest, future: Future[TranscriptionResult]) -> None:
        self.futures.pop(request.request_id, None)
        submitted = self.submitted_at.pop(request.request_id, self.loop.time())
        exc = future.exception()
        if exc is not None:
            raise InternalError("transcription failed") from exc
        session.receive_result(request.request_id, future.result())
        if request.kind is RequestKind.FINAL:
            metrics.FINAL_LATENCY_SECONDS.observe(self.loop.time() - submitted)

    def _below_backpressure(self, session: Session) -> bool:
        return session.pending_final_samples < self.limits.max_pending_audio_s * SAMPLE_RATE_HZ

    async def _flush_outbox(self, session: Session) -> None:
        for message in session.messages_to_send():
            if message.get("type") == "transcription":
                metrics.TRANSCRIPTS_SENT.labels(kind="final" if message["is_final"] else "partial").inc()
            try:
                await asyncio.wait_for(
                    self.websocket.send_text(json.dumps(message)), timeout=self.limits.send_timeout_s
                )
            except TimeoutError:
                raise LimitExceededError("client is not reading; send timed out") from None
            except Exception as exc:
                raise _Disconnected from exc


def _unpack(message: Mapping[str, Any]) -> tuple[str, Any]:
    """An ASGI websocket message as ("text", str) / ("bytes", bytes) / ("disconnect", code)."""
    if message.get("type") == "websocket.disconnect":
        return "disconnect", message.get("code")
    if message.get("bytes") is not None:
        return "bytes", message["bytes"]
    if message.get("text") is not None:
        return "text", message["text"]
    raise ClientError("empty websocket message")
