"""Runs one ``Session`` over one WebSocket, one typed event at a time.

One task reads the socket into an event queue (bounded in bytes: the reader
pauses past ``max_read_ahead_bytes``); decode results, drain and reclaim requests
join the same queue; everything that changes the session happens in one loop, so
no locks are needed. Audio frames reach the session through ``audio_frames`` (VAD
batched with every other session's on the loop; a large frame in pieces, in a
worker thread). Whisper runs in the engine's threads. When the session must end
whatever the client does is ``session_timers``'s business.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from concurrent.futures import Future
from typing import Any

import numpy as np

from whisper_stream import metrics
from whisper_stream.audio.decoding import AudioDecoder
from whisper_stream.core.session import Session, SessionState
from whisper_stream.core.speakers import SpeakerSettings
from whisper_stream.inference.engine import Engine, EngineStoppedError
from whisper_stream.inference.requests import TranscriptionRequest
from whisper_stream.protocol import messages
from whisper_stream.protocol.config import SessionConfig
from whisper_stream.protocol.errors import (
    CloseCode,
    FrameTooLargeError,
    InternalError,
    LimitExceededError,
    ServerBusyError,
    ServerShutdownError,
    StreamingError,
)
from whisper_stream.protocol.messages import Control
from whisper_stream.protocol.results import TranscriptionResult
from whisper_stream.samples import SAMPLE_RATE_HZ
from whisper_stream.server import loop_lag
from whisper_stream.server.audio_frames import AudioFrames
from whisper_stream.server.drain import Drain
from whisper_stream.server.limits import Limits
from whisper_stream.server.session_timers import Deadline, SessionTimers
from whisper_stream.server.socket_events import (
    Disconnected,
    Event,
    EventKind,
    WebSocketLike,
    close_within,
    disconnected,
    unpack,
)

_MESSAGE_OVERHEAD_BYTES = 64
"""Counted per message read ahead on top of its payload, so a flood of tiny text frames is bounded too."""


class SessionRunner:
    """One session over one WebSocket: reads the socket, feeds the session, hands its requests to the engine."""

    def __init__(
        self,
        websocket: WebSocketLike,
        engine: Engine,
        limits: Limits,
        log: logging.LoggerAdapter,
        drain: Drain | None,
    ) -> None:
        self.websocket = websocket
        self.engine = engine
        self.limits = limits
        self.log = log
        self.drain = drain
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.futures: dict[int, Future[TranscriptionResult]] = {}
        self.read_ahead_bytes = 0  # client messages read, not yet handled
        self.may_read = asyncio.Event()
        self.may_read.set()
        self.discarding = False  # the stream has ended: what the client sends from now on is dropped, not queued
        self.discarded = 0
        self.closing_error: StreamingError | None = None  # raised once the last finals are sent
        self.close_reason = "session ended"
        self.timers = SessionTimers(limits, self.loop.time())
        self.session: Session | None = None
        self.frames: AudioFrames | None = None
        self.next_message: asyncio.Future[Any] | None = None
        """A ``receive()`` already in flight (started while the connection waited for its slot): read first."""

    # ------------------------------------------------------------ admission's view (``SlotHolder``)

    def silent_for_s(self, now_s: float) -> float:
        return self.timers.silent_for_s(now_s)

    def reclaim(self) -> None:
        self.events.put_nowait(Event(EventKind.RECLAIM))

    # ------------------------------------------------------------ the session

    async def run(self, config: SessionConfig) -> None:
        """Run the session of ``config`` (the connection's first message) to its end."""
        loop_lag.ensure_monitor()
        self.timers = SessionTimers(self.limits, self.loop.time())
        for text in config.warnings:  # accepted but ignored or unusual: said once, then the session goes on
            await self._send(messages.warning_message(text))
        rate_hz = config.streaming.sample_rate_hz
        self.frames = AudioFrames(AudioDecoder(config.streaming.encoding, rate_hz), self.engine.new_scorer(rate_hz))
        limits, speakers = self.limits, self.engine.speakers
        self.session = Session(
            config,
            self.frames.scorer,
            context_s=limits.final_context_s,
            sampling_limits=limits.sampling,
            speakers=None if speakers is None else SpeakerSettings(speakers.threshold, speakers.max_speakers),
        )
        await self._flush_outbox(self.session)  # what the session clamped, right after the config's warnings
        self.log.info(
            "config: %s at %d Hz, language %s, partials %s, stream id %s",
            config.streaming.encoding,
            config.streaming.sample_rate_hz,
            config.whisper.audio_language,
            config.streaming.enable_partial_transcripts,
            config.stream_id or "-",
        )
        reader = asyncio.create_task(self._read_socket())
        if self.drain is not None:
            self.drain.register(self, lambda: self.events.put_nowait(Event(EventKind.DRAIN)))
        try:
            await self._main_loop(self.session)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            for future in self.futures.values():
                self.engine.cancel(future)
        if self.discarded:
            self.log.info("ignored %d message(s) received after the end of the stream", self.discarded)
        self.log.info(
            "session ended: %.1f s audio, %d finals, %d partials",
            self.session.audio_duration_s,
            self.session.outbox.finals_sent,
            self.session.outbox.partials_sent,
        )
        if self.closing_error is not None:
            raise self.closing_error
        timeout_s = self.limits.send_timeout_s
        await close_within(self.websocket, int(CloseCode.NORMAL), self.close_reason, timeout_s, self.log)

    async def _read_socket(self) -> None:
        """Move client messages to the event queue, up to ``max_read_ahead_bytes`` ahead of their handling.

        Only the VAD (fast) can hold reading up; waiting for Whisper (slow) never does, because keepalive
        pongs arrive behind the audio (see ``Limits``). That wait is bounded by ``max_pending_audio_s``.
        Text frames count too, so a flood of them cannot pile up while a send is blocked. Once the stream
        has ended, what the client sends is counted and dropped: it can neither fill the queue nor hold up
        the deadline of the last finals.
        """
        try:
            while True:
                await self.may_read.wait()
                kind, payload = unpack(await self._receive())
                if self.discarding and kind in (EventKind.AUDIO, EventKind.TEXT):
                    self.discarded += 1
                    continue
                size = _MESSAGE_OVERHEAD_BYTES + (len(payload) if isinstance(payload, bytes | str) else 0)
                self.read_ahead_bytes += size
                if self.read_ahead_bytes >= self.limits.max_read_ahead_bytes:
                    self.may_read.clear()
                self.events.put_nowait(Event(kind, payload, self.loop.time(), size))
                if kind is EventKind.DISCONNECT:
                    return
        except Exception as exc:  # handed to the main loop, which owns error handling
            self.events.put_nowait(Event(EventKind.READ_FAILED, exc))

    async def _receive(self) -> Any:
        if self.next_message is not None:
            pending, self.next_message = self.next_message, None
            return await pending
        return await self.websocket.receive()

    # ------------------------------------------------------------ the loop

    async def _main_loop(self, session: Session) -> None:
        while session.state is not SessionState.CLOSED:
            due = self.timers.due(self.loop.time(), input_waiting=not self.events.empty())
            if due is not None:  # the finish and duration deadlines come even while input keeps coming
                await self._on_deadline(session, due)
            elif not self.events.empty():
                # Input already read comes before any other deadline: a session behind must not take its own
                # backlog for a client that stopped sending (the input-stall rule would cut its utterances short).
                await self._on_event(session, self.events.get_nowait())
            else:
                try:
                    event = await asyncio.wait_for(self.events.get(), timeout=self._time_to_deadline(session))
                except TimeoutError:
                    if self.events.empty():  # else input came in while the timeout was delivered: it goes first
                        session.tick(self.loop.time())
                else:
                    await self._on_event(session, event)
            self._dispatch(session)
            await self._flush_outbox(session)
            await self._check_backlog(session)

    def _time_to_deadline(self, session: Session) -> float:
        deadlines = [self.timers.next_deadline()[0]]
        if session.next_deadline_s is not None and self.timers.finish_by_s is None:
            deadlines.append(session.next_deadline_s)
        return max(min(deadlines) - self.loop.time(), 0.0)

    async def _on_deadline(self, session: Session, due: Deadline) -> None:
        now = self.loop.time()
        if due is Deadline.FINISH:  # overload, not a bug: say so, and free the slot
            raise ServerBusyError(
                f"the server is overloaded: the last finals did not complete within "
                f"{self.limits.finish_timeout_s:g} s of the end of the stream; retry later"
            )
        if due is Deadline.DURATION:
            limit_s = self.limits.max_session_duration_s
            error = LimitExceededError(f"session reached its maximum of {limit_s:g} s since its config")
            await self._end_stream(session, "duration", error)
        elif due is Deadline.IDLE:  # finals, session_end, close 1000: idle is no error
            await self._end_stream(session, f"idle for {now - self.timers.last_message_s:.1f} s", reason="idle")
        else:
            silent_s = self.timers.silent_for_s(now)
            await self._end_stream(session, f"no audio for {silent_s:.1f} s", reason="no audio")

    async def _on_event(self, session: Session, event: Event) -> None:
        if event.size_bytes:
            self.read_ahead_bytes -= event.size_bytes
            if self.read_ahead_bytes < self.limits.max_read_ahead_bytes:
                self.may_read.set()
        kind = event.kind
        if kind is EventKind.DISCONNECT:
            raise disconnected(event.payload, "mid-stream")
        if kind is EventKind.READ_FAILED:
            raise event.payload
        if kind is EventKind.RESULT:
            self._on_result(session, *event.payload)
        elif kind is EventKind.DRAIN:
            if session.state is SessionState.STREAMING:
                await self._end_stream(session, "shutdown", ServerShutdownError("the server is shutting down"))
            elif self.closing_error is None:
                self.closing_error = ServerShutdownError("the server is shutting down")
        elif kind is EventKind.RECLAIM:
            if session.state is SessionState.STREAMING:
                silent_s = self.timers.silent_for_s(self.loop.time())
                await self._end_stream(session, f"slot reclaimed: no audio for {silent_s:.1f} s", reason="idle")
        elif session.state is SessionState.STREAMING:  # else read before the end of stream, handled after it
            self.timers.message(event.arrived_s, audio=kind is EventKind.AUDIO)
            await self._on_client_message(session, event)
        else:
            self.discarded += 1

    async def _on_client_message(self, session: Session, event: Event) -> None:
        if event.kind is EventKind.TEXT:
            control = messages.parse_control(event.payload)
            if control is Control.TERMINATE:
                await self._end_stream(session, "client")
            elif control is Control.FINALIZE:
                session.finalize(self.loop.time())
            return
        frame: bytes = event.payload
        if len(frame) > self.limits.max_frame_bytes:
            raise FrameTooLargeError(
                f"audio frame of {len(frame)} bytes is over the {self.limits.max_frame_bytes} byte cap"
            )
        if not frame:
            return
        assert self.frames is not None
        await self.frames.ingest(session, frame, event.arrived_s, stop=lambda: self._over_a_limit(session))
        if session.audio_duration_s > self.limits.max_session_duration_s:
            await self._end_stream(
                session,
                "duration",
                LimitExceededError(f"session reached its maximum of {self.limits.max_session_duration_s:g} s of audio"),
            )

    def _over_a_limit(self, session: Session) -> bool:
        """Whether the session's audio or backlog is over its limit: the rest of a large frame is not taken."""
        backlog_s = session.pending_final_samples / SAMPLE_RATE_HZ
        return backlog_s > self.limits.max_pending_audio_s or (
            session.audio_duration_s > self.limits.max_session_duration_s
        )

    async def _check_backlog(self, session: Session) -> None:
        """Audio in finals waiting for Whisper over ``max_pending_audio_s``: finish what is in, then close."""
        if session.state is not SessionState.STREAMING:
            return
        backlog_s = session.pending_final_samples / SAMPLE_RATE_HZ
        if backlog_s <= self.limits.max_pending_audio_s:
            return
        self.log.warning("%.1f s of audio waiting to be transcribed; ending the session", backlog_s)
        await self._end_stream(
            session,
            "backlog",
            LimitExceededError(
                f"{backlog_s:.0f} s of audio were waiting to be transcribed, over the limit of "
                f"{self.limits.max_pending_audio_s:g} s; audio after {session.audio_duration_s:.1f} s was not "
                "transcribed. Send audio no faster than the server can transcribe it"
            ),
        )

    async def _end_stream(
        self, session: Session, why: str, error: StreamingError | None = None, *, reason: str = "session ended"
    ) -> None:
        """End of stream: every buffered sample becomes finals; with ``error``, it is raised once they are sent.

        Whatever the client sends from now on is dropped, but the socket is still read (disconnect) while the
        last finals are decoded and sent. ``reason`` goes with the normal close.
        """
        assert self.frames is not None
        decoder = self.frames.decoder
        if decoder.pending_bytes:
            self.log.warning("%d trailing byte(s) do not make a whole sample", decoder.pending_bytes)
        await asyncio.to_thread(self._end_in_thread, session, decoder.flush(), self.loop.time())
        self.log.info("end of stream (%s)", why)
        self.timers.finishing(self.loop.time())
        self.close_reason = reason
        self.discarding = True
        self.may_read.set()
        if error is not None:
            self.closing_error = error

    @staticmethod
    def _end_in_thread(session: Session, tail: np.ndarray, now_s: float) -> None:
        session.receive_audio(tail, now_s)  # the VAD runs here, off the event loop
        session.end_of_stream(now_s)

    # ------------------------------------------------------------ requests

    def _dispatch(self, session: Session) -> None:
        """Hand the session's new requests to the engine; withdraw and promote as it asks."""
        while requests := session.requests_to_run():
            for request in requests:
                self._submit(session, request)
        for request_id in session.requests_to_cancel():
            future = self.futures.pop(request_id, None)
            if future is not None:
                self.engine.cancel(future)
        for request_id in session.requests_to_promote():
            future = self.futures.get(request_id)
            if future is not None:
                self.engine.promote(future)

    def _submit(self, session: Session, request: TranscriptionRequest) -> None:
        try:
            future = self.engine.submit(request, owner=self)  # the decoder shared fairly between sessions
        except EngineStoppedError:
            raise ServerShutdownError("the server is shutting down") from None
        if future is None:  # a partial or an early final, refused while the engine is busy
            session.request_dropped(request.request_id)
            return
        self.futures[request.request_id] = future
        future.add_done_callback(lambda f: self._deliver_threadsafe(request, f))

    def _deliver_threadsafe(self, request: TranscriptionRequest, future: Future[TranscriptionResult]) -> None:
        """Done callback, run in an engine thread (or here, if already done)."""
        with contextlib.suppress(RuntimeError):  # a closed loop: the server is gone, the session with it
            self.loop.call_soon_threadsafe(self._deliver, request, future)

    def _deliver(self, request: TranscriptionRequest, future: Future[TranscriptionResult]) -> None:
        if self.futures.get(request.request_id) is future:  # else withdrawn by the session: nobody waits
            self.events.put_nowait(Event(EventKind.RESULT, (request, future)))

    def _on_result(self, session: Session, request: TranscriptionRequest, future: Future[TranscriptionResult]) -> None:
        self.futures.pop(request.request_id, None)
        if future.cancelled():  # by the engine (stopping): a final is asked for again, a partial forgotten
            session.request_dropped(request.request_id)
            return
        exc = future.exception()
        if exc is not None:
            raise InternalError("transcription failed") from exc
        session.receive_result(request.request_id, future.result(), now_s=self.loop.time())

    async def _flush_outbox(self, session: Session) -> None:
        for latency_s in session.outbox.take_final_latencies_s():
            metrics.FINAL_LATENCY_SECONDS.observe(latency_s)
        metrics.FINALS_WITHOUT_CONTEXT.inc(session.outbox.take_finals_without_context())
        for message in session.messages_to_send():
            if message.get("type") == "transcription":
                metrics.TRANSCRIPTS_SENT.labels(kind="final" if message["is_final"] else "partial").inc()
            await self._send(message)

    async def _send(self, message: dict[str, Any]) -> None:
        try:
            await asyncio.wait_for(self.websocket.send_text(json.dumps(message)), timeout=self.limits.send_timeout_s)
        except TimeoutError:
            raise LimitExceededError("client is not reading; send timed out") from None
        except Exception as exc:
            raise Disconnected("the connection closed while sending") from exc
