"""Schema conformance with Baseten's streaming Whisper types (modelled in tests/baseten_types.py, pinned there).

Inputs: a config built from Baseten's types is accepted, with every field at its default and with every
field at a non-default value, in Baseten's layout and in the older one; a wrong type for any field is an
error naming it. Results: every transcription message a session sends validates against Baseten's
``StreamingWhisperResult`` (extra fields forbidden but for the few this server adds, ``OURS``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

from tests import baseten_types as baseten
from tests.fakes import EnergyScorer, silence_s, tone_s
from whisper_stream.core.session import Session
from whisper_stream.inference.requests import TRANSLATE, Sampling
from whisper_stream.protocol.config import SamplingOptions, SessionConfig, config_from_dict, parse_session_config
from whisper_stream.protocol.errors import ConfigError
from whisper_stream.protocol.results import DecodeTimes, Segment, TranscriptionResult, Word
from whisper_stream.samples import SAMPLE_RATE_HZ

# Every field of Baseten's input types at a value other than its default (a valid one here).
NON_DEFAULT: dict[str, dict[str, Any]] = {
    "WhisperSamplingParams": {
        "beam_width": 3,
        "length_penalty": 1.0,
        "repetition_penalty": 1.1,
        "beam_search_diversity_rate": 0.5,
        "no_repeat_ngram_size": 3,
        "sampling_temperatures": [0.0, 0.5],
        "max_new_tokens": 200,
    },
    "WhisperParams": {
        "prompt": "Kennedy, Americans",
        "output_language": "en",
        "audio_language": "de",
        "language_detection_only": True,
        "language_options": ["de", "en"],
        "use_dynamic_preprocessing": True,
        "use_missing_chunk_retry": True,
        "missing_chunk_wpm_threshold": 80,
        "show_word_timestamps": True,
        "enable_vad": False,
        "enable_diarization": True,
        "diarization_granularity": "word",
        "enable_word_level_diarization": True,
        "enable_sentence_level_diarization": True,
        "enable_final_diarization": True,
        "prefix": "And so",
        "show_beam_results": True,
        "enable_chunk_level_language_detection": True,
    },
    "StreamingParams": {
        "encoding": "pcm_mulaw",
        "sample_rate": 8000,
        "enable_partial_transcripts": True,
        "partial_transcript_interval_s": 1.0,
        "final_transcript_max_duration_s": 20,
        "prioritize_latency": False,
        "skip_partial_if_hallucination": False,
        "include_pipeline_latency_metric": True,
    },
    "StreamingWhisperInput": {
        "streaming_vad_config": {"threshold": 0.6, "min_silence_duration_ms": 500, "speech_pad_ms": 60},
        "streaming_diarization_config": {"max_speakers": 2},
        "diarization_config": {"min_speakers": 1},
        "stream_id": "call-7",
        "include_timing_info": True,
    },
}
_NESTED = {"whisper_sampling_params", "whisper_params", "streaming_params"}


def non_default_input() -> dict[str, Any]:
    whisper = baseten.WhisperParams(
        **NON_DEFAULT["WhisperParams"],
        whisper_sampling_params=baseten.WhisperSamplingParams(**NON_DEFAULT["WhisperSamplingParams"]),
    )
    document = baseten.StreamingWhisperInput(
        whisper_params=whisper,
        streaming_params=baseten.StreamingParams(**NON_DEFAULT["StreamingParams"]),
        **NON_DEFAULT["StreamingWhisperInput"],
    )
    return document.model_dump(mode="json")


@pytest.mark.parametrize(
    "model",
    [baseten.WhisperSamplingParams, baseten.WhisperParams, baseten.StreamingParams, baseten.StreamingWhisperInput],
)
def test_the_non_default_table_covers_every_field_with_another_value(model: type[BaseModel]) -> None:
    given = NON_DEFAULT[model.__name__]
    assert set(given) | _NESTED >= set(model.model_fields), "a field of Baseten's types has no non-default value"
    for name, value in given.items():
        assert value != model.model_fields[name].default, name


def test_baseten_defaults_are_accepted_without_warnings() -> None:
    document = baseten.StreamingWhisperInput().model_dump(mode="json")
    config = parse_session_config(json.dumps(document))
    assert config.warnings == ()
    assert config.whisper.sampling == SamplingOptions(1, 2.0, 1.01, None, None, (0.0, 0.2, 0.4, 0.6, 0.8, 1.0), 400)
    assert config.streaming.enable_partial_transcripts is False  # Baseten's default, sent explicitly


def test_every_field_at_a_non_default_value_is_accepted_and_taken() -> None:
    config = parse_session_config(json.dumps(non_default_input()))
    whisper, streaming = config.whisper, config.streaming
    assert whisper.sampling == SamplingOptions(3, 1.0, 1.1, 0.5, 3, (0.0, 0.5), 200)
    assert (whisper.prompt, whisper.prefix, whisper.audio_language, whisper.output_language) == (
        "Kennedy, Americans",
        "And so",
        "de",
        "en",
    )
    assert whisper.translate and not whisper.enable_vad and whisper.show_beam_results
    assert whisper.use_missing_chunk_retry and whisper.missing_chunk_wpm_threshold == 80
    assert whisper.language_options == ("de", "en") and whisper.show_word_timestamps
    assert whisper.diarization.requested and whisper.diarization.diarization_granularity == "word"
    assert whisper.diarization.speakers.max_speakers == 2
    assert (streaming.encoding, streaming.sample_rate_hz, streaming.final_transcript_max_duration_s) == (
        "pcm_mulaw",
        8000,
        20.0,
    )
    assert streaming.include_pipeline_latency_metric and not streaming.skip_partial_if_hallucination
    assert config.vad.threshold == 0.6 and config.vad.min_silence_duration_ms == 500
    assert config.include_timing_info and config.stream_id == "call-7"
    said = " | ".join(config.warnings)
    for no_effect in (
        "language_detection_only",
        "use_dynamic_preprocessing",
        "beam_search_diversity_rate",
        "prioritize_latency",
        "diarization_config: accepted, no effect",
        "enable_chunk_level_language_detection",  # with a fixed audio_language
    ):
        assert no_effect in said, no_effect
    assert "enable_diarization" not in said and "diarization_granularity" not in said  # speaker labels: done


def test_the_same_fields_in_the_older_layout() -> None:
    document = non_default_input()
    older = {
        "vad_params": document.pop("streaming_vad_config"),
        "streaming_whisper_params": document.pop("whisper_params") | document.pop("streaming_params"),
        **document,
    }
    in_older, in_newer = config_from_dict(older), config_from_dict(non_default_input())
    assert dataclasses.replace(in_older, warnings=()) == dataclasses.replace(in_newer, warnings=())
    assert [w.split(":", 1)[1] for w in in_older.warnings] == [w.split(":", 1)[1] for w in in_newer.warnings]


def _wrong(value: Any) -> Any:
    """A value of another JSON type than ``value``'s."""
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, (int, float)):
        return [value]
    if isinstance(value, str):
        return 5
    if isinstance(value, list):
        return {"a": value}
    return "x"


