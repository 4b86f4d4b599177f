"""The session config: the first text message of a connection, parsed once.

Two layouts are accepted, and may be mixed as long as no field is given twice:

- the seed example's ``{"vad_params": {...}, "streaming_whisper_params": {...}}``
- Baseten's newer ``{"streaming_vad_config": {...}, "streaming_params": {...},
  "whisper_params": {...}}``

Every field has a default. Unknown fields, wrong types and out-of-range values
raise ``ConfigError`` naming the field as ``section.field``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from whisper_stream.errors import AudioFormatConfigError, ConfigError, InvalidDataError

ENCODINGS = ("pcm_s16le", "pcm_f32le", "pcm_mulaw", "pcm_alaw")
MIN_SAMPLE_RATE_HZ = 8_000
MAX_SAMPLE_RATE_HZ = 48_000
MAX_PROMPT_CHARS = 1_000
MAX_CONFIG_BYTES = 16_384
_LANGUAGE_RE = re.compile(r"[a-z]{2,3}|auto")


@dataclass(frozen=True)
class VadOptions:
    threshold: float = 0.5
    min_silence_duration_ms: int = 300
    speech_pad_ms: int = 30
    min_speech_duration_ms: int = 0


@dataclass(frozen=True)
class StreamingOptions:
    encoding: str = "pcm_s16le"
    sample_rate_hz: int = 16_000
    enable_partial_transcripts: bool = True
    partial_transcript_interval_s: float = 0.5
    final_transcript_max_duration_s: float = 30.0


@dataclass(frozen=True)
class WhisperOptions:
    audio_language: str = "en"
    prompt: str = ""
    show_word_timestamps: bool = False


@dataclass(frozen=True)
class SessionConfig:
    vad: VadOptions = VadOptions()
    streaming: StreamingOptions = StreamingOptions()
    whisper: WhisperOptions = WhisperOptions()
    send_vad_events: bool = False


@dataclass(frozen=True)
class _Field:
    """One wire field: where it may appear, its type, bounds and attribute."""

    name: str
    sections: tuple[str, ...]
    kind: type
    attribute: str
    minimum: float | None = None
    maximum: float | None = None


_VAD_SECTIONS = ("vad_params", "streaming_vad_config")
_STREAM_SECTIONS = ("streaming_whisper_params", "streaming_params")
_WHISPER_SECTIONS = ("streaming_whisper_params", "whisper_params")

_FIELDS = (
    _Field("threshold", _VAD_SECTIONS, float, "vad.threshold", 0.01, 0.99),
    _Field("min_silence_duration_ms", _VAD_SECTIONS, int, "vad.min_silence_duration_ms", 32, 10_000),
    _Field("speech_pad_ms", _VAD_SECTIONS, int, "vad.speech_pad_ms", 0, 2_000),
    _Field("min_speech_duration_ms", _VAD_SECTIONS, int, "vad.min_speech_duration_ms", 0, 10_000),
    _Field("encoding", _STREAM_SECTIONS, str, "streaming.encoding"),
    _Field("sample_rate", _STREAM_SECTIONS, int, "streaming.sample_rate_hz", MIN_SAMPLE_RATE_HZ, MAX_SAMPLE_RATE_HZ),
    _Field("enable_partial_transcripts", _STREAM_SECTIONS, bool, "streaming.enable_partial_transcripts"),
    _Field(
        "partial_transcript_interval_s", _STREAM_SECTIONS, float, "streaming.partial_transcript_interval_s", 0.1, 30.0
    ),
    _Field(
        "final_transcript_max_duration_s",
        _STREAM_SECTIONS,
        float,
        "streaming.final_transcript_max_duration_s",
        1.0,
        30.0,
    ),
    _Field("audio_language", _WHISPER_SECTIONS, str, "whisper.audio_language"),
    _Field("prompt", _WHISPER_SECTIONS, str, "whisper.prompt"),
    _Field("show_word_timestamps", _WHISPER_SECTIONS, bool, "whisper.show_word_timestamps"),
)
_TOP_LEVEL_FLAGS = ("send_vad_events",)
_SECTIONS = frozenset(section for field in _FIELDS for section in field.sections)


def parse_session_config(message: str | bytes) -> SessionConfig:
    """Parse and validate the first message of a connection."""
    if isinstance(message, bytes):
        raise ConfigError("config", "the first message must be the JSON config as text, not audio")
    if len(message.encode()) > MAX_CONFIG_BYTES:
        raise ConfigError("config", f"longer than {MAX_CONFIG_BYTES} bytes")
    try:
        document = json.loads(message, object_pairs_hook=_reject_repeated_keys)
    except _RepeatedKeyError as exc:
        raise ConfigError(str(exc), "given more than once in the same object") from None
    except ValueError as exc:
        raise InvalidDataError(f"config is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(document, dict):
        raise ConfigError("config", f"must be a JSON object, got {_json_type(document)}")
    return config_from_dict(document)


class _RepeatedKeyError(ValueError):
    pass


def _reject_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _RepeatedKeyError(key)
        document[key] = value
    return document


def config_from_dict(document: dict[str, Any]) -> SessionConfig:
    values: dict[str, Any] = {}
    seen_in: dict[str, str] = {}
    for key, section in document.items():
        if key in _TOP_LEVEL_FLAGS:
            values[key] = _check_value(_Field(key, (), bool, key), key, section)
            continue
        if key not in _SECTIONS:
            raise ConfigError(key, f"unknown field (expected one of {sorted(_SECTIONS | set(_TOP_LEVEL_FLAGS))})")
        if not isinstance(section, dict):
            raise ConfigError(key, f"must be an object, got {_json_type(section)}")
        for name, raw in section.items():
            path = f"{key}.{name}"
            field = _field_in(key, name)
            if field is None:
                allowed = sorted(f.name for f in _FIELDS if key in f.sections)
                raise ConfigError(path, f"unknown field (allowed here: {', '.join(allowed)})")
            if field.attribute in seen_in:
                raise ConfigError(path, f"given twice (also in {seen_in[field.attribute]})")
            seen_in[field.attribute] = key
            values[field.attribute] = _check_value(field, path, raw)
    return _build(values)


def _field_in(section: str, name: str) -> _Field | None:
    for field in _FIELDS:
        if field.name == name and section in field.sections:
            return field
    return None


def _check_value(field: _Field, path: str, raw: Any) -> Any:
    if field.kind is bool:
        if not isinstance(raw, bool):
            raise ConfigError(path, f"must be true or false, got {_json_type(raw)}")
        return raw
    if field.kind is str:
        if not isinstance(raw, str):
            raise ConfigError(path, f"must be a string, got {_json_type(raw)}")
        return _check_string(field, path, raw)
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ConfigError(path, f"must be a number, got {_json_type(raw)}")
    if field.kind is int and isinstance(raw, float):
        if not raw.is_integer():
            raise ConfigError(path, f"must be a whole number, got {raw}")
        raw = int(raw)
    if isinstance(raw, float) and not math.isfinite(raw):
        raise ConfigError(path, "must be a finite number")
    if field.minimum is not None and raw < field.minimum or field.maximum is not None and raw > field.maximum:
        error = AudioFormatConfigError if field.name == "sample_rate" else ConfigError
        raise error(path, f"must be between {field.minimum:g} and {field.maximum:g}, got {raw}")
    return field.kind(raw)


def _check_string(field: _Field, path: str, raw: str) -> str:
    if field.name == "encoding" and raw not in ENCODINGS:
        raise AudioFormatConfigError(path, f"unsupported encoding {raw!r} (supported: {', '.join(ENCODINGS)})")
    if field.name == "audio_language" and not _LANGUAGE_RE.fullmatch(raw):
        raise ConfigError(path, f"must be a language code such as 'en', or 'auto', got {raw!r}")
    if field.name == "prompt" and len(raw) > MAX_PROMPT_CHARS:
        raise ConfigError(path, f"longer than {MAX_PROMPT_CHARS} characters")
    return raw


def _build(values: dict[str, Any]) -> SessionConfig:
    def pick(prefix: str) -> dict[str, Any]:
        return {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith(prefix + ".")}

    return SessionConfig(
        vad=VadOptions(**pick("vad")),
        streaming=StreamingOptions(**pick("streaming")),
        whisper=WhisperOptions(**pick("whisper")),
        send_vad_events=values.get("send_vad_events", False),
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
