"""The local server trusts no web page: an ASGI middleware that refuses requests from other origins.

The local server (``scripts/serve_local.py``) checks no API key, so any page open in the developer's
browser could open ``ws://127.0.0.1:8080/v1/websocket`` (browsers let any page open a WebSocket anywhere),
hold its slots and stream into it; with DNS rebinding (a name of the attacker's that resolves to
127.0.0.1) it could read ``/metrics`` too. Browsers say where a request comes from, and pages cannot lie
about it:

- ``Origin``: every WebSocket handshake a browser makes, and every cross-origin ``fetch``, carries the
  page's origin. A request with an ``Origin`` not in ``allowed_origins`` is refused with 403 (a WebSocket
  before its handshake completes).
- ``Host``: a rebound page's requests name the attacker's host. A ``Host`` other than a loopback name
  (``127.0.0.1``, ``localhost``, ``[::1]``, any port) or an allowed origin's host is refused with 403.

Clients that are not browsers (the CLI, LiveKit's and pipecat's plugins, Baseten's example client) send
no ``Origin`` and a loopback ``Host``: unaffected. ``*`` allows every origin and host. On Baseten the API
key guards the model, and browsers cannot send it in a WebSocket handshake; this check is for the local
server (``ALLOWED_ORIGINS``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


class OriginCheck:
    """Wraps an ASGI app: HTTP and WebSocket requests from a disallowed ``Origin`` or ``Host`` get 403."""

    def __init__(self, app: ASGIApp, *, allowed_origins: Iterable[str] = ()) -> None:
        self.app = app
        origins = {origin.strip().rstrip("/").lower() for origin in allowed_origins if origin.strip()}
        self.allow_all = "*" in origins
        self.allowed_origins = frozenset(origins - {"*"})
        self.allowed_hosts = LOOPBACK_HOSTS | {urlsplit(origin).hostname or "" for origin in self.allowed_origins}

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
        if scope["type"] in ("http", "websocket") and not self.allow_all:
            refusal = self.refusal(_header(scope, b"origin"), _header(scope, b"host"))
            if refusal is not None:
                logger.warning("refused a %s request to %s: %s", scope["type"], scope.get("path", ""), refusal)
                await _refuse(scope, receive, send, refusal)
                return
        await self.app(scope, receive, send)

    def refusal(self, origin: str | None, host: str | None) -> str | None:
        """Why a request with these headers is refused, or None when it may go on."""
        if origin is not None and origin.rstrip("/").lower() not in self.allowed_origins:
            return f"Origin {origin!r} is not allowed (ALLOWED_ORIGINS)"
        if host is not None and _hostname(host) not in self.allowed_hosts:
            return f"Host {host!r} is not a loopback name (ALLOWED_ORIGINS)"
        return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8080
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _refuse(scope: Scope, receive: Callable[[], Awaitable[Message]], send: Any, reason: str) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008, "reason": reason})  # before accept: HTTP 403
        return
    body = f"403 Forbidden: {reason}\n".encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})