@pytest.mark.parametrize(
    ("section", "name"),
    [("whisper_params", name) for name in NON_DEFAULT["WhisperParams"]]
    + [("streaming_params", name) for name in NON_DEFAULT["StreamingParams"]]
    + [("whisper_params.whisper_sampling_params", name) for name in NON_DEFAULT["WhisperSamplingParams"]]
    + [("", name) for name in NON_DEFAULT["StreamingWhisperInput"]],
)
def test_a_wrong_type_for_any_field_is_an_error_naming_it(section: str, name: str) -> None:
    model = {"whisper_params": "WhisperParams", "streaming_params": "StreamingParams"}.get(section)
    table = (
        NON_DEFAULT[model] if model else NON_DEFAULT["WhisperSamplingParams" if section else "StreamingWhisperInput"]
    )
    document: dict[str, Any] = {name: _wrong(table[name])}
    for part in reversed(section.split(".") if section else []):
        document = {part: document}
    with pytest.raises(ConfigError) as info:
        config_from_dict(document)
    assert info.value.field.startswith(f"{section}.{name}" if section else name), info.value


# --- results ------------------------------------------------------------------------------------------------------


class RichTranscriber:
    """Results with every field a decode can fill: words, log-probability, n-best, detection, times."""

    def result(self, text: str, duration_s: float) -> TranscriptionResult:
        words = tuple(Word(w, i * 0.2, i * 0.2 + 0.15, 0.9) for i, w in enumerate(text.split()))
        segment = Segment(text, 0.0, duration_s, words, -0.21, False, (text, text + " too"))
        return TranscriptionResult(text, "de", 0.8, (segment,), 0.93, DecodeTimes(0.01, 0.02, 0.3))


