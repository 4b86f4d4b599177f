"""Tests for whisper_stream.protocol.diarization_config: Baseten's diarization fields as a session config takes them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.config_documents import config_error, parse
from whisper_stream.protocol.diarization_config import MAX_SPEAKERS, DiarizationOptions, SpeakerOverrides

SWITCHES = [
    "enable_diarization",
    "enable_final_diarization",
    "enable_word_level_diarization",
    "enable_sentence_level_diarization",
]


@pytest.mark.parametrize("name", SWITCHES)
@pytest.mark.parametrize("section", ["whisper_params", "streaming_whisper_params"])
def test_each_switch_asks_for_speaker_labels_without_a_warning(section: str, name: str) -> None:
    config = parse({section: {name: True, "show_word_timestamps": True}})
    diarization = config.whisper.diarization
    assert getattr(diarization, name) is True and diarization.requested and diarization.switch == name
    assert config.warnings == ()
    assert config.field_path(f"whisper.diarization.{name}") == f"{section}.{name}"
    assert not parse({section: {name: False}}).whisper.diarization.requested


def test_by_default_nothing_is_asked() -> None:
    diarization = parse({}).whisper.diarization
    assert diarization == DiarizationOptions() and not diarization.requested
    assert diarization.switch == "enable_diarization" and diarization.speakers == SpeakerOverrides()
    assert parse({"whisper_params": {"enable_diarization": None}}).whisper.diarization.requested is False


@pytest.mark.parametrize("granularity", ["word", "segment", "sentence", "split_segment"])
def test_every_granularity_is_taken(granularity: str) -> None:
    config = parse(
        {
            "whisper_params": {
                "enable_diarization": True,
                "diarization_granularity": granularity,
                "show_word_timestamps": True,
            }
        }
    )
    assert config.whisper.diarization.diarization_granularity == granularity and config.warnings == ()
    assert config.whisper.diarization.by_word is (granularity == "word")


def test_an_unknown_granularity_is_an_error_naming_the_choices() -> None:
    error = config_error({"whisper_params": {"diarization_granularity": "paragraph"}})
    assert error.field == "whisper_params.diarization_granularity"
    assert "must be one of word, segment, sentence, split_segment" in str(error)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"enable_diarization": True, "diarization_granularity": "word"}, "whisper_params.diarization_granularity"),
        ({"enable_word_level_diarization": True}, "whisper_params.enable_word_level_diarization"),
    ],
)
def test_word_labels_without_words_get_a_warning(fields: dict[str, Any], named: str) -> None:
    (warning,) = parse({"whisper_params": fields}).warnings
    assert warning == f"{named}: no words are sent without show_word_timestamps; segments are labelled"


def test_streaming_diarization_config_overrides_threshold_and_max_speakers() -> None:
    config = parse(
        {
            "whisper_params": {"enable_diarization": True},
            "streaming_diarization_config": {"threshold": 0.7, "max_speakers": 3},
        }
    )
    assert config.whisper.diarization.speakers == SpeakerOverrides(threshold=0.7, max_speakers=3)
    assert config.warnings == ()
    nulls = parse({"streaming_diarization_config": {"threshold": None, "max_speakers": None}})
    assert nulls.whisper.diarization.speakers == SpeakerOverrides()


@pytest.mark.parametrize(
    ("given", "field", "said"),
    [
        ({"threshold": 1.0}, "streaming_diarization_config.threshold", "must be between 0 and 0.99, got 1.0"),
        ({"threshold": -0.1}, "streaming_diarization_config.threshold", "must be between 0 and 0.99"),
        ({"threshold": "high"}, "streaming_diarization_config.threshold", "must be a number, got string"),
        ({"max_speakers": 0}, "streaming_diarization_config.max_speakers", f"must be between 1 and {MAX_SPEAKERS}"),
        ({"max_speakers": 33}, "streaming_diarization_config.max_speakers", "got 33"),
        ({"max_speakers": 2.5}, "streaming_diarization_config.max_speakers", "must be a whole number"),
        ({"max_speaker": 2}, "streaming_diarization_config.max_speaker", "did you mean 'max_speakers'?"),
        ({"treshold": 0.5}, "streaming_diarization_config.treshold", "did you mean 'threshold'?"),
    ],
)
def test_a_bad_override_is_an_error_naming_it(given: dict[str, Any], field: str, said: str) -> None:
    error = config_error({"whisper_params": {"enable_diarization": True}, "streaming_diarization_config": given})
    assert error.field == field and said in str(error), error


def test_keys_of_baseten_s_own_diarizer_are_ignored_with_a_warning() -> None:
    config = parse(
        {"whisper_params": {"enable_diarization": True}, "streaming_diarization_config": {"min_speakers": 2}}
    )
    assert config.warnings == (
        "streaming_diarization_config.min_speakers: not a setting of this server, ignored (known: max_speakers, "
        "threshold)",
    )


def test_streaming_diarization_config_without_diarization_gets_a_warning() -> None:
    assert parse({"streaming_diarization_config": {}}).warnings == ()
    (warning,) = parse({"streaming_diarization_config": {"max_speakers": 2}}).warnings
    assert warning == "streaming_diarization_config: no effect unless enable_diarization is true"
    error = config_error({"streaming_diarization_config": [1]})
    assert error.field == "streaming_diarization_config" and "must be an object, got array" in str(error)


def test_diarization_config_is_for_whole_recordings_and_gets_a_warning() -> None:
    assert parse({"diarization_config": {}}).warnings == ()
    (warning,) = parse({"diarization_config": {"min_speakers": 2}}).warnings
    assert warning.startswith("diarization_config: accepted, no effect: it configures Baseten's diarization of a whole")
