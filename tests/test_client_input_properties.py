"""No client input is anything but a ``ClientError``: properties over the three things a client sends.

The config (``protocol.config``), the control messages (``protocol.messages``) and the audio frames
(``audio.decoding``) are each fed documents built from their own field names with any JSON value, and
plain text or bytes. Whatever comes in, the result is a value, or a ``ClientError`` whose close code is
1003, 1007 or 1008 and whose message can be logged and sent as UTF-8; never another exception (which
``serve_session`` would report as our bug, 1011 with a traceback). The same properties through the
server are in ``tests/test_server_hostile_input.py``.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from whisper_stream.audio.decoding import BYTES_PER_SAMPLE, AudioDecoder
from whisper_stream.inference.model_source import bundled_tiny_en_path
from whisper_stream.protocol import config_fields
from whisper_stream.protocol.config import ENCODINGS, SessionConfig, parse_session_config
from whisper_stream.protocol.errors import ClientError, CloseCode, InvalidDataError
from whisper_stream.protocol.messages import Control, parse_control

CLIENT_CLOSES = {CloseCode.UNSUPPORTED_DATA, CloseCode.INVALID_DATA, CloseCode.POLICY_VIOLATION}

# Text with what breaks naive code: lone surrogates, NUL, RTL marks, astral characters, Whisper's special tokens.
AWKWARD_TEXT = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()) | st.sampled_from(["\ud800", "\udfff", "\x00", "\u202e"]),
    max_size=40,
) | st.sampled_from(["<|endoftext|>", "<|en|>", "<|0.00|>", "auto", "en-US", "\ud83d\ude00", " " * 50, "%s%n{0}"])
NUMBERS = (
    st.integers()
    | st.integers(min_value=-(10**120), max_value=10**120)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, 1, -1, 0.5, 1e308, 5e-324, 16000, 48000, 2**63])
)
JSON_LEAVES = st.none() | st.booleans() | NUMBERS | AWKWARD_TEXT
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(AWKWARD_TEXT, inner, max_size=3),
    max_leaves=12,
)
FIELD_NAMES = sorted({f.name for f in config_fields.FIELDS})
SECTION_NAMES = sorted(config_fields.SECTIONS)
TOP_LEVEL = [*SECTION_NAMES, "send_vad_events", "include_timing_info", "vad_parms", "model"]


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    """Config-shaped documents: known sections and fields (and a few others) with any JSON values."""
    document: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(TOP_LEVEL) | AWKWARD_TEXT, max_size=4, unique=True)):
        if key in SECTION_NAMES and draw(st.booleans()):
            names = draw(st.lists(st.sampled_from(FIELD_NAMES) | AWKWARD_TEXT, max_size=4, unique=True))
            document[key] = {name: draw(JSON_VALUES) for name in names}
        else:
            document[key] = draw(JSON_VALUES)
    return document


def _dumps(document: Any, ascii_only: bool) -> str:
    return json.dumps(document, ensure_ascii=ascii_only, allow_nan=True)


def _check_client_error(exc: ClientError) -> None:
    assert exc.close_code in CLIENT_CLOSES, exc
    str(exc).encode("utf-8")  # loggable and sendable as it is
    json.dumps({"message": exc.public_message}, ensure_ascii=False).encode("utf-8")


def _check_accepted(config: SessionConfig) -> None:
    for text in [
        config.whisper.prompt,
        config.whisper.audio_language,
        config.streaming.encoding,
        *config.whisper.language_options,
        *config.warnings,
    ]:
        text.encode("utf-8")
    for value in [config.vad.threshold, config.streaming.partial_transcript_interval_s]:
        assert math.isfinite(value)


@settings(max_examples=800, deadline=None)
@given(configs(), st.booleans())
def test_any_config_document_is_a_config_or_a_client_error(document: dict[str, Any], ascii_only: bool) -> None:
    try:
        config = parse_session_config(_dumps(document, ascii_only))
    except ClientError as exc:
        _check_client_error(exc)
    else:
        _check_accepted(config)


DEEP_OR_HUGE = [
    "[" * 8000 + "]" * 8000,
    '{"a":' * 2000 + "1" + "}" * 2000,
    '{"vad_params": {"threshold": 9' + "9" * 5000 + "}}",
]


@settings(max_examples=400, deadline=None)
@given(AWKWARD_TEXT | st.text() | JSON_VALUES.map(lambda v: _dumps(v, False)) | st.sampled_from(DEEP_OR_HUGE))
def test_any_text_as_the_config_is_a_config_or_a_client_error(text: str) -> None:
    try:
        _check_accepted(parse_session_config(text))
    except ClientError as exc:
        _check_client_error(exc)


def test_the_surrogate_prompt_is_refused_at_config_time_naming_the_field() -> None:
    try:
        parse_session_config('{"whisper_params": {"prompt": "names: \\ud800"}}')
    except InvalidDataError as exc:
        assert str(exc).startswith("whisper_params.prompt: holds a lone surrogate")
        assert exc.close_code == CloseCode.INVALID_DATA
    else:
        raise AssertionError("accepted")


CONTROL_KEYS = ["type", "terminate_session", "vad_params", "whisper_params"]
CONTROL_TYPES = ["keepalive", "ping", "finalize", "end_of_stream", "terminate_session", "KeepAlive", "pause"]


@st.composite
def controls(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(CONTROL_KEYS) | AWKWARD_TEXT, max_size=3, unique=True))
    values = JSON_VALUES | st.sampled_from(CONTROL_TYPES) | st.just(True)
    return {key: draw(values) for key in keys}


@settings(max_examples=600, deadline=None)
@given(controls() | JSON_VALUES, st.booleans())
def test_any_control_message_is_a_control_or_a_client_error(document: Any, ascii_only: bool) -> None:
    try:
        assert isinstance(parse_control(_dumps(document, ascii_only)), Control)
    except ClientError as exc:
        _check_client_error(exc)


@settings(max_examples=300, deadline=None)
@given(st.text() | AWKWARD_TEXT | st.sampled_from(["[" * 3000, "[" * 2000 + "]" * 2000, "1" * 4096]))
def test_any_text_after_the_config_is_a_control_or_a_client_error(text: str) -> None:
    try:
        parse_control(text)
    except ClientError as exc:
        _check_client_error(exc)


SPECIAL_F32 = [np.nan, np.inf, -np.inf, 1e38, -1e38, 5e-45, -0.0, 3.0]
RATES = [8_000, 11_025, 16_000, 22_050, 44_100, 48_000]


@st.composite
def frames(draw: st.DrawFn) -> tuple[str, int, list[bytes]]:
    """A stream of frames in any encoding and rate: any bytes, odd lengths, empty frames, special floats."""
    encoding = draw(st.sampled_from(ENCODINGS))
    rate = draw(st.sampled_from(RATES))
    chunks = []
    for _ in range(draw(st.integers(1, 6))):
        if encoding == "pcm_f32le" and draw(st.booleans()):
            values = draw(st.lists(st.sampled_from(SPECIAL_F32) | st.floats(width=32), max_size=64))
            chunks.append(np.asarray(values, dtype="<f4").tobytes())
        else:
            chunks.append(draw(st.binary(max_size=3000)))
    data = b"".join(chunks)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    bounds = [0, *cuts, len(data)]
    return encoding, rate, [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@settings(max_examples=400, deadline=None)
@given(frames())
def test_any_audio_frames_decode_to_finite_samples_or_invalid_data(case: tuple[str, int, list[bytes]]) -> None:
    encoding, rate, chunks = case
    decoder = AudioDecoder(encoding, rate)
    decoded = 0
    try:
        for chunk in chunks:
            samples = decoder.decode(chunk)
            assert samples.dtype == np.float32
            assert np.isfinite(samples).all()
            if rate == 16_000:  # not resampled: within full scale (the resampler's ringing may overshoot it)
                assert (np.abs(samples) <= 1.0).all()
            decoded += samples.size
        decoder.flush()
    except InvalidDataError as exc:
        assert encoding == "pcm_f32le" and "NaN or infinite" in str(exc)
        _check_client_error(exc)
    else:
        whole = sum(len(c) for c in chunks) // BYTES_PER_SAMPLE[encoding]
        assert decoded <= whole * 16_000 / rate + 64  # never more audio than sent (the resampler lags)


@functools.cache
def _whisper_tokenizer() -> Any:
    """The bundled tiny.en's own tokenizer, as the transcriber builds it (no model loaded)."""
    import tokenizers
    from faster_whisper.tokenizer import Tokenizer

    path = bundled_tiny_en_path() / "tokenizer.json"
    return Tokenizer(tokenizers.Tokenizer.from_file(str(path)), False, task="transcribe", language="en")


@settings(max_examples=400, deadline=None)
@given(AWKWARD_TEXT | st.text(max_size=1000))
def test_every_prompt_the_config_accepts_can_be_tokenized(prompt: str) -> None:
    """What the transcriber does with a prompt at each decode (``context_decoding.prompt_with_prefix``)."""
    try:
        config = parse_session_config(json.dumps({"whisper_params": {"prompt": prompt}}))
    except ClientError as exc:
        _check_client_error(exc)
        return
    if config.whisper.prompt:
        _whisper_tokenizer().encode(" " + config.whisper.prompt.strip())
