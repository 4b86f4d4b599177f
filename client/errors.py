"""Errors the streamer reports, each with a one-line message and an exit code.

Exception tree::

    StreamError                  root; ``exit_code`` 1
    ├── UsageError               bad options found before connecting (2)
    ├── AudioSourceError         file unreadable, microphone unavailable (8)
    ├── AuthError                HTTP 401/403 on the handshake (3)
    ├── NotFoundError            HTTP 404 on the handshake: no such model (4)
    ├── ConnectError             refused, DNS, timeout, other HTTP status (5)
    ├── ServerClosedError        the server closed with an error code (6)
    └── FinishTimeoutError       no session_end/close within the finish timeout (7)

``transient`` marks the failures ``--reconnect`` retries. ``result`` carries what
was received before the failure, so the CLI can still write its outputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from client.messages import StreamResult


class StreamError(Exception):
    exit_code = 1
    transient = False

    def __init__(self, message: str, *, transient: bool | None = None) -> None:
        super().__init__(message)
        if transient is not None:
            self.transient = transient
        self.result: StreamResult | None = None


class UsageError(StreamError):
    exit_code = 2


class AuthError(StreamError):
    exit_code = 3


class NotFoundError(StreamError):
    exit_code = 4


class ConnectError(StreamError):
    exit_code = 5
    transient = True


class ServerClosedError(StreamError):
    exit_code = 6

    def __init__(
        self,
        message: str,
        *,
        close_code: int | None,
        error_code: str | None = None,
        transient: bool | None = None,
    ) -> None:
        super().__init__(message, transient=transient)
        self.close_code = close_code
        self.error_code = error_code


class FinishTimeoutError(StreamError):
    exit_code = 7


class AudioSourceError(StreamError):
    exit_code = 8
