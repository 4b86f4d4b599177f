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
import contextlib
import json
import logging
import uuid
from collections.abc import Mapping
from concurrent.futures import Future
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
    ServerBusyError,
    StreamingError,
)
from whisper_stream.limits import Limits
from whisper_stream.logs import SessionLog, bind_session_id
from whisper_stream.messages import Control
from whisper_stream.results import TranscriptionResult
from whisper_stream.session import RequestKind, Session, SessionState, TranscriptionRequest
from whisper_stream.vad import SAMPLE_RATE_HZ

logger = logging.getLogger(__name__)


class WebSocketLike(Protocol):
    async def receive(self) -> Mapping[str, Any]: ...

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class _Disconnected(Exception):
    """The peer went away; nothing more can be sent."""


async def serve_session(
    websocket: WebSocketLike, engine: Engine, *, limits: Limits = Limits(), session_id: str | None = None
) -> None:
    """Run one session to its end. Never raises for anything the peer did, nor for our own bugs."""
    session_id = session_id or uuid.uuid4().hex[:12]
    log = SessionLog(logger, session_id)
    with bind_session_id(session_id):
        try:
            if not engine.running:
                raise ServerBusyError("the model is not loaded yet; retry later")
            with engine.session_slot():
                metrics.SESSIONS_TOTAL.labels(outcome="accepted").inc()
                log.info("session opened (%d open)", engine.open_sessions)
                await _SessionRunner(websocket, engine, limits, log).run()
        except _Disconnected:
            log.info("client disconnected")
        except StreamingError as exc:
            await _fail(websocket, exc, log, limits)
        except Exception as exc:
            await _fail(websocket, InternalError("unexpected error"), log, limits, cause=exc)


async def _fail(
    websocket: WebSocketLike,
    exc: StreamingError,
    log: logging.LoggerAdapter,
    limits: Limits,
    *,
    cause: BaseException | None = None,
) -> None:
    """Tell the peer what went wrong (never a traceback) and close with the code of ``exc``."""
    metrics.ERRORS.labels(code=exc.code).inc()
    if exc.code == "server_busy":
        metrics.SESSIONS_TOTAL.labels(outcome="refused").inc()
    if exc.public:
        log.info("closing with %d %s: %s", exc.close_code, exc.code, exc)
    else:  # our bug: the traceback goes to the log, and only there
        log.error("closing with %d %s: %s", exc.close_code, exc.code, exc, exc_info=cause or exc)
    timeout_s = min(limits.send_timeout_s, 5.0)
    try:
        await asyncio.wait_for(
            websocket.send_text(json.dumps(messages.error_message(exc.code, exc.public_message))), timeout=timeout_s
        )
    except Exception:  # the peer may be gone already, or not reading; nothing else to tell it
        log.debug("could not send the error message", exc_info=True)
    await _close(websocket, int(exc.close_code), exc.code, timeout_s, log)


