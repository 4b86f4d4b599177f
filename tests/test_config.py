"""Tests for whisper_stream.protocol.config: both wire layouts, defaults, and every rejection path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.compat.pipecat_replay import DEFAULT_METADATA
from tests.config_documents import config_error, parse
from tests.stream_client import SEED_CONFIG
from whisper_stream.protocol.config import (
    ENCODINGS,
    MAX_CONFIG_BYTES,
    MAX_PROMPT_CHARS,
    SessionConfig,
    StreamingOptions,
    VadOptions,
    WhisperOptions,
    config_from_dict,
    parse_session_config,
)
from whisper_stream.protocol.errors import AudioFormatConfigError, CloseCode, ConfigError, InvalidDataError

SEED_EXAMPLE = SEED_CONFIG  # the seed example client's first message


# --- accepted configs ------------------------------------------------------------------------------------------


def test_seed_example_parses_exactly() -> None:
    config = parse(SEED_EXAMPLE)
    assert config == SessionConfig(
        vad=VadOptions(threshold=0.5, min_silence_duration_ms=300, speech_pad_ms=30),
        streaming=StreamingOptions(encoding="pcm_s16le", sample_rate_hz=16000, enable_partial_transcripts=True),
        whisper=WhisperOptions(audio_language="en"),
        send_vad_events=False,
    )


def test_seed_layout_every_field_non_default() -> None:
    config = parse(
        {
            "vad_params": {"threshold": 0.7, "min_silence_duration_ms": 800, "speech_pad_ms": 100},
            "streaming_whisper_params": {
                "encoding": "pcm_mulaw",
                "sample_rate": 8000,
                "enable_partial_transcripts": False,
                "partial_transcript_interval_s": 1.5,
                "final_transcript_max_duration_s": 12.0,
                "audio_language": "de",
                "prompt": "Glossary: Kubernetes",
                "show_word_timestamps": True,
            },
        }
    )
    assert config.vad == VadOptions(threshold=0.7, min_silence_duration_ms=800, speech_pad_ms=100)
    assert config.streaming == StreamingOptions(
        encoding="pcm_mulaw",
        sample_rate_hz=8000,
        enable_partial_transcripts=False,
        partial_transcript_interval_s=1.5,
        final_transcript_max_duration_s=12.0,
    )
    assert config.whisper == WhisperOptions(
        audio_language="de", prompt="Glossary: Kubernetes", show_word_timestamps=True
    )
    assert config.send_vad_events is False


def test_baseten_layout_every_field_non_default() -> None:
    config = parse(
        {
            "streaming_vad_config": {"threshold": 0.25, "min_silence_duration_ms": 1200, "speech_pad_ms": 0},
            "streaming_params": {
                "encoding": "pcm_f32le",
                "sample_rate": 48000,
                "enable_partial_transcripts": False,
                "partial_transcript_interval_s": 0.25,
                "final_transcript_max_duration_s": 20,
            },
            "whisper_params": {"audio_language": "auto", "prompt": "hello", "show_word_timestamps": True},
            "send_vad_events": True,
        }
    )
    assert config == SessionConfig(
        vad=VadOptions(threshold=0.25, min_silence_duration_ms=1200, speech_pad_ms=0),
        streaming=StreamingOptions(
            encoding="pcm_f32le",
            sample_rate_hz=48000,
            enable_partial_transcripts=False,
            partial_transcript_interval_s=0.25,
            final_transcript_max_duration_s=20.0,
        ),
        whisper=WhisperOptions(audio_language="auto", prompt="hello", show_word_timestamps=True),
        send_vad_events=True,
    )


def test_defaults_from_empty_object() -> None:
    config = parse({})
    assert config == SessionConfig()
    assert config.vad.threshold == 0.5
    assert config.vad.min_silence_duration_ms == 300
    assert config.vad.speech_pad_ms == 30
    assert config.streaming.encoding == "pcm_s16le"
    assert config.streaming.sample_rate_hz == 16_000
    assert config.streaming.enable_partial_transcripts is True
    assert config.streaming.partial_transcript_interval_s == 0.5
    assert config.streaming.final_transcript_max_duration_s == 30.0
    assert config.whisper.audio_language == "en"
    assert config.whisper.prompt == ""
    assert config.whisper.show_word_timestamps is False
    assert config.send_vad_events is False


def test_empty_sections_give_defaults() -> None:
    document = {s: {} for s in ("vad_params", "streaming_params", "whisper_params")}
    assert parse(document) == SessionConfig()


def test_partial_section_keeps_other_defaults() -> None:
    config = parse({"vad_params": {"threshold": 0.9}})
    assert config.vad == VadOptions(threshold=0.9, min_silence_duration_ms=300, speech_pad_ms=30)
    assert config.streaming == StreamingOptions()
    assert config.whisper == WhisperOptions()


def test_layouts_may_be_mixed_without_duplicates() -> None:
    config = parse(
        {
            "vad_params": {"threshold": 0.4},
            "streaming_vad_config": {"speech_pad_ms": 60},
            "streaming_whisper_params": {"sample_rate": 24000},
            "streaming_params": {"encoding": "pcm_alaw"},
            "whisper_params": {"prompt": "p"},
        }
    )
    assert config.vad == VadOptions(threshold=0.4, speech_pad_ms=60)
    assert config.streaming.sample_rate_hz == 24000
    assert config.streaming.encoding == "pcm_alaw"
    assert config.whisper.prompt == "p"


def test_parsed_value_types() -> None:
    config = parse({"vad_params": {"threshold": 1 / 2}, "streaming_params": {"partial_transcript_interval_s": 1}})
    # An integer JSON literal for a float field is stored as a float.
    assert type(config.streaming.partial_transcript_interval_s) is float
    assert type(config.vad.min_silence_duration_ms) is int


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_every_encoding_accepted(encoding: str) -> None:
    assert parse({"streaming_params": {"encoding": encoding}}).streaming.encoding == encoding


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000])
def test_sample_rates_in_range_accepted(rate: int) -> None:
    assert parse({"streaming_params": {"sample_rate": rate}}).streaming.sample_rate_hz == rate


@pytest.mark.parametrize("value", [16000.0, 1.6e4])
def test_integer_valued_float_accepted_for_int_field(value: float) -> None:
    config = parse({"streaming_params": {"sample_rate": value}})
    assert config.streaming.sample_rate_hz == 16000
    assert type(config.streaming.sample_rate_hz) is int


def test_integer_valued_float_for_min_silence() -> None:
    config = parse({"vad_params": {"min_silence_duration_ms": 500.0}})
    assert config.vad.min_silence_duration_ms == 500
    assert type(config.vad.min_silence_duration_ms) is int


@pytest.mark.parametrize(
    ("section", "name", "value"),
    [
        ("vad_params", "threshold", 0.0),
        ("vad_params", "threshold", 1.0),
        ("vad_params", "min_silence_duration_ms", 32),
        ("vad_params", "min_silence_duration_ms", 10_000),
        ("vad_params", "speech_pad_ms", 0),
        ("vad_params", "speech_pad_ms", 2_000),
        ("streaming_params", "sample_rate", 8_000),
        ("streaming_params", "sample_rate", 48_000),
        ("streaming_params", "partial_transcript_interval_s", 0.1),
        ("streaming_params", "partial_transcript_interval_s", 30.0),
        ("streaming_params", "final_transcript_max_duration_s", 1.0),
        ("streaming_params", "final_transcript_max_duration_s", 30.0),
    ],
)
def test_range_bounds_are_inclusive(section: str, name: str, value: float) -> None:
    parse({section: {name: value}})


@pytest.mark.parametrize("language", ["en", "de", "haw", "yue", "auto"])
def test_languages_accepted(language: str) -> None:
    assert parse({"whisper_params": {"audio_language": language}}).whisper.audio_language == language


def test_prompt_at_limit_accepted() -> None:
    prompt = "x" * MAX_PROMPT_CHARS
    assert parse({"whisper_params": {"prompt": prompt}}).whisper.prompt == prompt


def test_unicode_prompt_kept() -> None:
    assert parse({"whisper_params": {"prompt": "Zürich, 東京"}}).whisper.prompt == "Zürich, 東京"


def test_config_from_dict_matches_parse() -> None:
    assert config_from_dict(SEED_EXAMPLE) == parse(SEED_EXAMPLE)


def test_config_is_frozen() -> None:
    config = parse({})
    with pytest.raises(AttributeError):
        config.vad.threshold = 0.1  # type: ignore[misc]


# --- rejected messages -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "not json", "{", '{"vad_params": }', "{'single': 'quotes'}"])
def test_not_json_is_invalid_data(text: str) -> None:
    with pytest.raises(InvalidDataError) as info:
        parse_session_config(text)
    assert "not valid JSON" in str(info.value)
    assert info.value.close_code == CloseCode.INVALID_DATA
    assert not isinstance(info.value, ConfigError)


@pytest.mark.parametrize(
    ("document", "kind"),
    [([], "array"), ([{"vad_params": {}}], "array"), ("x", "string"), (3, "number"), (None, "null"), (True, "boolean")],
)
def test_non_object_json(document: Any, kind: str) -> None:
    error = config_error(document)
    assert error.field == "config"
    assert f"must be a JSON object, got {kind}" in str(error)


def test_binary_first_message_rejected() -> None:
    with pytest.raises(ConfigError) as info:
        parse_session_config(json.dumps(SEED_EXAMPLE).encode())
    assert info.value.field == "config"
    assert "not audio" in str(info.value)
    assert info.value.close_code == CloseCode.POLICY_VIOLATION


def test_oversize_config_rejected() -> None:
    text = json.dumps({"whisper_params": {"prompt": "x" * MAX_CONFIG_BYTES}})
    with pytest.raises(ConfigError) as info:
        parse_session_config(text)
    assert info.value.field == "config"
    assert str(MAX_CONFIG_BYTES) in str(info.value)


def test_top_level_typo_is_an_error() -> None:
    error = config_error({"vad_params": {}, "vad_parms": {}})
    assert error.field == "vad_parms"
    assert "unknown field" in str(error)
    assert "vad_params" in str(error)  # lists what is allowed
    assert str(error).startswith("vad_parms: ")


@pytest.mark.parametrize(
    ("section", "name", "allowed"),
    [
        ("vad_params", "treshold", "threshold"),
        ("streaming_vad_config", "sample_rate", "threshold"),
        ("streaming_params", "audio_language", "sample_rate"),
        ("whisper_params", "encoding", "prompt"),
        ("streaming_whisper_params", "threshold", "encoding"),
    ],
)
def test_unknown_nested_key(section: str, name: str, allowed: str) -> None:
    error = config_error({section: {name: 1}})
    assert error.field == f"{section}.{name}"
    assert "unknown field" in str(error)
    assert allowed in str(error)


@pytest.mark.parametrize("value", [None, [], 1, "x", True])
def test_section_not_an_object(value: Any) -> None:
    error = config_error({"vad_params": value})
    assert error.field == "vad_params"
    assert "must be an object" in str(error)


@pytest.mark.parametrize(
    ("document", "field", "other"),
    [
        (
            {"vad_params": {"threshold": 0.5}, "streaming_vad_config": {"threshold": 0.6}},
            "streaming_vad_config.threshold",
            "vad_params",
        ),
        (
            {"streaming_vad_config": {"speech_pad_ms": 10}, "vad_params": {"speech_pad_ms": 10}},
            "vad_params.speech_pad_ms",
            "streaming_vad_config",
        ),
        (
            {"streaming_whisper_params": {"encoding": "pcm_s16le"}, "streaming_params": {"encoding": "pcm_s16le"}},
            "streaming_params.encoding",
            "streaming_whisper_params",
        ),
        (
            {"streaming_whisper_params": {"sample_rate": 16000}, "streaming_params": {"sample_rate": 8000}},
            "streaming_params.sample_rate",
            "streaming_whisper_params",
        ),
        (
            {"streaming_whisper_params": {"audio_language": "en"}, "whisper_params": {"audio_language": "en"}},
            "whisper_params.audio_language",
            "streaming_whisper_params",
        ),
        (
            {"whisper_params": {"prompt": "a"}, "streaming_whisper_params": {"prompt": "b"}},
            "streaming_whisper_params.prompt",
            "whisper_params",
        ),
    ],
)
def test_duplicate_field_across_layouts(document: dict[str, Any], field: str, other: str) -> None:
    error = config_error(document)
    assert error.field == field
    assert "given twice" in str(error)
    assert f"also in {other}" in str(error)


@pytest.mark.parametrize(
    ("section", "name", "value"),
    [
        ("vad_params", "threshold", True),
        ("vad_params", "min_silence_duration_ms", False),
        ("streaming_params", "sample_rate", True),
        ("streaming_params", "partial_transcript_interval_s", True),
    ],
)
def test_bool_where_number(section: str, name: str, value: bool) -> None:
    error = config_error({section: {name: value}})
    assert error.field == f"{section}.{name}"
    assert "must be a number, got boolean" in str(error)


@pytest.mark.parametrize(("value", "kind"), [("0.5", "string"), (None, "null"), ([0.5], "array"), ({}, "object")])
def test_non_number_where_number(value: Any, kind: str) -> None:
    error = config_error({"vad_params": {"threshold": value}})
    assert error.field == "vad_params.threshold"
    assert f"must be a number, got {kind}" in str(error)


@pytest.mark.parametrize(
    ("section", "name", "value", "kind"),
    [
        ("streaming_params", "enable_partial_transcripts", "true", "string"),
        ("streaming_params", "enable_partial_transcripts", 1, "number"),
        ("whisper_params", "show_word_timestamps", "yes", "string"),
        ("whisper_params", "show_word_timestamps", None, "null"),
    ],
)
def test_non_bool_where_bool(section: str, name: str, value: Any, kind: str) -> None:
    error = config_error({section: {name: value}})
    assert error.field == f"{section}.{name}"
    assert f"must be true or false, got {kind}" in str(error)


def test_top_level_flag_must_be_bool() -> None:
    error = config_error({"send_vad_events": "true"})
    assert error.field == "send_vad_events"
    assert "must be true or false" in str(error)


@pytest.mark.parametrize(
    ("section", "name", "value", "kind"),
    [
        ("streaming_params", "encoding", 1, "number"),
        ("whisper_params", "audio_language", 5, "number"),
        ("whisper_params", "diarization_granularity", None, "null"),
        ("whisper_params", "prompt", ["a"], "array"),
    ],
)
def test_non_string_where_string(section: str, name: str, value: Any, kind: str) -> None:
    error = config_error({section: {name: value}})
    assert error.field == f"{section}.{name}"
    assert f"must be a string, got {kind}" in str(error)


@pytest.mark.parametrize(
    ("section", "name", "value"),
    [
        ("vad_params", "min_silence_duration_ms", 300.5),
        ("vad_params", "speech_pad_ms", 1.5),
        ("streaming_params", "sample_rate", 16000.5),
    ],
)
def test_fractional_value_for_int_field(section: str, name: str, value: float) -> None:
    error = config_error({section: {name: value}})
    assert error.field == f"{section}.{name}"
    assert "whole number" in str(error)
    assert str(value) in str(error)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize(
    "path",
    [
        "vad_params.threshold",
        "streaming_params.partial_transcript_interval_s",
        "streaming_params.final_transcript_max_duration_s",
        "vad_params.min_silence_duration_ms",
        "streaming_params.sample_rate",
    ],
)
def test_non_finite_numbers_rejected(literal: str, path: str) -> None:
    section, name = path.split(".")
    # json.loads accepts these non-standard literals, so the parser must catch them itself.
    with pytest.raises(ConfigError) as info:
        parse_session_config(f'{{"{section}": {{"{name}": {literal}}}}}')
    assert info.value.field == path


def test_nan_float_field_message() -> None:
    with pytest.raises(ConfigError, match=r"^vad_params\.threshold: must be a finite number$"):
        parse_session_config('{"vad_params": {"threshold": NaN}}')


@pytest.mark.parametrize(
    ("section", "name", "value"),
    [
        ("vad_params", "threshold", -0.01),
        ("vad_params", "threshold", 1.01),
        ("vad_params", "threshold", -0.5),
        ("vad_params", "min_silence_duration_ms", 31),
        ("vad_params", "min_silence_duration_ms", 10_001),
        ("vad_params", "speech_pad_ms", -1),
        ("vad_params", "speech_pad_ms", 2_001),
        ("streaming_params", "sample_rate", 7_999),
        ("streaming_params", "sample_rate", 48_001),
        ("streaming_params", "sample_rate", 96_000),
        ("streaming_params", "sample_rate", 0),
        ("streaming_params", "partial_transcript_interval_s", 0.05),
        ("streaming_params", "partial_transcript_interval_s", 31),
        ("streaming_params", "final_transcript_max_duration_s", 0.5),
        ("streaming_params", "final_transcript_max_duration_s", 31.0),
        ("streaming_vad_config", "threshold", 2),
        ("streaming_whisper_params", "sample_rate", 4000),
    ],
)
def test_out_of_range(section: str, name: str, value: float) -> None:
    error = config_error({section: {name: value}})
    assert error.field == f"{section}.{name}"
    assert "must be between" in str(error)
    assert f"got {value}" in str(error)
    # A sample rate we cannot take is an audio-format problem (1003); other ranges are policy (1008).
    if name == "sample_rate":
        assert isinstance(error, AudioFormatConfigError)
        assert error.close_code == CloseCode.UNSUPPORTED_DATA
    else:
        assert not isinstance(error, AudioFormatConfigError)
        assert error.close_code == CloseCode.POLICY_VIOLATION


def test_out_of_range_message_names_bounds() -> None:
    error = config_error({"streaming_params": {"sample_rate": 96000}})
    assert str(error) == "streaming_params.sample_rate: must be between 8000 and 48000, got 96000"


@pytest.mark.parametrize("encoding", ["pcm_s24le", "PCM_S16LE", "opus", "", "pcm_u8"])
def test_bad_encoding(encoding: str) -> None:
    error = config_error({"streaming_whisper_params": {"encoding": encoding}})
    assert error.field == "streaming_whisper_params.encoding"
    assert "unsupported encoding" in str(error)
    assert "pcm_s16le" in str(error)  # lists what is supported
    assert isinstance(error, AudioFormatConfigError)
    assert error.close_code == CloseCode.UNSUPPORTED_DATA
    assert error.code == "unsupported_audio"


@pytest.mark.parametrize(
    "language",
    ["english", "e", "", "12", " en", "en ", "xx", "zz-ZZ", "en--US", "en-", "-en", "en-toolongsubtag", "autox"],
)
def test_bad_language(language: str) -> None:
    error = config_error({"whisper_params": {"audio_language": language}})
    assert error.field == "whisper_params.audio_language"
    assert "language code" in str(error)
    assert "BCP-47" in str(error)
    assert repr(language) in str(error)
    assert error.close_code == CloseCode.POLICY_VIOLATION


@pytest.mark.parametrize("language", ["en\n", "auto\n"])
def test_language_with_trailing_newline_rejected(language: str) -> None:
    error = config_error({"whisper_params": {"audio_language": language}})
    assert error.field == "whisper_params.audio_language"


def test_too_long_prompt() -> None:
    error = config_error({"whisper_params": {"prompt": "x" * (MAX_PROMPT_CHARS + 1)}})
    assert error.field == "whisper_params.prompt"
    assert f"longer than {MAX_PROMPT_CHARS}" in str(error)


def test_config_error_is_policy_violation() -> None:
    error = config_error({"vad_parms": {}})
    assert error.close_code == CloseCode.POLICY_VIOLATION
    assert error.code == "invalid_config"
    assert error.public_message == str(error)


# --- what Baseten's runtime accepts (issue 8) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "code"),
    [("en-US", "en"), ("pt-BR", "pt"), ("pt_BR", "pt"), ("zh-Hant", "zh"), ("EN", "en"), ("Auto", "auto")],
)
def test_bcp47_language_taken_as_whisper_code(tag: str, code: str) -> None:
    config = parse({"whisper_params": {"audio_language": tag}})
    assert config.whisper.audio_language == code
    assert config.warnings == ()


def test_unknown_language_in_seed_layout_names_the_field() -> None:
    error = config_error({"streaming_whisper_params": {"audio_language": "xx-YY"}})
    assert error.field == "streaming_whisper_params.audio_language"
    assert str(error).startswith("streaming_whisper_params.audio_language: unknown language 'xx-YY'")


def test_language_options_normalised_deduplicated_in_order() -> None:
    config = parse({"whisper_params": {"audio_language": "auto", "language_options": ["en-US", "de", "EN", "pt_BR"]}})
    assert config.whisper.language_options == ("en", "de", "pt")
    assert config.warnings == ()


@pytest.mark.parametrize("section", ["whisper_params", "streaming_whisper_params"])
def test_language_options_in_either_layout(section: str) -> None:
    config = parse({section: {"audio_language": "auto", "language_options": ["fr"]}})
    assert config.whisper.language_options == ("fr",)


def test_language_options_default_and_empty_mean_unrestricted() -> None:
    assert parse({}).whisper.language_options == ()
    config = parse({"whisper_params": {"audio_language": "auto", "language_options": []}})
    assert config.whisper.language_options == ()
    assert config.warnings == ()


@pytest.mark.parametrize(("value", "kind"), [("en", "string"), ({"en": 1}, "object"), (None, "null"), (3, "number")])
def test_language_options_must_be_an_array(value: Any, kind: str) -> None:
    error = config_error({"whisper_params": {"language_options": value}})
    assert error.field == "whisper_params.language_options"
    assert f"must be an array of language codes, got {kind}" in str(error)


@pytest.mark.parametrize(
    ("item", "message"), [(1, "must be a string"), ("xx", "unknown language"), ("auto", "unknown")]
)
def test_language_options_item_errors_name_the_index(item: Any, message: str) -> None:
    error = config_error({"whisper_params": {"language_options": ["en", item]}})
    assert error.field == "whisper_params.language_options[1]"
    assert message in str(error)
    assert "or auto" not in str(error)  # auto is not a language to choose among


def test_language_options_too_many() -> None:
    error = config_error({"whisper_params": {"language_options": ["en"] * 101}})
    assert error.field == "whisper_params.language_options"
    assert "more than 100 languages" in str(error)


def test_language_options_given_twice_across_layouts() -> None:
    error = config_error(
        {"streaming_whisper_params": {"language_options": ["en"]}, "whisper_params": {"language_options": ["de"]}}
    )
    assert error.field == "whisper_params.language_options"
    assert "given twice" in str(error)


def test_language_options_with_a_fixed_language_warn() -> None:
    config = parse({"whisper_params": {"audio_language": "en", "language_options": ["en", "de"]}})
    assert config.whisper.language_options == ("en", "de")
    assert config.warnings == ("whisper_params.language_options: no effect unless audio_language is 'auto'",)


@pytest.mark.parametrize("name", ["language_detection_only", "use_dynamic_preprocessing"])
def test_accepted_fields_without_effect_yet(name: str) -> None:
    assert parse({"whisper_params": {name: False}}).warnings == ()
    config = parse({"whisper_params": {name: True}})
    assert getattr(config.whisper, name) is True
    assert len(config.warnings) == 1
    assert config.warnings[0].startswith(f"whisper_params.{name}: accepted, no effect: ")
    assert getattr(parse({}).whisper, name) is False


@pytest.mark.parametrize("name", ["language_detection_only", "use_dynamic_preprocessing"])
def test_accepted_fields_are_type_checked(name: str) -> None:
    error = config_error({"whisper_params": {name: "yes"}})
    assert error.field == f"whisper_params.{name}"
    assert "must be true or false, got string" in str(error)


def test_include_timing_info_accepted() -> None:
    assert parse({"include_timing_info": True}) == SessionConfig(include_timing_info=True)
    assert parse({"include_timing_info": False}) == SessionConfig()
    assert parse({"include_timing_info": False}).warnings == ()
    error = config_error({"include_timing_info": 1})
    assert error.field == "include_timing_info"
    assert "must be true or false" in str(error)


@pytest.mark.parametrize("threshold", [0, 0.0, 1, 1.0])
def test_vad_threshold_ends_carried_with_a_warning(threshold: float) -> None:
    config = parse({"streaming_vad_config": {"threshold": threshold}})
    assert config.vad.threshold == float(threshold)
    assert type(config.vad.threshold) is float
    assert len(config.warnings) == 1
    assert config.warnings[0].startswith(f"streaming_vad_config.threshold: {int(threshold)} counts ")
    assert ("no frame" if threshold else "every frame") in config.warnings[0]


def test_vad_threshold_inside_range_has_no_warning() -> None:
    assert parse({"vad_params": {"threshold": 0.01}}).warnings == ()
    assert parse({"vad_params": {"threshold": 0.99}}).warnings == ()


KNOWN_TOP_LEVEL = (
    "diarization_config, include_timing_info, send_turn_events, send_vad_events, stream_id, "
    "streaming_diarization_config, streaming_params, streaming_vad_config, streaming_whisper_params, vad_params, "
    "whisper_params"
)


def test_unknown_top_level_field_is_ignored_with_a_warning() -> None:
    config = parse({"model": "whisper-v3", "vad_params": {"threshold": 0.6}, "client_version": {"x": [1]}})
    assert config.vad.threshold == 0.6
    assert config.warnings == (
        f"model: unknown top-level field, ignored (known: {KNOWN_TOP_LEVEL})",
        f"client_version: unknown top-level field, ignored (known: {KNOWN_TOP_LEVEL})",
    )


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("whisper_param", "whisper_params"),
        ("send_vad_event", "send_vad_events"),
        ("streamingparams", "streaming_params"),
    ],
)
def test_top_level_typo_suggests_the_known_name(key: str, suggestion: str) -> None:
    error = config_error({key: {}})
    assert error.field == key
    assert f"did you mean {suggestion!r}?" in str(error)


@pytest.mark.parametrize(
    ("key", "where"),
    [
        ("sample_rate", "streaming_whisper_params or streaming_params"),
        ("threshold", "vad_params or streaming_vad_config"),
    ],
)
def test_section_field_at_top_level_is_an_error(key: str, where: str) -> None:
    error = config_error({key: 8000})
    assert error.field == key
    assert str(error) == f"{key}: belongs inside {where}, not at the top level"


def test_default_config_has_no_warnings() -> None:
    assert SessionConfig().warnings == ()
    assert parse(SEED_EXAMPLE).warnings == ()


# The first messages of the real clients, as their sources build them (see tests/clients/README.md).

LIVEKIT_PY_METADATA = {  # livekit-plugins-baseten 1.8.9, stt.py _connect_ws, language="en-US"
    "whisper_params": {"audio_language": "en-US", "show_word_timestamps": True},
    "streaming_params": {
        "encoding": "pcm_s16le",
        "sample_rate": 16000,
        "enable_partial_transcripts": True,
        "partial_transcript_interval_s": 1.0,
        "final_transcript_max_duration_s": 30,
    },
    "streaming_vad_config": {"threshold": 0.5, "min_silence_duration_ms": 300, "speech_pad_ms": 30},
}
LIVEKIT_NODE_METADATA = {  # @livekit/agents-plugin-baseten 1.3.0, src/stt.ts #runWS, audioLanguage="en-US"
    "vad_params": {"threshold": 0.5, "min_silence_duration_ms": 300, "speech_pad_ms": 30},
    "streaming_whisper_params": {
        "encoding": "pcm_s16le",
        "sample_rate": 16000,
        "enable_partial_transcripts": False,
        "audio_language": "en-US",
        "show_word_timestamps": True,
    },
}
PIPECAT_METADATA = DEFAULT_METADATA  # the community pipecat BasetenSTTService's, as its replay sends it


@pytest.mark.parametrize("metadata", [LIVEKIT_PY_METADATA, LIVEKIT_NODE_METADATA, PIPECAT_METADATA])
def test_real_client_metadata_accepted_without_warnings(metadata: dict[str, Any]) -> None:
    config = parse(metadata)
    assert config.warnings == ()
    assert config.whisper.audio_language in ("en", "auto")


def test_livekit_language_options_accepted() -> None:
    metadata = json.loads(json.dumps(LIVEKIT_PY_METADATA))
    metadata["whisper_params"].update(audio_language="auto", language_options=["en-US", "de-DE"])
    assert parse(metadata).whisper.language_options == ("en", "de")
