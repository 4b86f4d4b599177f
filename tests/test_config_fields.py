"""Tests for the fields Baseten's current runtime types added (protocol/config_fields.py and what config.py
builds of them): sampling, prefix, output language, VAD off, retry, beam results, top-level fields
(diarization's: tests/test_diarization_config.py).

Conformance with Baseten's own pydantic types is tests/test_baseten_schema.py; these are the rules one by one.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.config_documents import config_error, parse
from whisper_stream.protocol.config import (
    SamplingOptions,
    WhisperOptions,
)

SAMPLING = {
    "beam_width": 3,
    "length_penalty": 0.5,
    "repetition_penalty": 1.2,
    "beam_search_diversity_rate": None,
    "no_repeat_ngram_size": 3,
    "sampling_temperatures": [0.0, 0.5],
    "max_new_tokens": 50,
}


@pytest.mark.parametrize("section", ["whisper_params", "streaming_whisper_params"])
def test_sampling_params_parsed_in_either_whisper_section(section: str) -> None:
    config = parse({section: {"whisper_sampling_params": SAMPLING}})
    assert config.whisper.sampling == SamplingOptions(
        beam_width=3,
        length_penalty=0.5,
        repetition_penalty=1.2,
        no_repeat_ngram_size=3,
        sampling_temperatures=(0.0, 0.5),
        max_new_tokens=50,
    )
    assert config.warnings == ()


def test_sampling_params_not_given_are_none_the_replicas_own() -> None:
    assert parse({}).whisper.sampling == SamplingOptions()
    assert parse({"whisper_params": {"whisper_sampling_params": {}}}).whisper.sampling == SamplingOptions()
    assert parse({"whisper_params": {"whisper_sampling_params": {"beam_width": 2}}}).whisper.sampling == (
        SamplingOptions(beam_width=2)
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("beam_width", 0, "must be between 1 and 64, got 0"),
        ("beam_width", 2.5, "must be a whole number"),
        ("beam_width", "5", "must be a number, got string"),
        ("length_penalty", -1, "must be between 0 and 10"),
        ("repetition_penalty", 0, "must be between 0.01 and 10"),
        ("no_repeat_ngram_size", -1, "must be between 0 and 64"),
        ("max_new_tokens", 0, "must be between 1 and 10000"),
        ("sampling_temperatures", 0.2, "must be an array of numbers, got number"),
        ("sampling_temperatures", [], "must hold 1 to 32 numbers, got 0"),
        ("beam_search_diversity_rate", "x", "must be a number, got string"),
    ],
)
def test_sampling_params_wrong_type_or_range_name_the_field(name: str, value: Any, message: str) -> None:
    error = config_error({"whisper_params": {"whisper_sampling_params": {name: value}}})
    assert error.field == f"whisper_params.whisper_sampling_params.{name}"
    assert message in str(error)


def test_a_bad_temperature_names_its_index() -> None:
    error = config_error({"whisper_params": {"whisper_sampling_params": {"sampling_temperatures": [0.0, 3]}}})
    assert error.field == "whisper_params.whisper_sampling_params.sampling_temperatures[1]"


def test_unknown_sampling_field_is_an_error_listing_the_allowed() -> None:
    error = config_error({"whisper_params": {"whisper_sampling_params": {"beam_size": 5}}})
    assert error.field == "whisper_params.whisper_sampling_params.beam_size"
    assert "unknown field" in str(error) and "beam_width" in str(error)


@pytest.mark.parametrize("value", [None, [], 5])
def test_sampling_params_must_be_an_object(value: Any) -> None:
    error = config_error({"whisper_params": {"whisper_sampling_params": value}})
    assert error.field == "whisper_params.whisper_sampling_params"
    assert "must be an object" in str(error)


def test_diversity_rate_is_accepted_with_a_warning() -> None:
    config = parse({"whisper_params": {"whisper_sampling_params": {"beam_search_diversity_rate": 0.5}}})
    assert config.whisper.sampling.beam_search_diversity_rate == 0.5
    assert config.warnings == (
        "whisper_params.whisper_sampling_params.beam_search_diversity_rate: accepted, no effect: CTranslate2's "
        "beam search has no diversity rate",
    )
    assert parse({"whisper_params": {"whisper_sampling_params": {"beam_search_diversity_rate": 0}}}).warnings == ()


def test_whisper_fields_non_default() -> None:
    config = parse(
        {
            "whisper_params": {
                "prefix": "Dear John,",
                "output_language": "en",
                "audio_language": "de",
                "enable_vad": False,
                "use_missing_chunk_retry": True,
                "missing_chunk_wpm_threshold": 80,
                "show_beam_results": True,
            }
        }
    )
    assert config.whisper == WhisperOptions(
        audio_language="de",
        prefix="Dear John,",
        output_language="en",
        enable_vad=False,
        use_missing_chunk_retry=True,
        missing_chunk_wpm_threshold=80,
        show_beam_results=True,
    )
    assert config.whisper.translate
    assert config.warnings == ()


@pytest.mark.parametrize(
    ("audio", "output", "translate"),
    [("auto", "auto", False), ("de", "de", False), ("de", "en", True), ("auto", "en", True), ("en", "en", False)],
)
def test_output_language_is_the_audios_or_english(audio: str, output: str, translate: bool) -> None:
    config = parse({"whisper_params": {"audio_language": audio, "output_language": output}})
    assert config.whisper.translate is translate


@pytest.mark.parametrize(("audio", "output"), [("auto", "de"), ("en", "fr"), ("de", "fr")])
def test_output_language_other_than_english_is_an_error(audio: str, output: str) -> None:
    error = config_error({"whisper_params": {"audio_language": audio, "output_language": output}})
    assert error.field == "whisper_params.output_language"
    assert "translates into English ('en')" in str(error)


def test_output_language_takes_bcp47_and_names_unknown_ones() -> None:
    assert parse({"whisper_params": {"audio_language": "de", "output_language": "en-GB"}}).whisper.translate
    error = config_error({"whisper_params": {"output_language": "klingon"}})
    assert error.field == "whisper_params.output_language" and "unknown language" in str(error)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("prompt", None, ""),
        ("prefix", None, ""),
        ("output_language", None, "auto"),
        ("audio_language", None, "auto"),
        ("enable_chunk_level_language_detection", None, False),
    ],
)
def test_optional_fields_take_null_as_their_default(name: str, value: Any, expected: Any) -> None:
    assert getattr(parse({"whisper_params": {name: value}}).whisper, name) == expected


def test_prefix_is_bounded_like_the_prompt() -> None:
    error = config_error({"whisper_params": {"prefix": "x" * 1001}})
    assert error.field == "whisper_params.prefix" and "longer than 1000 characters" in str(error)


def test_wpm_threshold_range() -> None:
    error = config_error({"whisper_params": {"missing_chunk_wpm_threshold": -1}})
    assert error.field == "whisper_params.missing_chunk_wpm_threshold"


def test_enable_vad_false_silences_the_threshold_warning() -> None:
    config = parse({"whisper_params": {"enable_vad": False}, "streaming_vad_config": {"threshold": 0}})
    assert config.warnings == ()


def test_chunk_level_detection_with_a_fixed_language_warns() -> None:
    assert (
        parse({"whisper_params": {"audio_language": "auto", "enable_chunk_level_language_detection": True}}).warnings
        == ()
    )
    [warning] = parse({"whisper_params": {"enable_chunk_level_language_detection": True}}).warnings
    assert warning.startswith("whisper_params.enable_chunk_level_language_detection: no effect unless")


@pytest.mark.parametrize("section", ["streaming_params", "streaming_whisper_params"])
def test_streaming_fields_non_default(section: str) -> None:
    config = parse({section: {"skip_partial_if_hallucination": False, "include_pipeline_latency_metric": True}})
    assert config.streaming.skip_partial_if_hallucination is False
    assert config.streaming.include_pipeline_latency_metric is True
    assert config.warnings == ()


def test_prioritize_latency_false_is_accepted_with_a_warning() -> None:
    config = parse({"streaming_params": {"prioritize_latency": False}})
    assert config.streaming.prioritize_latency is False
    assert config.warnings == (
        "streaming_params.prioritize_latency: accepted, no effect: finals always come first here",
    )


def test_stream_id_is_kept_for_the_logs() -> None:
    assert parse({"stream_id": "call-42"}).stream_id == "call-42"
    assert parse({"stream_id": None}).stream_id is None
    assert parse({"stream_id": "call-42"}).warnings == ()
    assert config_error({"stream_id": 42}).field == "stream_id"
    assert config_error({"stream_id": "x" * 257}).field == "stream_id"


def test_a_new_field_given_in_both_layouts_is_an_error() -> None:
    error = config_error({"streaming_whisper_params": {"prefix": "a"}, "whisper_params": {"prefix": "b"}})
    assert error.field in ("whisper_params.prefix", "streaming_whisper_params.prefix")
    assert "given twice" in str(error)
