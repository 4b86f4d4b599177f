"""The session config: the first text message of a connection, parsed once.

Two layouts are accepted, and may be mixed as long as no field is given twice:

- the seed example's ``{"vad_params": {...}, "streaming_whisper_params": {...}}``
- Baseten's newer ``{"streaming_vad_config": {...}, "streaming_params": {...},
  "whisper_params": {...}}``, with every field of Baseten's current runtime types
  (``StreamingWhisperInput``; the table of fields is ``config_fields``)

Every field has a default. Unknown fields inside a section, wrong types and
out-of-range values raise ``ConfigError`` naming the field as ``section.field``.

What Baseten's runtime accepts is accepted, so that its clients work unmodified:
BCP-47 language tags (reduced to Whisper's code, see ``languages``), sampling
parameters, a prefix, translation into English, diarization settings
(``diarization_config``). What is accepted but not done here (dynamic
preprocessing, ...) gets a warning (``SessionConfig.warnings``, which the server sends as
``{"type": "warning"}`` messages), never a silent no-op. An unknown *top-level*
field is not an error: it is ignored with a warning, unless it looks like a typo
of a known name, which is an error.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any

from whisper_stream.protocol.config_fields import (
    ENCODINGS,
    FIELDS,
    MAX_PROMPT_CHARS,
    MAX_SAMPLE_RATE_HZ,
    MIN_SAMPLE_RATE_HZ,
    SAMPLING,
    SAMPLING_FIELDS,
    SECTIONS,
    TOP_LEVEL_FIELDS,
    check_value,
    field_in,
    json_type,
)
from whisper_stream.protocol.diarization_config import DiarizationOptions, diarization_options, diarization_warnings
from whisper_stream.protocol.errors import ConfigError
from whisper_stream.protocol.json_text import load_json, utf8_length_over
from whisper_stream.protocol.languages import AUTO
from whisper_stream.samples import SAMPLE_RATE_HZ

__all__ = [
    "ENCODINGS",
    "MAX_CONFIG_BYTES",
    "MAX_PROMPT_CHARS",
    "MAX_SAMPLE_RATE_HZ",
    "MIN_SAMPLE_RATE_HZ",
    "DiarizationOptions",
    "SamplingOptions",
    "SessionConfig",
    "StreamingOptions",
    "VadOptions",
    "WhisperOptions",
    "config_from_dict",
    "parse_session_config",
]

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
    min_silence_after_sentence_ms: int | None = None
    """The sentence endpoint (opt-in): a pause after words that end a sentence ends the utterance after this
    shorter silence (``core/early_finals.py``); None: every pause waits ``min_silence_duration_ms``."""


@dataclass(frozen=True)
class StreamingOptions:
    encoding: str = "pcm_s16le"
    sample_rate_hz: int = SAMPLE_RATE_HZ
    enable_partial_transcripts: bool = True
    partial_transcript_interval_s: float = 0.5
    final_transcript_max_duration_s: float = 30.0
    prioritize_latency: bool = True
    """Finals always come first here; false is accepted with a warning."""
    skip_partial_if_hallucination: bool = True
    """A partial whose text fails the hallucination checks is not sent."""
    include_pipeline_latency_metric: bool = False
    """Transcripts carry ``pipeline_latency`` (see ``messages.transcription_message``)."""


@dataclass(frozen=True)
class SamplingOptions:
    """``whisper_params.whisper_sampling_params`` as the client gave it. None: not given, the replica's own
    setting (for the penalties, CTranslate2's 1.0, not Baseten's defaults; see docs/protocol.md)."""

    beam_width: int | None = None
    length_penalty: float | None = None
    repetition_penalty: float | None = None
    beam_search_diversity_rate: float | None = None
    no_repeat_ngram_size: int | None = None
    sampling_temperatures: tuple[float, ...] | None = None
    max_new_tokens: int | None = None


@dataclass(frozen=True)
class WhisperOptions:
    """``audio_language``, ``output_language`` and ``language_options`` hold Whisper codes (``en``), never
    BCP-47 tags.

    ``language_options``: when ``audio_language`` is ``auto``, detection chooses among these only
    (empty: among all). ``output_language``: ``auto`` (or the audio's language) transcribes, ``en``
    translates into English. ``language_detection_only`` and ``use_dynamic_preprocessing`` have no
    effect yet (a warning says so).
    """

    audio_language: str = "en"
    prompt: str = ""
    show_word_timestamps: bool = False
    language_options: tuple[str, ...] = ()
    language_detection_only: bool = False
    use_dynamic_preprocessing: bool = False
    output_language: str = AUTO
    prefix: str = ""
    """Text the first final continues (faster-whisper's ``prefix``): its transcript starts with it."""
    enable_vad: bool = True
    """False: no VAD gating; utterances end on finalize, at ``final_transcript_max_duration_s`` or at the end."""
    use_missing_chunk_retry: bool = False
    missing_chunk_wpm_threshold: int = 100
    """With ``use_missing_chunk_retry``: a final with fewer words a minute of audio is decoded again."""
    show_beam_results: bool = False
    enable_chunk_level_language_detection: bool = False
    """Per-utterance detection, which ``audio_language: auto`` always does here."""
    sampling: SamplingOptions = SamplingOptions()
    diarization: DiarizationOptions = DiarizationOptions()

    @property
    def translate(self) -> bool:
        """Whisper's translate task: English text from audio in another (or any detected) language."""
        return self.output_language == "en" and self.audio_language != "en"


@dataclass(frozen=True)
class SessionConfig:
    vad: VadOptions = VadOptions()
    streaming: StreamingOptions = StreamingOptions()
    whisper: WhisperOptions = WhisperOptions()
    send_vad_events: bool = False
    send_turn_events: bool = False
    """Eager end of turn (opt-in): the text of a pause's speculative final as ``eager_end_of_turn``, then
    ``turn_resumed`` if speech resumes, and finals saying whether they differ from it (voice agents)."""
    include_timing_info: bool = False
    """Transcripts carry ``timing_info``, the time each stage took."""
    stream_id: str | None = None
    """The client's name for the stream: in the server's log lines about it."""
    # What was accepted but ignored or unusual, one "field: text" each, for the client to see.
    warnings: tuple[str, ...] = ()
    # The section each given field came in ("whisper.audio_language" -> "streaming_whisper_params").
    sections: tuple[tuple[str, str], ...] = dataclasses.field(default=(), compare=False)

    def field_path(self, attribute: str) -> str:
        """The wire name of ``attribute`` as this client spelt it, for messages that name a field."""
        field = next(f for f in FIELDS if f.attribute == attribute)
        section = dict(self.sections).get(attribute, field.sections[-1])
        return f"{section}.{field.name}"


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
        raise ConfigError("config", f"must be a JSON object, got {json_type(document)}")
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
    top_level = {field.name: field for field in TOP_LEVEL_FIELDS}
    for key, section in document.items():
        if key in top_level:
            values[key] = check_value(top_level[key], key, section)
            continue
        if key not in SECTIONS:
            warnings.append(_unknown_top_level(key))
            continue
        if not isinstance(section, dict):
            raise ConfigError(key, f"must be an object, got {json_type(section)}")
        for name, raw in section.items():
            path = f"{key}.{name}"
            field = field_in(key, name)
            if field is None:
                allowed = sorted(f.name for f in FIELDS if key in f.sections)
                raise ConfigError(path, f"unknown field (allowed here: {', '.join(allowed)})")
            if field.attribute in seen_in:
                raise ConfigError(path, f"given twice (also in {seen_in[field.attribute]})")
            seen_in[field.attribute] = key
            values[field.attribute] = _sampling(path, raw) if field.kind == SAMPLING else check_value(field, path, raw)
    _check_output_language(values, seen_in)
    warnings.extend(_warnings_for(values, seen_in))
    return _build(values, tuple(warnings), tuple(seen_in.items()))


def _sampling(path: str, raw: Any) -> SamplingOptions:
    """``whisper_sampling_params``: an object of its own fields only (Baseten forbids others too)."""
    if not isinstance(raw, dict):
        raise ConfigError(path, f"must be an object, got {json_type(raw)}")
    fields = {field.name: field for field in SAMPLING_FIELDS}
    given = {}
    for name, value in raw.items():
        if name not in fields:
            raise ConfigError(f"{path}.{name}", f"unknown field (allowed here: {', '.join(sorted(fields))})")
        given[name] = check_value(fields[name], f"{path}.{name}", value)
    return SamplingOptions(**given)


def _check_output_language(values: dict[str, Any], seen_in: dict[str, str]) -> None:
    """Whisper writes the language it hears, or English (its translate task): no other target."""
    output = values.get("whisper.output_language", AUTO)
    audio = values.get("whisper.audio_language", "en")
    if output not in (AUTO, "en", audio):
        raise ConfigError(
            f"{seen_in['whisper.output_language']}.output_language",
            f"Whisper writes the language it hears ('auto') or translates into English ('en'); got {output!r}",
        )


def _unknown_top_level(key: str) -> str:
    """The warning for an unknown top-level field; a field put at the wrong level or a typo is an error."""
    sections_of = {f.name: f.sections for f in FIELDS}
    if key in sections_of:
        raise ConfigError(key, f"belongs inside {' or '.join(sections_of[key])}, not at the top level")
    known = sorted(set(_top_level()) | set(sections_of))
    close = difflib.get_close_matches(key, known, n=1, cutoff=_TYPO_SIMILARITY)
    if close:
        raise ConfigError(key, f"unknown field; did you mean {close[0]!r}? (top level: {', '.join(_top_level())})")
    return f"{key}: unknown top-level field, ignored (known: {', '.join(_top_level())})"


def _top_level() -> list[str]:
    return sorted(SECTIONS | {field.name for field in TOP_LEVEL_FIELDS})


def _warnings_for(values: dict[str, Any], seen_in: dict[str, str]) -> list[str]:
    """Warnings for values that were accepted but do less (or something else) than a client may think."""

    def path(attribute: str) -> str:
        field = next(f for f in FIELDS if f.attribute == attribute)
        return f"{seen_in[attribute]}.{field.name}"

    warnings = [
        f"{path(attribute)}: accepted, no effect: {effect}"
        for attribute, effect in _NO_EFFECT_YET.items()
        if values.get(attribute)
    ]
    detecting = values.get("whisper.audio_language", "en") == AUTO
    if values.get("whisper.language_options") and not detecting:
        warnings.append(f"{path('whisper.language_options')}: no effect unless audio_language is 'auto'")
    if values.get("whisper.enable_chunk_level_language_detection") and not detecting:
        warnings.append(
            f"{path('whisper.enable_chunk_level_language_detection')}: no effect unless audio_language is 'auto' "
            "(then every utterance's language is detected)"
        )
    if values.get("streaming.prioritize_latency") is False:
        warnings.append(f"{path('streaming.prioritize_latency')}: accepted, no effect: finals always come first here")
    sampling = values.get("whisper.sampling")
    if sampling is not None and sampling.beam_search_diversity_rate:
        warnings.append(
            f"{path('whisper.sampling')}.beam_search_diversity_rate: accepted, no effect: CTranslate2's beam search "
            "has no diversity rate"
        )
    warnings.extend(diarization_warnings(values, path))
    warnings.extend(_threshold_warnings(values, seen_in))
    return warnings


def _threshold_warnings(values: dict[str, Any], seen_in: dict[str, str]) -> list[str]:
    threshold = values.get("vad.threshold")
    if values.get("whisper.enable_vad") is False:
        return []  # no VAD gating at all: the threshold does not matter
    if threshold == 0.0:
        return [
            f"{seen_in['vad.threshold']}.threshold: 0 counts every frame as speech; utterances end only at "
            "final_transcript_max_duration_s, on finalize or at the end of input"
        ]
    if threshold == 1.0:
        return [f"{seen_in['vad.threshold']}.threshold: 1 counts no frame as speech; nothing is transcribed"]
    return []


def _build(values: dict[str, Any], warnings: tuple[str, ...], sections: tuple[tuple[str, str], ...]) -> SessionConfig:
    def pick(prefix: str) -> dict[str, Any]:
        return {k[len(prefix) + 1 :]: v for k, v in values.items() if k.startswith(prefix + ".") and k.count(".") == 1}

    def nested(prefix: str) -> dict[str, Any]:
        return {k.rsplit(".", 1)[1]: v for k, v in values.items() if k.startswith(prefix + ".")}

    diarization = diarization_options(nested("whisper.diarization"), values.get("streaming_diarization_config"))
    whisper = pick("whisper") | {"diarization": diarization}
    return SessionConfig(
        vad=VadOptions(**pick("vad")),
        streaming=StreamingOptions(**pick("streaming")),
        whisper=WhisperOptions(**whisper),
        send_vad_events=values.get("send_vad_events", False),
        send_turn_events=values.get("send_turn_events", False),
        include_timing_info=values.get("include_timing_info", False),
        stream_id=values.get("stream_id"),
        warnings=warnings,
        sections=sections,
    )