def sent_messages(config: SessionConfig) -> list[dict[str, Any]]:
    session = Session(config, EnergyScorer(), early_finals=True)
    rich, messages, now_s = RichTranscriber(), [], 0.0
    audio = np.concatenate([tone_s(1.2), silence_s(0.6), tone_s(1.5), silence_s(0.1)])
    for offset in range(0, audio.size, 512):
        now_s = (offset + 512) / SAMPLE_RATE_HZ
        session.receive_audio(audio[offset : offset + 512], now_s)
        if offset <= 2 * SAMPLE_RATE_HZ < offset + 512:
            session.finalize(now_s)
        for request in session.requests_to_run():
            result = rich.result(f"words of {request.transcription_num}", request.duration_s)
            session.receive_result(request.request_id, result, now_s + 0.2)
        messages += session.messages_to_send()
    session.end_of_stream(now_s)
    for request in session.requests_to_run():
        session.receive_result(request.request_id, rich.result("the end", request.duration_s), now_s + 0.3)
    return messages + session.messages_to_send()


EVERYTHING = {
    "whisper_params": {"show_word_timestamps": True, "show_beam_results": True, "audio_language": "auto"},
    "streaming_params": {"include_pipeline_latency_metric": True, "partial_transcript_interval_s": 0.2},
    "include_timing_info": True,
    "send_vad_events": True,
}


@pytest.mark.parametrize("document", [{}, EVERYTHING], ids=["defaults", "everything"])
def test_every_transcription_validates_against_baseten_results(document: dict[str, Any]) -> None:
    messages = [m for m in sent_messages(config_from_dict(document)) if m["type"] == "transcription"]
    assert {m["is_final"] for m in messages} == {True, False}
    for message in messages:
        baseten.StreamingWhisperResult.model_validate(message)
    finals = [m for m in messages if m["is_final"]]
    assert [m["from_finalize"] for m in finals] == [False, True, False]
    assert [m["is_end_of_audio_flush"] for m in finals] == [False, False, True]
    if document:
        assert all("pipeline_latency" in m and "timing_info" in m for m in messages)
        assert all(m["segments"][0]["beam_results"] for m in finals)


def test_extra_fields_would_be_caught() -> None:
    [message] = [m for m in sent_messages(SessionConfig()) if m["type"] == "transcription"][-1:]
    with pytest.raises(ValueError, match="speaker_id"):
        baseten.StreamingWhisperResult.model_validate(message | {"speaker_id": 1})


def test_a_translating_session_asks_for_the_translate_task() -> None:
    config = config_from_dict({"whisper_params": {"audio_language": "de", "output_language": "en"}})
    session = Session(config, EnergyScorer(), early_finals=False)
    session.receive_audio(np.concatenate([tone_s(1.0), silence_s(0.5)]), 1.5)
    [request] = session.requests_to_run()
    assert request.options.sampling == Sampling(task=TRANSLATE)