async def _close(
    websocket: WebSocketLike, code: int, reason: str, timeout_s: float, log: logging.LoggerAdapter
) -> None:
    """Close, bounded in time: a peer that does not read must not hold the session (or its slot) open.

    Starlette marks the socket closed before it sends the close frame, so a close that times out still
    makes the caller's own close (truss closes again after ``Model.websocket`` returns) a no-op.
    """
    try:
        await asyncio.wait_for(websocket.close(code=code, reason=reason), timeout=timeout_s)
    except Exception:
        log.debug("could not close the websocket cleanly", exc_info=True)


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
        self.unprocessed_bytes = 0  # audio frames read, not yet through the VAD
        self.may_read = asyncio.Event()
        self.may_read.set()
        self.discarding = False  # closing on a limit: audio read from now on is dropped, not queued
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
        await _close(self.websocket, int(CloseCode.NORMAL), "session ended", self.limits.send_timeout_s, self.log)
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
        """Move client messages to the event queue, up to ``max_read_ahead_bytes`` ahead of the VAD.

        Only the VAD (fast) can hold reading up; waiting for Whisper (slow) never does, because keepalive
        pongs arrive behind the audio (see ``Limits``). That wait is bounded by ``max_pending_audio_s``.
        """
        try:
            while True:
                await self.may_read.wait()
                kind, payload = _unpack(await self.websocket.receive())
                if kind == "bytes":
                    if self.discarding:
                        continue
                    self.unprocessed_bytes += len(payload)
                    if self.unprocessed_bytes >= self.limits.max_read_ahead_bytes:
                        self.may_read.clear()
                self.events.put_nowait((kind, payload))
                if kind == "disconnect":
                    return
        except Exception as exc:  # handed to the main loop, which owns error handling
            self.events.put_nowait(("failed", exc))

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
            if kind == "failed":
                raise payload
            if kind == "result":
                self._on_result(session, *payload)
            else:
                if kind == "bytes":
                    self.unprocessed_bytes -= len(payload)
                    if self.unprocessed_bytes < self.limits.max_read_ahead_bytes:
                        self.may_read.set()
                last_client_activity = self.loop.time()
                if await self._on_client_message(session, kind, payload) and finish_deadline is None:
                    finish_deadline = self.loop.time() + self.limits.finish_timeout_s
            self._dispatch(session)
            await self._flush_outbox(session)
            await self._check_backlog(session)

    async def _check_backlog(self, session: Session) -> None:
        """Audio in finals waiting for Whisper over ``max_pending_audio_s``: finish what is in, then close."""
        if session.state is not SessionState.STREAMING:
            return
        backlog_s = session.pending_final_samples / SAMPLE_RATE_HZ
        if backlog_s <= self.limits.max_pending_audio_s:
            return
        transcribed_to_s = session.audio_duration_s
        self.log.warning("%.1f s of audio waiting to be transcribed; ending the session", backlog_s)
        await self._finish(session, reason="backlog")
        raise LimitExceededError(
            f"{backlog_s:.0f} s of audio were waiting to be transcribed, over the limit of "
            f"{self.limits.max_pending_audio_s:g} s; audio after {transcribed_to_s:.1f} s was not transcribed. "
            "Send audio no faster than the server can transcribe it"
        )

    async def _on_client_message(self, session: Session, kind: str, payload: Any) -> bool:
        """Handle one client message; True once the stream has ended."""
        if session.state is not SessionState.STREAMING:
            # The finals of the audio before the end of stream are still owed; a stray message must not cost
            # them (nor may the outcome depend on whether it came before or after they were done).
            if not _is_keepalive(kind, payload):
                self.log.warning("ignoring a %s message received after the end of the stream", kind)
            return True
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
        # Closing on a limit: whatever the client still sends is dropped, but the socket is still read
        # (keepalive) while the last finals are decoded and sent.
        self.discarding = True
        self.may_read.set()
        self._dispatch(session)
        await self._flush_outbox(session)
        deadline = self.loop.time() + self.limits.finish_timeout_s
        while session.state is not SessionState.CLOSED:
            try:
                kind, payload = await asyncio.wait_for(self.events.get(), max(deadline - self.loop.time(), 0.0))
            except TimeoutError:
                raise InternalError("finals did not complete in time") from None
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
            future.add_done_callback(lambda f, r=request: self._deliver_threadsafe(r, f))

    def _deliver_threadsafe(self, request: TranscriptionRequest, future: Future[TranscriptionResult]) -> None:
        """Done callback, run in an engine thread (or here, if already done)."""
        with contextlib.suppress(RuntimeError):  # a closed loop: the server is gone, the session with it
            self.loop.call_soon_threadsafe(self._deliver, request, future)

    def _deliver(self, request: TranscriptionRequest, future: Future[TranscriptionResult]) -> None:
        if not future.cancelled():
            self.events.put_nowait(("result", (request, future)))

    def _on_result(self, session: Session, request: TranscriptionRequest, future: Future[TranscriptionResult]) -> None:
        self.futures.pop(request.request_id, None)
        submitted = self.submitted_at.pop(request.request_id, self.loop.time())
        exc = future.exception()
        if exc is not None:
            raise InternalError("transcription failed") from exc
        session.receive_result(request.request_id, future.result(), now_s=self.loop.time())
        if request.kind is RequestKind.FINAL:
            metrics.FINAL_LATENCY_SECONDS.observe(self.loop.time() - submitted)

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


def _is_keepalive(kind: str, payload: Any) -> bool:
    try:
        return kind == "text" and messages.parse_control(payload) is Control.KEEPALIVE
    except ClientError:
        return False


def _unpack(message: Mapping[str, Any]) -> tuple[str, Any]:
    """An ASGI websocket message as ("text", str) / ("bytes", bytes) / ("disconnect", code)."""
    if message.get("type") == "websocket.disconnect":
        return "disconnect", message.get("code")
    if message.get("bytes") is not None:
        return "bytes", message["bytes"]
    if message.get("text") is not None:
        return "text", message["text"]
    raise ClientError("empty websocket message")
