"""A scriptable WebSocket server on 127.0.0.1 and stand-in audio sources for the client tests."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers

TERMINATE = {"terminate_session": True}


@dataclass
class Recorded:
    """What one connection received, in order."""

    path: str
    headers: Headers  # case-insensitive
    messages: list[str | bytes] = field(default_factory=list)

    @property
    def config(self) -> dict[str, Any]:
        first = self.messages[0]
        assert isinstance(first, str), "the first message must be the config text"
        return json.loads(first)

    @property
    def frames(self) -> list[bytes]:
        return [m for m in self.messages if isinstance(m, bytes)]

    @property
    def controls(self) -> list[dict[str, Any]]:
        return [json.loads(m) for m in self.messages[1:] if isinstance(m, str)]


Behaviour = Callable[[ServerConnection, Recorded], Awaitable[None]]


@dataclass
class FakeServer:
    url: str
    sessions: list[Recorded]


@asynccontextmanager
async def fake_server(behaviour: Behaviour, *, reject_status: int | None = None) -> AsyncIterator[FakeServer]:
    sessions: list[Recorded] = []

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        recorded = Recorded(ws.request.path, ws.request.headers)
        sessions.append(recorded)
        await behaviour(ws, recorded)

    def process_request(connection: ServerConnection, request: Any) -> Any:
        if reject_status is not None:
            return connection.respond(reject_status, "rejected\n")
        return None

    async with serve(handler, "127.0.0.1", 0, process_request=process_request, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        yield FakeServer(f"ws://127.0.0.1:{port}/v1/websocket", sessions)


async def receive(ws: ServerConnection, recorded: Recorded) -> str | bytes:
    message = await ws.recv()
    recorded.messages.append(message)
    return message


async def receive_until_terminate(
    ws: ServerConnection, recorded: Recorded, on_frame: Callable[[int], Awaitable[None]] | None = None
) -> None:
    """Record the config, then frames until ``terminate_session``; ``on_frame(n)`` after frame n."""
    await receive(ws, recorded)
    while True:
        message = await receive(ws, recorded)
        if isinstance(message, str):
            if json.loads(message) == TERMINATE:
                return
            continue
        if on_frame is not None:
            await on_frame(len(recorded.frames))


def transcription(num: int, text: str, *, final: bool, start_s: float = 0.0, end_s: float = 1.0) -> str:
    return json.dumps(
        {
            "type": "transcription",
            "is_final": final,
            "transcript": text,
            "transcription_num": num,
            "language_code": "en",
            "confidence": 0.9,
            "segments": [{"text": text, "start_time": start_s, "end_time": end_s}],
        }
    )


def session_end(**totals: Any) -> str:
    return json.dumps({"type": "session_end", **totals})


def error(code: str, message: str) -> str:
    return json.dumps({"type": "error", "code": code, "message": message})


def free_port() -> int:
    """A port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_tone(path: Path, duration_s: float, *, sample_rate: int = 16_000, channels: int = 1) -> np.ndarray:
    """A 440 Hz tone at half scale; returns the mono signal written."""
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    mono = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    soundfile.write(str(path), np.repeat(mono[:, None], channels, axis=1), sample_rate, subtype="PCM_16")
    return mono


class LiveSource:
    """An endless microphone stand-in: a frame of zeros every ``interval_s``."""

    is_live = True

    def __init__(self, *, frame_bytes: int = 1024, interval_s: float = 0.002) -> None:
        self.frame_bytes = frame_bytes
        self.interval_s = interval_s
        self.started = 0
        self.closed = 0
        self.frames_read = 0

    async def start(self) -> None:
        self.started += 1

    async def read_frame(self) -> bytes | None:
        await asyncio.sleep(self.interval_s)
        self.frames_read += 1
        return bytes(self.frame_bytes)

    async def close(self) -> None:
        self.closed += 1


class ListSource:
    """A finite source of the given frames, unpaced."""

    is_live = False

    def __init__(self, frames: list[bytes]) -> None:
        self._frames = list(frames)
        self.closed = False

    async def start(self) -> None:
        pass

    async def read_frame(self) -> bytes | None:
        await asyncio.sleep(0)
        return self._frames.pop(0) if self._frames else None

    async def close(self) -> None:
        self.closed = True
