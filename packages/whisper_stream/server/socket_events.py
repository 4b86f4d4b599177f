"""What the session runner reacts to: typed events, from the socket, the engine and the replica.

Also the few helpers both the runner and ``serve_session`` need: the peer-gone
exception and a close that is bounded in time.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from whisper_stream import metrics
from whisper_stream.protocol import messages
from whisper_stream.protocol.errors import ClientError, CloseCode
from whisper_stream.protocol.messages import Control


class WebSocketLike(Protocol):
    async def receive(self) -> Mapping[str, Any]: ...

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class Disconnected(Exception):
    """The peer went away; nothing more can be sent."""


class EventKind(enum.Enum):
    AUDIO = "audio"
    """A binary frame from the client."""
    TEXT = "text"
    """A text frame from the client (after the config: control messages)."""
    DISCONNECT = "disconnect"
    """The connection closed (payload: the close code)."""
    READ_FAILED = "read_failed"
    """Reading the socket raised (payload: the exception)."""
    RESULT = "result"
    """A decode finished, failed, or was cancelled by the engine (payload: request and future)."""
    DRAIN = "drain"
    """The replica is shutting down: finish and close 1012."""
    RECLAIM = "reclaim"
    """The replica is full and this session sends no audio: finish and close 1000, the slot goes to a newcomer."""


@dataclass(frozen=True)
class Event:
    kind: EventKind
    payload: Any = None
    arrived_s: float = 0.0
    size_bytes: int = 0


async def close_within(
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


def disconnected(code: Any, when: str) -> Disconnected:
    """The exception for a connection that closed with ``code``; ``when``: "before sending the config", …"""
    if code == CloseCode.MESSAGE_TOO_BIG:  # refused by the WebSocket layer under us (``ws_layer``), not by the client
        metrics.ERRORS.labels(code="frame_too_large").inc()
        return Disconnected(f"a message over the WebSocket layer's cap {when}: it closed the connection (1009)")
    if code == CloseCode.SERVICE_RESTART:
        return Disconnected(f"the server closed the connection (1012) {when}, shutting down")
    return Disconnected(f"client disconnected {when} (code {code})")


def is_keepalive(kind: EventKind, payload: Any) -> bool:
    try:
        return kind is EventKind.TEXT and messages.parse_control(payload) is Control.KEEPALIVE
    except ClientError:
        return False


def unpack(message: Mapping[str, Any]) -> tuple[EventKind, Any]:
    """An ASGI websocket message as (AUDIO, bytes) / (TEXT, str) / (DISCONNECT, code)."""
    if message.get("type") == "websocket.disconnect":
        return EventKind.DISCONNECT, message.get("code")
    if message.get("bytes") is not None:
        return EventKind.AUDIO, message["bytes"]
    if message.get("text") is not None:
        return EventKind.TEXT, message["text"]
    raise ClientError("empty websocket message")
