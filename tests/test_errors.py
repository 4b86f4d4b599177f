"""Tests for whisper_stream.protocol.errors: the exception tree, close codes and what the peer may see.

Every class is found by walking the tree from ``StreamingError``, and every expectation comes from
the code (``CloseCode``, the classes) or from the module's own docstring, never from a table here:
a new exception or close code is checked the moment it exists. (docs/protocol.md and the README's
close-code tables are checked against the same walk in test_docs.py.)
"""

from __future__ import annotations

import re

import pytest

import whisper_stream
from whisper_stream.protocol import errors
from whisper_stream.protocol.errors import (
    AudioFormatConfigError,
    ClientError,
    CloseCode,
    ConfigError,
    InternalError,
    StreamingError,
)


def error_classes() -> list[type[StreamingError]]:
    """``StreamingError`` and every class below it."""
    found, pending = [], [StreamingError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def instance(cls: type[StreamingError], message: str) -> StreamingError:
    return cls("some.field", message) if issubclass(cls, ConfigError) else cls(message)


ERRORS = error_classes()


def test_every_close_code_but_normal_is_what_some_exception_closes_with() -> None:
    """A code no exception maps to is dead (or an exception is missing); 1000 is the clean ending, no error."""
    assert {cls.close_code for cls in ERRORS} == set(CloseCode) - {CloseCode.NORMAL}
    assert all(isinstance(cls.close_code, CloseCode) for cls in ERRORS)


def test_each_error_code_goes_with_one_close_code() -> None:
    """A client may act on the ``code`` of the error message alone."""
    close_codes: dict[str, set[CloseCode]] = {}
    for cls in ERRORS:
        close_codes.setdefault(cls.code, set()).add(cls.close_code)
    assert {code: closes for code, closes in close_codes.items() if len(closes) > 1} == {}


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_only_our_own_failures_hide_their_message(cls: type[StreamingError]) -> None:
    """Our bugs close 1011 and say nothing (the log has the detail); every other error tells the peer why."""
    error = instance(cls, "secret detail: /srv/model.bin")
    assert error.public is (cls.close_code != CloseCode.INTERNAL_ERROR)
    if error.public:
        assert "secret detail: /srv/model.bin" in error.public_message
    else:
        assert error.public_message == "internal server error"
        assert "secret detail: /srv/model.bin" in str(error)  # the log still gets it
    if issubclass(cls, ClientError):
        assert error.public  # the peer's mistake is explained to the peer


_TREE_ROW = re.compile(r"[├└]── (\w+)\s+(\d{4})?")


def test_the_docstring_tree_is_the_class_tree() -> None:
    """errors.py draws its exception tree with each close code: every class, its parent, its code."""
    doc = errors.__doc__ or ""
    drawn: dict[str, tuple[str, int | None]] = {}
    parents, base = {0: "StreamingError"}, None
    for line in doc.splitlines():
        match = _TREE_ROW.search(line)
        if match is None:
            continue
        base = match.start() if base is None else base
        depth = (match.start() - base) // 4  # each level of the drawing indents by 4
        parents[depth + 1] = match[1]
        drawn[match[1]] = (parents[depth], int(match[2]) if match[2] else None)
    classes = {cls.__name__: cls for cls in ERRORS if cls is not StreamingError}
    assert set(drawn) == set(classes)
    for name, (parent, close_code) in drawn.items():
        assert classes[name].__bases__ == (getattr(errors, parent),), name
        if close_code is not None or not issubclass(classes[name], ClientError):
            assert close_code == classes[name].close_code, name


def test_config_error() -> None:
    error = ConfigError("vad_params.threshold", "must be between 0.01 and 0.99, got 2")
    assert error.field == "vad_params.threshold"
    assert str(error) == "vad_params.threshold: must be between 0.01 and 0.99, got 2"
    assert error.public_message == str(error)
    assert isinstance(error, ClientError)


def test_audio_format_config_error_closes_as_unsupported_audio() -> None:
    """A config error about the audio format is reported like audio the server cannot take."""
    error = AudioFormatConfigError("streaming_params.sample_rate", "must be between 8000 and 48000, got 96000")
    assert isinstance(error, ConfigError)
    assert error.field == "streaming_params.sample_rate"
    assert (error.close_code, error.code) == (
        errors.UnsupportedAudioError.close_code,
        errors.UnsupportedAudioError.code,
    )
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


def test_the_package_exports_the_root_and_the_close_codes() -> None:
    assert whisper_stream.StreamingError is StreamingError
    assert whisper_stream.CloseCode is CloseCode
    assert issubclass(StreamingError, Exception)
