"""The streaming session: config first, then audio and transcripts at the same time.

``stream(options, source)`` connects, sends the config JSON, then runs two tasks:
the sender pulls frames from the source and sends them; the receiver collects
every server message. At the end of the source, or when ``stop`` is set
(Ctrl-C), the sender sends ``{"terminate_session": true}`` and the receiver
waits for the last finals, ``session_end`` and the close, as long as the server
keeps sending: it gives up after ``finish_timeout_s`` without a message (a file
sent ``--fast`` is transcribed after its end, for minutes if it is long).
Failures raise a ``StreamError`` carrying what was received so far; with
``reconnect_attempts`` a live source reconnects after transient ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from client.connection import close_error, open_connection
from client.encoding import bytes_per_sample
from client.errors import FinishTimeoutError, StreamError
from client.messages import Final, StreamResult, is_transcription, parse_final
from client.options import StreamerOptions
from client.sources import AudioSource

logger = logging.getLogger(__name__)

MessageHandler = Callable[[dict[str, Any], Final | None], None]
TERMINATE_MESSAGE = json.dumps({"terminate_session": True})
T = TypeVar("T")


async def stream(
    options: StreamerOptions,
    source: AudioSource,
    *,
    stop: asyncio.Event | None = None,
    on_message: MessageHandler | None = None,
) -> StreamResult:
    """Stream ``source`` to ``options.url``; returns the finals and every message received."""
    stop = stop or asyncio.Event()
    result = StreamResult()
    source_started = False

    async def start_source() -> None:
        nonlocal source_started
        if not source_started:
            await source.start()
            source_started = True

    retries_left = options.reconnect_attempts
    try:
        while True:
            session = _Session(options, source, result, stop, on_message)
            try:
                await session.run(start_source)
                return result
            except StreamError as exc:
                if not (exc.transient and source.is_live and options.reconnect_attempts) or stop.is_set():
                    raise
                if session.got_transcript:  # real progress: start counting again
                    retries_left = options.reconnect_attempts
                if retries_left == 0:
                    raise
                delay_s = _backoff_s(options, options.reconnect_attempts - retries_left)
                retries_left -= 1
                logger.warning("%s; reconnecting in %.1f s (%d left)", exc, delay_s, retries_left)
                await _unless_stopped(asyncio.sleep(delay_s), stop)
                if stop.is_set():
                    return result
    except StreamError as exc:
        exc.result = result
        raise
    finally:
        if source_started:
            await source.close()


class _Session:
    """One connection: its sender, its receiver and how it ended."""

    def __init__(
        self,
        options: StreamerOptions,
        source: AudioSource,
        result: StreamResult,
        stop: asyncio.Event,
        on_message: MessageHandler | None,
    ) -> None:
        self.options = options
        self.source = source
        self.result = result
        self.stop = stop
        self.on_message = on_message
        self.index = result.sessions
        self.offset_s = result.audio_sent_s
        self.bytes_per_sample = bytes_per_sample(options.session.encoding)
        self.terminated = False
        self.got_transcript = False
        self.got_session_end = False
        self.error_message: dict[str, Any] | None = None
        self.last_message_s = 0.0  # event loop time of the last message received

    async def run(self, start_source: Callable[[], Awaitable[None]]) -> None:
        ws = await _unless_stopped(open_connection(self.options), self.stop)
        if ws is None:
            return  # stopped while connecting: nothing was sent, nothing to wait for
        self.result.sessions += 1
        logger.info("connected to %s (session %d)", self.options.url, self.index + 1)
        async with ws:
            try:
                await ws.send(json.dumps(self.options.session.to_message()))
                await start_source()
                await self._exchange(ws)
            except ConnectionClosed:
                pass  # the close code below says why
        self._check_close(ws)

    async def _exchange(self, ws: ClientConnection) -> None:
        receiver = asyncio.create_task(self._receive(ws))
        sender = asyncio.create_task(self._send(ws))
        try:
            await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if sender.done() and not sender.cancelled():
                error = sender.exception()
                if error is not None and not isinstance(error, ConnectionClosed):
                    raise error
                await self._finish(receiver)
            await receiver
        finally:
            for task in (sender, receiver):
                task.cancel()
            await asyncio.gather(sender, receiver, return_exceptions=True)

    async def _finish(self, receiver: asyncio.Task[None]) -> None:
        """Wait for the receiver while messages keep coming; ``finish_timeout_s`` of silence ends it."""
        timeout_s = self.options.finish_timeout_s
        loop = asyncio.get_running_loop()
        self.last_message_s = loop.time()
        while not receiver.done():
            remaining_s = self.last_message_s + timeout_s - loop.time()
            if remaining_s <= 0:
                raise FinishTimeoutError(
                    f"no message from the server for {timeout_s:g} s after the end of the audio, "
                    "and no session_end; transcripts may be missing"
                )
            await asyncio.wait({receiver}, timeout=remaining_s)

    async def _send(self, ws: ClientConnection) -> None:
        stopped = asyncio.create_task(self.stop.wait())
        try:
            while not self.stop.is_set():
                frame = await _unless_stopped(self.source.read_frame(), self.stop, stopped)
                if frame is None:
                    break
                await ws.send(frame)
                self.result.audio_sent_s += len(frame) / self.bytes_per_sample / self.options.session.sample_rate
            await ws.send(TERMINATE_MESSAGE)
            self.terminated = True
            logger.info("sent terminate_session after %.2f s of audio", self.result.audio_sent_s)
        finally:
            stopped.cancel()

    async def _receive(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                self._handle(raw)
                if self.got_session_end and self.terminated:
                    return  # all said: no need to wait for the server's close
        except ConnectionClosed:
            pass

    def _handle(self, raw: str | bytes) -> None:
        self.last_message_s = asyncio.get_running_loop().time()
        try:
            message = json.loads(raw)
        except ValueError:
            logger.warning("ignoring a message that is not JSON: %.80r", raw)
            return
        if not isinstance(message, dict):
            logger.warning("ignoring a JSON message that is not an object: %.80r", raw)
            return
        self.result.messages.append(message)
        final = None
        kind = message.get("type")
        if is_transcription(message):
            self.got_transcript = True
            if message.get("is_final"):
                final = parse_final(message, offset_s=self.offset_s, session_index=self.index)
                self.result.finals.append(final)
        elif kind == "session_end":
            self.got_session_end = True
            self.result.session_ends.append(message)
        elif kind == "error":
            self.error_message = message
        if self.on_message is not None:
            self.on_message(message, final)

    def _check_close(self, ws: ClientConnection) -> None:
        code = ws.close_code
        if self.error_message is None and (self.got_session_end or self.terminated and code in (1000, 1001)):
            return
        raise close_error(code, ws.close_reason or "", self.error_message, early=not self.terminated)


async def _unless_stopped(
    awaitable: Awaitable[T], stop: asyncio.Event, stopped: asyncio.Future[Any] | None = None
) -> T | None:
    """``awaitable``'s result, or ``None`` (and it cancelled) once ``stop`` is set."""
    work = asyncio.ensure_future(awaitable)
    waiter = stopped or asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if stopped is None:
            waiter.cancel()
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
    return work.result() if not work.cancelled() else None


def _backoff_s(options: StreamerOptions, attempt: int) -> float:
    return min(options.reconnect_max_delay_s, options.reconnect_base_delay_s * 2**attempt)
