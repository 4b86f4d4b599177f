"""Tests for whisper_stream.protocol.errors: the exception tree, close codes and what the peer may see."""

from __future__ import annotations

import pytest

import whisper_stream
from whisper_stream.protocol.errors import (
    AudioFormatConfigError,
    ClientError,
    CloseCode,
    ConfigError,
    FrameTooLargeError,
    InternalError,
    InvalidDataError,
    LimitExceededError,
    ProtocolError,
    ServerBusyError,
    StreamingError,
    UnsupportedAudioError,
)

TABLE = [
    # class, close code, code string, public
    (ClientError, 1008, "protocol_error", True),
    (ProtocolError, 1008, "protocol_error", True),
    (InvalidDataError, 1007, "invalid_data", True),
    (UnsupportedAudioError, 1003, "unsupported_audio", True),
    (FrameTooLargeError, 1009, "frame_too_large", True),
    (LimitExceededError, 1008, "limit_exceeded", True),
    (ServerBusyError, 1013, "server_busy", True),
    (InternalError, 1011, "internal_error", False),
    (StreamingError, 1011, "internal_error", False),
]


def test_close_code_values() -> None:
    assert CloseCode.NORMAL == 1000
    assert CloseCode.UNSUPPORTED_DATA == 1003
    assert CloseCode.INVALID_DATA == 1007
    assert CloseCode.POLICY_VIOLATION == 1008
    assert CloseCode.MESSAGE_TOO_BIG == 1009
    assert CloseCode.INTERNAL_ERROR == 1011
    assert CloseCode.TRY_AGAIN_LATER == 1013
    assert whisper_stream.CloseCode is CloseCode


@pytest.mark.parametrize(("cls", "close_code", "code", "public"), TABLE)
def test_close_code_and_public_message(cls: type[StreamingError], close_code: int, code: str, public: bool) -> None:
    error = cls("secret detail: /srv/model.bin")
    assert error.close_code == close_code
    assert isinstance(error.close_code, CloseCode)
    assert error.code == code
    assert error.public is public
    if public:
        assert error.public_message == "secret detail: /srv/model.bin"
    else:
        assert error.public_message == "internal server error"
        assert "secret" not in error.public_message


def test_config_error() -> None:
    error = ConfigError("vad_params.threshold", "must be between 0.01 and 0.99, got 2")
    assert error.field == "vad_params.threshold"
    assert str(error) == "vad_params.threshold: must be between 0.01 and 0.99, got 2"
    assert error.public_message == str(error)
    assert error.close_code == CloseCode.POLICY_VIOLATION
    assert error.code == "invalid_config"
    assert isinstance(error, ClientError)


def test_audio_format_config_error() -> None:
    error = AudioFormatConfigError("streaming_params.sample_rate", "must be between 8000 and 48000, got 96000")
    assert isinstance(error, ConfigError)
    assert error.field == "streaming_params.sample_rate"
    assert error.close_code == CloseCode.UNSUPPORTED_DATA
    assert error.code == "unsupported_audio"
    assert error.public_message == "streaming_params.sample_rate: must be between 8000 and 48000, got 96000"


def test_internal_error_never_exposes_its_text() -> None:
    try:
        try:
            raise KeyError("session-42 state")
        except KeyError as exc:
            raise InternalError(f"engine crashed: {exc!r}") from exc
    except InternalError as error:
        assert error.public_message == "internal server error"
        assert "engine" not in error.public_message
        assert "engine crashed" in str(error)  # the log still gets the detail


@pytest.mark.parametrize(
    "cls",
    [ConfigError, ProtocolError, InvalidDataError, UnsupportedAudioError, FrameTooLargeError, LimitExceededError],
)
def test_client_errors_share_a_root(cls: type[StreamingError]) -> None:
    assert issubclass(cls, ClientError)
    assert issubclass(cls, StreamingError)


@pytest.mark.parametrize("cls", [ServerBusyError, InternalError])
def test_server_side_errors_are_not_client_errors(cls: type[StreamingError]) -> None:
    assert issubclass(cls, StreamingError)
    assert not issubclass(cls, ClientError)


def test_streaming_error_is_root_export() -> None:
    assert whisper_stream.StreamingError is StreamingError
    assert issubclass(StreamingError, Exception)
