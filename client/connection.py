"""Opening the WebSocket, and turning handshake failures and close codes into errors."""

from __future__ import annotations

import errno
import socket
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

from client.endpoint import API_KEY_ENV, LOCAL_PATH, is_baseten_url, is_loopback
from client.errors import AuthError, ConnectError, NotFoundError, ServerClosedError, UsageError
from client.options import StreamerOptions

CLOSE_CODE_MEANINGS = {
    1000: "normal closure",
    1001: "server going away",
    1003: "unsupported audio",
    1006: "connection lost",
    1007: "invalid data",
    1008: "policy violation: bad config or over a limit",
    1009: "frame too big",
    1011: "internal server error",
    1012: "server restarting",
    1013: "server full, try again later",
}
TRANSIENT_CLOSE_CODES = frozenset({1001, 1006, 1011, 1012, 1013})
CLOSE_TIMEOUT_S = 2.0


async def open_connection(options: StreamerOptions) -> ClientConnection:
    try:
        return await connect(
            options.url,
            additional_headers=options.headers,
            open_timeout=options.connect_timeout_s,
            close_timeout=CLOSE_TIMEOUT_S,
            max_size=options.max_message_bytes,
            compression=None,  # audio does not deflate; the server sees frames as sent
            proxy=None if is_loopback(options.url) else True,
        )
    except InvalidStatus as exc:
        raise handshake_error(exc.response.status_code, options) from exc
    except InvalidURI as exc:
        raise UsageError(f"invalid URL {options.url}: {exc}") from exc
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        raise ConnectError(f"cannot connect to {options.url}: {_describe(exc, options)}") from exc


def handshake_error(status: int, options: StreamerOptions) -> Exception:
    if not is_baseten_url(options.url) and status in (403, 404):
        return _not_baseten_refusal(status, options.url)
    if status in (401, 403):
        hint = (
            f"check {API_KEY_ENV}" if "Authorization" in options.headers else f"no API key was sent: set {API_KEY_ENV}"
        )
        return AuthError(f"authentication failed (HTTP {status}) at {options.url}: {hint}")
    if status == 404:
        return NotFoundError(
            f"not found (HTTP 404): no model or route at {options.url}; "
            "check --model-id/--environment/--deployment or the --url path"
        )
    transient = status == 429 or status >= 500
    return ConnectError(f"the server rejected the connection (HTTP {status}) at {options.url}", transient=transient)


def _not_baseten_refusal(status: int, url: str) -> Exception:
    """403/404 from a server that is not Baseten's: a wrong path, most likely.

    Starlette (truss's server) answers a WebSocket handshake on an unknown path
    with 403, and no API key is ever sent to such a host.
    """
    parts = urlsplit(url)
    if parts.path != LOCAL_PATH:
        local = urlunsplit((parts.scheme, parts.netloc, LOCAL_PATH, "", ""))
        return NotFoundError(
            f"no WebSocket endpoint at {parts.path or '/'} (HTTP {status} from {parts.netloc}): "
            f"the path is probably wrong; the local server's is {LOCAL_PATH}, e.g. {local}"
        )
    if status == 404:
        return NotFoundError(f"not found (HTTP 404) at {url}")
    return AuthError(
        f"the server refused the connection (HTTP 403) at {url}; "
        f"{API_KEY_ENV} is only sent to wss:// hosts under baseten.co"
    )


def close_error(
    close_code: int | None,
    close_reason: str,
    error_message: dict[str, Any] | None,
    *,
    early: bool = False,
) -> ServerClosedError:
    meaning = CLOSE_CODE_MEANINGS.get(close_code or 0, "closed")
    summary = f"the server closed the session with {close_code} ({meaning})"
    if early and error_message is None:
        summary += " before the end of the audio"
    error_code = str(error_message["code"]) if error_message and error_message.get("code") else None
    detail = str(error_message.get("message") or "") if error_message else close_reason
    if error_code:
        detail = f"{error_code}: {detail}" if detail else error_code
    message = f"{summary}: {detail}" if detail else summary
    return ServerClosedError(
        message,
        close_code=close_code,
        error_code=error_code,
        transient=close_code in TRANSIENT_CLOSE_CODES,
    )


def _describe(exc: BaseException, options: StreamerOptions) -> str:
    # With several addresses (localhost: ::1 and 127.0.0.1) asyncio raises one OSError
    # that lists them all, so look for the errno in the text too.
    if isinstance(exc, ConnectionRefusedError) or f"[Errno {errno.ECONNREFUSED}]" in str(exc):
        if is_loopback(options.url):
            return "connection refused (is the server running? `make serve` starts the local one)"
        return "connection refused (is the server running?)"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host ({exc.strerror})"
    if isinstance(exc, TimeoutError):
        return f"no answer within {options.connect_timeout_s:g} s"
    return str(exc) or type(exc).__name__
