"""Exceptions of the streaming library, and the close code each one maps to.

Every exception the library raises on purpose derives from ``StreamingError``::

    StreamingError
    ├── ClientError              the peer's mistake; its message is public
    │   ├── ConfigError          1008  bad session config (names the field)
    │   │   └── AudioFormatConfigError 1003  encoding or sample rate we can't take
    │   ├── ProtocolError        1008  a message the protocol forbids here
    │   ├── InvalidDataError     1007  NaN/inf audio, JSON nested too deep or holding a lone surrogate
    │   │   └── NotJsonError     1007  text that is not JSON
    │   ├── UnsupportedAudioError 1003 encoding or sample rate we can't take
    │   ├── FrameTooLargeError   1009  a frame over the cap
    │   └── LimitExceededError   1008  config, session duration, pending audio, send timeout
    ├── ServerBusyError          1013  replica full, try later
    ├── ServerShutdownError      1012  replica draining (deploy, scale-down): reconnect
    └── InternalError            1011  our bug; details stay in the log

Anything else that escapes is a bug too and is reported like ``InternalError``:
the peer gets a generic message, the log gets the traceback.
"""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    """WebSocket close codes the server uses (RFC 6455 section 7.4.1)."""

    NORMAL = 1000
    UNSUPPORTED_DATA = 1003
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013


class StreamingError(Exception):
    """Root of the library's exceptions."""

    code: str = "internal_error"
    close_code: CloseCode = CloseCode.INTERNAL_ERROR
    public: bool = False

    @property
    def public_message(self) -> str:
        return str(self) if self.public else "internal server error"


class ClientError(StreamingError):
    """The peer did something wrong; the message is safe to send back."""

    public = True
    code = "protocol_error"
    close_code = CloseCode.POLICY_VIOLATION


class ConfigError(ClientError):
    """The session config is invalid; ``field`` is the dotted path at fault."""

    code = "invalid_config"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class AudioFormatConfigError(ConfigError):
    """The config asks for an audio encoding or sample rate the server does not take."""

    code = "unsupported_audio"
    close_code = CloseCode.UNSUPPORTED_DATA


class ProtocolError(ClientError):
    """A message that the protocol does not allow at this point."""

    code = "protocol_error"


class InvalidDataError(ClientError):
    """A message whose payload cannot be understood."""

    code = "invalid_data"
    close_code = CloseCode.INVALID_DATA


class NotJsonError(InvalidDataError):
    """A text message that is not JSON at all."""


class UnsupportedAudioError(ClientError):
    """An audio format the server does not take."""

    code = "unsupported_audio"
    close_code = CloseCode.UNSUPPORTED_DATA


class FrameTooLargeError(ClientError):
    """A binary frame over the configured cap."""

    code = "frame_too_large"
    close_code = CloseCode.MESSAGE_TOO_BIG


class LimitExceededError(ClientError):
    """A per-session limit was reached (config, duration, pending audio, send); idle is no error: 1000."""

    code = "limit_exceeded"


class ServerBusyError(StreamingError):
    """The replica holds as many sessions as it may; the client should retry."""

    public = True
    code = "server_busy"
    close_code = CloseCode.TRY_AGAIN_LATER


class ServerShutdownError(StreamingError):
    """The replica is shutting down (a deploy, a scale-down): finals were sent; reconnect to another."""

    public = True
    code = "server_shutdown"
    close_code = CloseCode.SERVICE_RESTART


class InternalError(StreamingError):
    """A failure on our side; never described to the peer."""
