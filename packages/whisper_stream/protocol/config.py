"""The session config: the first text message of a connection, parsed once.

Two layouts are accepted, and may be mixed as long as no field is given twice:

- the seed example's ``{"vad_params": {...}, "streaming_whisper_params": {...}}``
- Baseten's newer ``{"streaming_vad_config": {...}, "streaming_params": {...},
  "whisper_params": {...}}``

Every field has a default. Unknown fields inside a section, wrong types and
out-of-range values raise ``ConfigError`` naming the field as ``section.field``.

What Baseten's runtime accepts is accepted, so that its clients work unmodified:
BCP-47 language tags (reduced to Whisper's code, see ``languages``),
``whisper_params.language_options``, ``language_detection_only``,
``use_dynamic_preprocessing`` and a top-level ``include_timing_info``. An unknown
*top-level* field is not an error: it is ignored with a warning
(``SessionConfig.warnings``, which the server sends as ``{"type": "warning"}``
messages), unless it looks like a typo of a known name, which is an error.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass
from typing import Any

from whisper_stream.protocol.errors import AudioFormatConfigError, ConfigError
from whisper_stream.protocol.json_text import load_json, utf8_length_over
from whisper_stream.protocol.languages import AUTO, WHISPER_LANGUAGES, whisper_language
from whisper_stream.samples import SAMPLE_RATE_HZ

ENCODINGS = ("pcm_s16le", "pcm_f32le", "pcm_mulaw", "pcm_alaw")
MIN_SAMPLE_RATE_HZ = 8_000
MAX_SAMPLE_RATE_HZ = 48_000
MAX_PROMPT_CHARS = 1_000
MAX_CONFIG_BYTES = 16_384


@dataclass(frozen=True)
class VadOptions:
    """The VAD gate's settings.

    ``threshold`` is silero's speech probability, 0.0-1.0 inclusive as Baseten documents it: a
    frame is speech when its probability is at least ``threshold``. The two ends are kept as given
    and mean: 0.0, every frame is speech (the gate never closes on silence; utterances end only at
    ``final_transcript_max_duration_s``, ``finalize`` or the end of input); 1.0, no frame is speech
    (nothing is transcribed). Both come with a warning.
    """

    threshold: float = 0.5
    min_silence_duration_ms: int = 300
    speech_pad_ms: int = 30
    min_speech_duration_ms: int = 100


@dataclass(frozen=True)
class StreamingOptions:
    encoding: str = "pcm_s16le"
    sample_rate_hz: int = SAMPLE_RATE_HZ
    enable_partial_transcripts: bool = True
    partial_transcript_interval_s: float = 0.5
    final_transcript_max_duration_s: float = 30.0


@dataclass(frozen=True)
class WhisperOptions:
    """``audio_language`` and ``language_options`` hold Whisper codes (``en``), never BCP-47 tags.

    ``language_options``: when ``audio_language`` is ``auto``, detection chooses among these only
    (empty: among all). ``language_detection_only`` and ``use_dynamic_preprocessing`` are carried
    for the transcriber but have no effect yet (see ``_NO_EFFECT_YET``).
    """

    audio_language: str = "en"
    prompt: str = ""
    show_word_timestamps: bool = False
    language_options: tuple[str, ...] = ()
    language_detection_only: bool = False
    use_dynamic_preprocessing: bool = False


@dataclass(frozen=True)
class SessionConfig:
    vad: VadOptions = VadOptions()
    streaming: StreamingOptions = StreamingOptions()
    whisper: WhisperOptions = WhisperOptions()
    send_vad_events: bool = False
    # What was accepted but ignored or unusual, one "field: text" each, for the client to see.
    warnings: tuple[str, ...] = ()
    # The section each given field came in ("whisper.audio_language" -> "streaming_whisper_params").
    sections: tuple[tuple[str, str], ...] = dataclasses.field(default=(), compare=False)

    def field_path(self, attribute: str) -> str:
        """The wire name of ``attribute`` as this client spelt it, for messages that name a field."""
        section = dict(self.sections).get(attribute)
        if section is None:
            field = next(f for f in _FIELDS if f.attribute == attribute)
            section = field.sections[-1]
        return f"{section}.{attribute.split('.', 1)[1]}"


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
    _Field("threshold", _VAD_SECTIONS, float, "vad.threshold", 0.0, 1.0),
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
    _Field("language_options", _WHISPER_SECTIONS, tuple, "whisper.language_options"),
    _Field("language_detection_only", _WHISPER_SECTIONS, bool, "whisper.language_detection_only"),
    _Field("use_dynamic_preprocessing", _WHISPER_SECTIONS, bool, "whisper.use_dynamic_preprocessing"),
)
# Top-level booleans. include_timing_info (sent by pipecat-style clients): segment times are always sent.
_TOP_LEVEL_FLAGS = ("send_vad_events", "include_timing_info")
_SECTIONS = frozenset(section for field in _FIELDS for section in field.sections)
# Accepted and validated, but nothing implements them yet: setting one true gets a warning.
_NO_EFFECT_YET = {
    "whisper.language_detection_only": "language detection alone is not implemented here; full transcripts are sent",
    "whisper.use_dynamic_preprocessing": "dynamic range compression is not implemented here; audio is used as sent",
}
# How close an unknown top-level name must be to a known one to be taken for a typo of it.
_TYPO_SIMILARITY = 0.8


def parse_session_config(message: str | bytes) -> SessionConfig:
    """Parse and validate the first message of a connection."""
    if isinstance(message, bytes):
        raise ConfigError("config", "the first message must be the JSON config as text, not audio")
    if utf8_length_over(message, MAX_CONFIG_BYTES):
        raise ConfigError("config", f"longer than {MAX_CONFIG_BYTES} bytes")
    try:  # not JSON, nested too deep, a lone surrogate anywhere (a prompt of "\ud800"): InvalidDataError
        document = load_json(message, "config", object_pairs_hook=_reject_repeated_keys)
    except _RepeatedKeyError as exc:
        raise ConfigError(str(exc), "given more than once in the same object") from None
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
    """Validate a parsed config object; what is accepted but ignored or unusual goes to ``warnings``."""
    values: dict[str, Any] = {}
    seen_in: dict[str, str] = {}
    warnings: list[str] = []
    for key, section in document.items():
        if key in _TOP_LEVEL_FLAGS:
            values[key] = _check_value(_Field(key, (), bool, key), key, section)
            continue
        if key not in _SECTIONS:
            warnings.append(_unknown_top_level(key))
            continue
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
    warnings.extend(_warnings_for(values, seen_in))
    return _build(values, tuple(warnings), tuple(seen_in.items()))


def _unknown_top_level(key: str) -> str:
    """The warning for an unknown top-level field; a field put at the wrong level or a typo is an error."""
    sections_of = {f.name: f.sections for f in _FIELDS}
    if key in sections_of:
        raise ConfigError(key, f"belongs inside {' or '.join(sections_of[key])}, not at the top level")
    known = sorted(_SECTIONS | set(_TOP_LEVEL_FLAGS) | set(sections_of))
    close = difflib.get_close_matches(key, known, n=1, cutoff=_TYPO_SIMILARITY)
    if close:
        raise ConfigError(key, f"unknown field; did you mean {close[0]!r}? (top level: {', '.join(_top_level())})")
    return f"{key}: unknown top-level field, ignored (known: {', '.join(_top_level())})"


def _top_level() -> list[str]:
    return sorted(_SECTIONS | set(_TOP_LEVEL_FLAGS))


def _warnings_for(values: dict[str, Any], seen_in: dict[str, str]) -> list[str]:
    """Warnings for values that were accepted but do less (or something else) than a client may think."""
    warnings = []
    for attribute, effect in _NO_EFFECT_YET.items():
        if values.get(attribute):
            warnings.append(f"{seen_in[attribute]}.{attribute.split('.', 1)[1]}: accepted, no effect: {effect}")
    if values.get("include_timing_info") is False:
        warnings.append("include_timing_info: accepted, no effect: segment start and end times are always sent")
    if values.get("whisper.language_options") and values.get("whisper.audio_language", "en") != AUTO:
        warnings.append(
            f"{seen_in['whisper.language_options']}.language_options: no effect unless audio_language is 'auto'"
        )
    threshold = values.get("vad.threshold")
    if threshold == 0.0:
        warnings.append(
            f"{seen_in['vad.threshold']}.threshold: 0 counts every frame as speech; utterances end only at "
            "final_transcript_max_duration_s, on finalize or at the end of input"
        )
    elif threshold == 1.0:
        warnings.append(f"{seen_in['vad.threshold']}.threshold: 1 counts no frame as speech; nothing is transcribed")
    return warnings


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
    if field.kind is tuple:
        return _check_language_list(path, raw)
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
    if field.name == "audio_language":
        return AUTO if raw.lower() == AUTO else _language(path, raw)
    if field.name == "prompt" and len(raw) > MAX_PROMPT_CHARS:
        raise ConfigError(path, f"longer than {MAX_PROMPT_CHARS} characters")
    return raw


def _language(path: str, tag: str, *, auto_allowed: bool = True) -> str:
    code = whisper_language(tag)
    if code is None:
        expected = "a Whisper language code such as 'en' or a BCP-47 tag such as 'en-US'"
        raise ConfigError(path, f"unknown language {tag!r}: expected {expected}{', or auto' if auto_allowed else ''}")
    return code


def _check_language_list(path: str, raw: Any) -> tuple[str, ...]:
    """A list of language tags, as Whisper codes without repeats, in the order given."""
    if not isinstance(raw, list):
        raise ConfigError(path, f"must be an array of language codes, got {_json_type(raw)}")
    if len(raw) > len(WHISPER_LANGUAGES):
        raise ConfigError(path, f"more than {len(WHISPER_LANGUAGES)} languages")
    codes: list[str] = []
    for index, tag in enumerate(raw):
        if not isinstance(tag, str):
            raise ConfigError(f"{path}[{index}]", f"must be a string, got {_json_type(tag)}")
        code = _language(f"{path}[{index}]", tag, auto_allowed=False)
        if code not in codes:
            codes.append(code)
    return tuple(codes)


def _build(values: dict[str, Any], warnings: tuple[str, ...], sections: tuple[tuple[str, str], ...]) -> SessionConfig:
    def pick(prefix: str) -> dict[str, Any]:
        return {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith(prefix + ".")}

    return SessionConfig(
        vad=VadOptions(**pick("vad")),
        streaming=StreamingOptions(**pick("streaming")),
        whisper=WhisperOptions(**pick("whisper")),
        send_vad_events=values.get("send_vad_events", False),
        warnings=warnings,
        sections=sections,
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
