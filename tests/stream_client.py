"""A minimal test client: streams 16 kHz audio to the server and records every reply with its time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

SEED_CONFIG: dict[str, Any] = {
    "vad_params": {"threshold": 0.5, "min_silence_duration_ms": 300, "speech_pad_ms": 30},
    "streaming_whisper_params": {
        "encoding": "pcm_s16le",
        "sample_rate": 16000,
        "enable_partial_transcripts": True,
        "audio_language": "en",
    },
}


@dataclass
class StreamResult:
    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    audio_sent_s: float = 0.0
    last_audio_at_s: float = 0.0

    @property
    def finals(self) -> list[dict[str, Any]]:
        return [m for _, m in self.messages if m.get("type") == "transcription" and m["is_final"]]

    @property
    def partials(self) -> list[dict[str, Any]]:
        return [m for _, m in self.messages if m.get("type") == "transcription" and not m["is_final"]]

    @property
    def text(self) -> str:
        return " ".join(m["transcript"] for m in self.finals if m["transcript"])

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for _, m in self.messages if m.get("type") == kind]


def to_pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()


Pace = Callable[[StreamResult], float | None]
"""The speed to send the next frame at, from what came back so far (None: as fast as possible)."""


async def stream(
    url: str,
    audio: np.ndarray,
    *,
    config: dict[str, Any] | None = None,
    speed: float | Pace | None = None,
    frame_samples: int = 512,
    terminate: bool = True,
    timeout_s: float = 120.0,
    until: Callable[[StreamResult], bool] | None = None,
) -> StreamResult:
    """Send ``config`` then ``audio`` as pcm_s16le frames (real time × ``speed``, or as fast as possible).

    ``speed`` may follow the replies (a ``Pace``: e.g. slowly until a partial came, then faster), and
    ``until`` ends the audio early, before the next frame, once what came back holds what a test needs:
    rules on the replies, never on the clock, so a slow machine only makes the stream run longer.
    """
    pcm = to_pcm16(audio)
    frame_bytes = frame_samples * 2
    result = StreamResult()
    async with connect(url, max_size=None) as websocket:
        await websocket.send(json.dumps(SEED_CONFIG if config is None else config))
        start = time.monotonic()

        async def send() -> None:
            try:
                due = start
                for offset in range(0, len(pcm), frame_bytes):
                    if until is not None and until(result):
                        break
                    frame = pcm[offset : offset + frame_bytes]
                    await websocket.send(frame)
                    result.audio_sent_s += len(frame) / 2 / 16_000
                    now_speed = speed(result) if callable(speed) else speed
                    if now_speed:
                        due += len(frame) / 2 / 16_000 / now_speed
                        await asyncio.sleep(max(0.0, due - time.monotonic()))
                    else:
                        due = time.monotonic()
                result.last_audio_at_s = time.monotonic() - start
                if terminate:
                    await websocket.send(json.dumps({"terminate_session": True}))
            except ConnectionClosed:
                pass

        sender = asyncio.create_task(send())
        try:
            await _collect(websocket, result, start, timeout_s)
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        result.close_code = websocket.close_code
        result.close_reason = websocket.close_reason or ""
    return result


async def send_raw(url: str, *messages: str | bytes, timeout_s: float = 30.0) -> StreamResult:
    """Send messages as they are (text or binary), then read replies until the server closes."""
    result = StreamResult()
    async with connect(url, max_size=None) as websocket:
        start = time.monotonic()
        try:
            for message in messages:
                await websocket.send(message)
        except ConnectionClosed:
            pass
        await _collect(websocket, result, start, timeout_s)
        result.close_code = websocket.close_code
        result.close_reason = websocket.close_reason or ""
    return result


async def send_in_one_write(url: str, *messages: str | bytes, timeout_s: float = 60.0) -> StreamResult:
    """Send messages (text or binary) in one write of the socket, so that the server reads them together, then
    read replies until the server closes: what a client that sends faster than the server reads looks like."""
    result = StreamResult()
    async with connect(url, max_size=None) as websocket:
        start = time.monotonic()
        frames = [Frame(Opcode.TEXT if isinstance(m, str) else Opcode.BINARY, _as_bytes(m)) for m in messages]
        websocket.transport.write(b"".join(frame.serialize(mask=True, extensions=[]) for frame in frames))
        await _collect(websocket, result, start, timeout_s)
        result.close_code = websocket.close_code
        result.close_reason = websocket.close_reason or ""
    return result


async def send_frame_head(url: str, message: bytes, *, sent_bytes: int, timeout_s: float = 10.0) -> StreamResult:
    """Open a connection and, as soon as the server's handshake response came, send the first ``sent_bytes`` of a
    binary ``message``'s frame; then read until the server closes (close code None: it never did, in
    ``timeout_s``). Sent earlier, in the read of the upgrade request, uvicorn's h11 protocol would drop it."""
    uri = parse_uri(url)
    protocol = ClientProtocol(uri)
    protocol.send_request(protocol.connect())
    frame = Frame(Opcode.BINARY, message).serialize(mask=True, extensions=[])
    reader, writer = await asyncio.open_connection(uri.host, uri.port)
    result = StreamResult()
    try:
        writer.write(b"".join(protocol.data_to_send()))
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(timeout_s):
                while protocol.handshake_exc is None and not protocol.events_received():
                    protocol.receive_data(await reader.read(65536))  # until the response (an event) is parsed
                writer.write(frame[:sent_bytes])
                while data := await reader.read(65536):
                    protocol.receive_data(data)
        if protocol.close_rcvd is not None:
            result.close_code, result.close_reason = protocol.close_rcvd.code, protocol.close_rcvd.reason
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return result


def _as_bytes(message: str | bytes) -> bytes:
    return message.encode() if isinstance(message, str) else message


async def _collect(websocket: ClientConnection, result: StreamResult, start: float, timeout_s: float) -> None:
    """Record replies until the server closes (normally or not)."""
    async with asyncio.timeout(timeout_s):
        try:
            async for message in websocket:
                result.messages.append((time.monotonic() - start, json.loads(message)))
        except ConnectionClosed:
            pass
