"""The session config's wire fields: where each may appear, its type, range and attribute, and the value checks.

Two tables: the fields of the config's sections (``FIELDS``) and those of
``whisper_params.whisper_sampling_params`` (``SAMPLING_FIELDS``); top-level
fields are in ``TOP_LEVEL_FIELDS``. Types and defaults follow Baseten's runtime
types (``whisper_utils/data_types.py``: ``StreamingWhisperInput``,
``WhisperParams``, ``StreamingParams``, ``WhisperSamplingParams``); where Baseten
sets no range, the range here is what makes sense for Whisper. A field Baseten
types ``Optional`` takes ``null``, which means its ``null_value`` (the default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from whisper_stream.protocol.errors import AudioFormatConfigError, ConfigError
from whisper_stream.protocol.languages import AUTO, WHISPER_LANGUAGES, whisper_language

ENCODINGS = ("pcm_s16le", "pcm_f32le", "pcm_mulaw", "pcm_alaw")
MIN_SAMPLE_RATE_HZ = 8_000
MAX_SAMPLE_RATE_HZ = 48_000
MAX_PROMPT_CHARS = 1_000
MAX_STREAM_ID_CHARS = 256
MAX_TEMPERATURES = 32
DIARIZATION_GRANULARITIES = ("word", "segment", "sentence", "split_segment")

LANGUAGES = "languages"
"""``kind`` of a list of language tags."""
NUMBERS = "numbers"
"""``kind`` of a list of numbers (each in the field's range)."""
SAMPLING = "sampling"
"""``kind`` of the ``whisper_sampling_params`` object (its own fields, ``SAMPLING_FIELDS``)."""
FREE_OBJECT = "object"
"""``kind`` of an object whose content is not ours to check (Baseten's ``Dict`` fields)."""


@dataclass(frozen=True)
class Field:
    """One wire field: where it may appear, its type, bounds and attribute."""

    name: str
    sections: tuple[str, ...]
    kind: type | str
    attribute: str
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False
    null_value: Any = None
    choices: tuple[str, ...] = ()


VAD_SECTIONS = ("vad_params", "streaming_vad_config")
STREAM_SECTIONS = ("streaming_whisper_params", "streaming_params")
WHISPER_SECTIONS = ("streaming_whisper_params", "whisper_params")
SAMPLING_SECTION = "whisper_sampling_params"


def _whisper(name: str, kind: type | str, **extra: Any) -> Field:
    return Field(name, WHISPER_SECTIONS, kind, f"whisper.{name}", **extra)


def _stream(name: str, kind: type | str, **extra: Any) -> Field:
    return Field(name, STREAM_SECTIONS, kind, f"streaming.{name}", **extra)


FIELDS = (
    Field("threshold", VAD_SECTIONS, float, "vad.threshold", 0.0, 1.0),
    Field("min_silence_duration_ms", VAD_SECTIONS, int, "vad.min_silence_duration_ms", 32, 10_000),
    Field("speech_pad_ms", VAD_SECTIONS, int, "vad.speech_pad_ms", 0, 2_000),
    Field("min_speech_duration_ms", VAD_SECTIONS, int, "vad.min_speech_duration_ms", 0, 10_000),
    Field(
        "min_silence_after_sentence_ms",
        VAD_SECTIONS,
        int,
        "vad.min_silence_after_sentence_ms",
        32,
        10_000,
        nullable=True,
    ),
    _stream("encoding", str),
    Field("sample_rate", STREAM_SECTIONS, int, "streaming.sample_rate_hz", MIN_SAMPLE_RATE_HZ, MAX_SAMPLE_RATE_HZ),
    _stream("enable_partial_transcripts", bool),
    _stream("partial_transcript_interval_s", float, minimum=0.1, maximum=30.0),
    _stream("final_transcript_max_duration_s", float, minimum=1.0, maximum=30.0),
    _stream("prioritize_latency", bool),
    _stream("skip_partial_if_hallucination", bool),
    _stream("include_pipeline_latency_metric", bool),
    _whisper("audio_language", str, nullable=True, null_value=AUTO),
    _whisper("output_language", str, nullable=True, null_value=AUTO),
    _whisper("prompt", str, nullable=True, null_value=""),
    _whisper("prefix", str, nullable=True, null_value=""),
    _whisper("show_word_timestamps", bool),
    _whisper("language_options", LANGUAGES),
    _whisper("language_detection_only", bool),
    _whisper("use_dynamic_preprocessing", bool),
    _whisper("enable_vad", bool),
    _whisper("use_missing_chunk_retry", bool),
    _whisper("missing_chunk_wpm_threshold", int, minimum=0, maximum=1_000),
    _whisper("show_beam_results", bool),
    _whisper("enable_chunk_level_language_detection", bool, nullable=True, null_value=False),
    Field(SAMPLING_SECTION, WHISPER_SECTIONS, SAMPLING, "whisper.sampling"),
    Field("enable_diarization", WHISPER_SECTIONS, bool, "whisper.diarization.enable_diarization", nullable=True),
    Field(
        "diarization_granularity",
        WHISPER_SECTIONS,
        str,
        "whisper.diarization.diarization_granularity",
        choices=DIARIZATION_GRANULARITIES,
    ),
    Field("enable_word_level_diarization", WHISPER_SECTIONS, bool, "whisper.diarization.enable_word_level_diarization"),
    Field(
        "enable_sentence_level_diarization",
        WHISPER_SECTIONS,
        bool,
        "whisper.diarization.enable_sentence_level_diarization",
    ),
    Field("enable_final_diarization", WHISPER_SECTIONS, bool, "whisper.diarization.enable_final_diarization"),
)

SAMPLING_FIELDS = (
    Field("beam_width", (SAMPLING_SECTION,), int, "beam_width", 1, 64),
    Field("length_penalty", (SAMPLING_SECTION,), float, "length_penalty", 0.0, 10.0),
    Field("repetition_penalty", (SAMPLING_SECTION,), float, "repetition_penalty", 0.01, 10.0),
    Field("beam_search_diversity_rate", (SAMPLING_SECTION,), float, "beam_search_diversity_rate", 0.0, 10.0, True),
    Field("no_repeat_ngram_size", (SAMPLING_SECTION,), int, "no_repeat_ngram_size", 0, 64, True),
    Field("sampling_temperatures", (SAMPLING_SECTION,), NUMBERS, "sampling_temperatures", 0.0, 2.0),
    Field("max_new_tokens", (SAMPLING_SECTION,), int, "max_new_tokens", 1, 10_000),
)

TOP_LEVEL_FIELDS = (
    Field("send_vad_events", (), bool, "send_vad_events"),
    Field("send_turn_events", (), bool, "send_turn_events"),
    Field("include_timing_info", (), bool, "include_timing_info"),
    Field("stream_id", (), str, "stream_id", nullable=True),
    # Baseten types these Dict and passes them to its diarization; nothing here reads them but their size.
    Field("streaming_diarization_config", (), FREE_OBJECT, "streaming_diarization_config"),
    Field("diarization_config", (), FREE_OBJECT, "diarization_config"),
)
SECTIONS = frozenset(section for field in FIELDS for section in field.sections)


def field_in(section: str, name: str) -> Field | None:
    for field in FIELDS:
        if field.name == name and section in field.sections:
            return field
    return None


def check_value(field: Field, path: str, raw: Any) -> Any:
    """``raw`` as the field's type, or ``ConfigError`` naming ``path``. Sampling objects are parsed by the caller."""
    if raw is None and field.nullable:
        return field.null_value
    if field.kind is bool:
        if not isinstance(raw, bool):
            raise ConfigError(path, f"must be true or false, got {json_type(raw)}")
        return raw
    if field.kind is str:
        if not isinstance(raw, str):
            raise ConfigError(path, f"must be a string, got {json_type(raw)}")
        return _check_string(field, path, raw)
    if field.kind == LANGUAGES:
        return _check_language_list(path, raw)
    if field.kind == NUMBERS:
        return _check_number_list(field, path, raw)
    if field.kind == FREE_OBJECT:
        if not isinstance(raw, dict):
            raise ConfigError(path, f"must be an object, got {json_type(raw)}")
        return raw
    return _check_number(field, path, raw)


def _check_number(field: Field, path: str, raw: Any) -> int | float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ConfigError(path, f"must be a number, got {json_type(raw)}")
    if field.kind is int and isinstance(raw, float):
        if not raw.is_integer():
            raise ConfigError(path, f"must be a whole number, got {raw}")
        raw = int(raw)
    if isinstance(raw, float) and not math.isfinite(raw):
        raise ConfigError(path, "must be a finite number")
    if field.minimum is not None and raw < field.minimum or field.maximum is not None and raw > field.maximum:
        error = AudioFormatConfigError if field.name == "sample_rate" else ConfigError
        raise error(path, f"must be between {field.minimum:g} and {field.maximum:g}, got {raw}")
    kind = int if field.kind is int else float
    return kind(raw)


def _check_string(field: Field, path: str, raw: str) -> str:
    if field.name == "encoding" and raw not in ENCODINGS:
        raise AudioFormatConfigError(path, f"unsupported encoding {raw!r} (supported: {', '.join(ENCODINGS)})")
    if field.name in ("audio_language", "output_language"):
        return AUTO if raw.lower() == AUTO else language(path, raw)
    if field.name in ("prompt", "prefix") and len(raw) > MAX_PROMPT_CHARS:
        raise ConfigError(path, f"longer than {MAX_PROMPT_CHARS} characters")
    if field.name == "stream_id" and len(raw) > MAX_STREAM_ID_CHARS:
        raise ConfigError(path, f"longer than {MAX_STREAM_ID_CHARS} characters")
    if field.choices and raw not in field.choices:
        raise ConfigError(path, f"must be one of {', '.join(field.choices)}, got {raw!r}")
    return raw


def language(path: str, tag: str, *, auto_allowed: bool = True) -> str:
    code = whisper_language(tag)
    if code is None:
        expected = "a Whisper language code such as 'en' or a BCP-47 tag such as 'en-US'"
        raise ConfigError(path, f"unknown language {tag!r}: expected {expected}{', or auto' if auto_allowed else ''}")
    return code


def _check_language_list(path: str, raw: Any) -> tuple[str, ...]:
    """A list of language tags, as Whisper codes without repeats, in the order given."""
    if not isinstance(raw, list):
        raise ConfigError(path, f"must be an array of language codes, got {json_type(raw)}")
    if len(raw) > len(WHISPER_LANGUAGES):
        raise ConfigError(path, f"more than {len(WHISPER_LANGUAGES)} languages")
    codes: list[str] = []
    for index, tag in enumerate(raw):
        if not isinstance(tag, str):
            raise ConfigError(f"{path}[{index}]", f"must be a string, got {json_type(tag)}")
        code = language(f"{path}[{index}]", tag, auto_allowed=False)
        if code not in codes:
            codes.append(code)
    return tuple(codes)


def _check_number_list(field: Field, path: str, raw: Any) -> tuple[float, ...]:
    if not isinstance(raw, list):
        raise ConfigError(path, f"must be an array of numbers, got {json_type(raw)}")
    if not 1 <= len(raw) <= MAX_TEMPERATURES:
        raise ConfigError(path, f"must hold 1 to {MAX_TEMPERATURES} numbers, got {len(raw)}")
    item = Field(field.name, field.sections, float, field.attribute, field.minimum, field.maximum)
    return tuple(float(_check_number(item, f"{path}[{index}]", value)) for index, value in enumerate(raw))


def json_type(value: Any) -> str:
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
