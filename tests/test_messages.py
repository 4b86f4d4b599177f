"""Tests for whisper_stream.protocol.messages: control parsing and the JSON messages the server sends."""

from __future__ import annotations

import json

import pytest

from whisper_stream.protocol.errors import CloseCode, InvalidDataError, ProtocolError
from whisper_stream.protocol.messages import (
    MAX_CONTROL_BYTES,
    Control,
    TranscriptFacts,
    TranscriptFormat,
    error_message,
    parse_control,
    session_end_message,
    transcription_message,
    vad_event_message,
    warning_message,
)
from whisper_stream.protocol.results import DecodeTimes, Segment, TranscriptionResult, Word

# --- parse_control -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"terminate_session": true}', Control.TERMINATE),
        ('{"terminate_session": true, "type": "terminate_session"}', Control.TERMINATE),
        ('{"type": "end_of_stream"}', Control.TERMINATE),
        ('{"type": "terminate_session"}', Control.TERMINATE),
        ('{"type": "finalize"}', Control.FINALIZE),
        ('{"type": "keepalive"}', Control.KEEPALIVE),
        ('{"type": "ping"}', Control.KEEPALIVE),
        ('  {"type":"finalize"}\n', Control.FINALIZE),
        ("finalize", Control.FINALIZE),  # the bare word an older community pipecat client sends
        ("finalize\n", Control.FINALIZE),
    ],
)
def test_control_messages(text: str, expected: Control) -> None:
    assert parse_control(text) is expected


@pytest.mark.parametrize(
    "document",
    [
        {"vad_params": {"threshold": 0.5}},
        {"streaming_vad_config": {}},
        {"streaming_whisper_params": {"encoding": "pcm_s16le"}},
        {"streaming_params": {}},
        {"whisper_params": {"prompt": "x"}},
        {"type": "finalize", "whisper_params": {}},
    ],
)
def test_second_config_is_protocol_error(document: dict[str, object]) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_control(json.dumps(document))
    assert "config was already received" in str(info.value)
    assert info.value.close_code == CloseCode.POLICY_VIOLATION


@pytest.mark.parametrize(
    "text", ["", "hello", "{", "\x00\x01", '{"type": "finalize"', "Finalize", "finalize now", "keepalive"]
)
def test_garbage_is_invalid_data(text: str) -> None:
    with pytest.raises(InvalidDataError) as info:
        parse_control(text)
    assert "not valid JSON" in str(info.value)
    assert info.value.close_code == CloseCode.INVALID_DATA


@pytest.mark.parametrize("text", ["[]", '["finalize"]', '"finalize"', "1", "null", "true"])
def test_non_object_is_invalid_data(text: str) -> None:
    with pytest.raises(InvalidDataError) as info:
        parse_control(text)
    assert "JSON object" in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        '{"type": "pause"}',
        '{"type": "FINALIZE"}',
        '{"type": 1}',
        '{"type": null}',
        '{"type": ["finalize"]}',
        '{"terminate_session": false}',
        '{"terminate_session": "true"}',
        '{"terminate_session": 1}',
        '{"terminate": true}',
    ],
)
def test_unknown_control_is_protocol_error(text: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_control(text)
    message = str(info.value)
    assert "unknown control message" in message
    # The message says what would have been accepted.
    for kind in ("end_of_stream", "finalize", "keepalive", "ping"):
        assert kind in message


def test_terminate_with_extra_keys_is_not_terminate() -> None:
    with pytest.raises(ProtocolError):
        parse_control('{"terminate_session": true, "reason": "done"}')


def test_oversize_control_is_protocol_error() -> None:
    padding = "x" * MAX_CONTROL_BYTES
    with pytest.raises(ProtocolError) as info:
        parse_control(json.dumps({"type": "keepalive", "pad": padding}))
    assert str(MAX_CONTROL_BYTES) in str(info.value)
    assert not isinstance(info.value, InvalidDataError)


def test_control_at_size_limit_accepted() -> None:
    base = '{"type": "ping", "pad": ""}'
    text = base.replace('""', '"' + "x" * (MAX_CONTROL_BYTES - len(base)) + '"')
    assert len(text) == MAX_CONTROL_BYTES
    assert parse_control(text) is Control.KEEPALIVE


def test_oversize_garbage_is_rejected_before_parsing() -> None:
    with pytest.raises(ProtocolError):
        parse_control("x" * (MAX_CONTROL_BYTES + 1))


# --- transcription_message ---------------------------------------------------------------------------------------

WORDS = (
    Word(" Hello", 1.23456, 1.5004, 0.987654),
    Word(" world", 1.6, 2.0001, 0.5),
)
RESULT = TranscriptionResult(
    text="Hello world. Bye.",
    language_code="en",
    confidence=0.912345678,
    segments=(
        Segment(" Hello world.", 1.23456, 2.0001, WORDS),
        Segment(" Bye.", 2.5, 3.33333, (Word(" Bye.", 2.5, 3.33333, 0.77777),)),
    ),
)


def test_transcription_message_fields() -> None:
    message = transcription_message(RESULT, is_final=True, transcription_num=7, word_timestamps=False)
    assert message == {
        "type": "transcription",
        "is_final": True,
        "transcript": "Hello world. Bye.",
        "transcription_num": 7,
        "language_code": "en",
        "confidence": 0.9123,
        "segments": [
            {
                "text": " Hello world.",
                "start_time": 1.235,
                "end_time": 2.0,
                "possible_hallucination": False,
                "language_code": "en",
            },
            {
                "text": " Bye.",
                "start_time": 2.5,
                "end_time": 3.333,
                "possible_hallucination": False,
                "language_code": "en",
            },
        ],
        "is_end_of_audio_flush": False,
        "from_finalize": False,
    }


def test_partial_flag_and_number() -> None:
    message = transcription_message(RESULT, is_final=False, transcription_num=0, word_timestamps=False)
    assert message["is_final"] is False
    assert message["transcription_num"] == 0


def test_word_timestamps_only_when_asked() -> None:
    without = transcription_message(RESULT, is_final=True, transcription_num=1, word_timestamps=False)
    assert all("word_timestamps" not in s for s in without["segments"])
    with_words = transcription_message(RESULT, is_final=True, transcription_num=1, word_timestamps=True)
    assert with_words["segments"][0]["word_timestamps"] == [
        {"word": " Hello", "start_time": 1.235, "end_time": 1.5, "prob": 0.9877},
        {"word": " world", "start_time": 1.6, "end_time": 2.0, "prob": 0.5},
    ]
    assert with_words["segments"][1]["word_timestamps"] == [
        {"word": " Bye.", "start_time": 2.5, "end_time": 3.333, "prob": 0.7778}
    ]


def test_word_timestamps_asked_but_missing() -> None:
    result = TranscriptionResult("hi", "en", 0.5, (Segment("hi", 0.0, 1.0, None),))
    message = transcription_message(result, is_final=True, transcription_num=1, word_timestamps=True)
    assert message["segments"] == [
        {"text": "hi", "start_time": 0.0, "end_time": 1.0, "possible_hallucination": False, "language_code": "en"}
    ]


def test_word_timestamps_empty_tuple_kept() -> None:
    result = TranscriptionResult("", "en", 0.5, (Segment("", 0.0, 1.0, ()),))
    message = transcription_message(result, is_final=True, transcription_num=1, word_timestamps=True)
    assert message["segments"][0]["word_timestamps"] == []


def test_no_segments() -> None:
    result = TranscriptionResult("", "fr", 0.0)
    message = transcription_message(result, is_final=True, transcription_num=3, word_timestamps=True)
    assert message["segments"] == []
    assert message["transcript"] == ""
    assert message["language_code"] == "fr"


def test_transcription_message_is_json_serialisable() -> None:
    message = transcription_message(RESULT, is_final=True, transcription_num=2, word_timestamps=True)
    assert json.loads(json.dumps(message)) == message


def test_shifted_result_times_are_rounded() -> None:
    shifted = RESULT.shifted(10.0)
    message = transcription_message(shifted, is_final=True, transcription_num=1, word_timestamps=True)
    assert message["segments"][0]["start_time"] == 11.235
    assert message["segments"][0]["word_timestamps"][1]["end_time"] == 12.0


def test_the_decodes_facts_on_every_segment() -> None:
    result = TranscriptionResult(
        "hi",
        "de",
        0.5,
        (Segment("hi", 0.0, 1.0, log_prob=-0.123456, possible_hallucination=True, beam_results=("hi", "high")),),
        language_probability=0.876543,
    )
    message = transcription_message(result, is_final=False, transcription_num=1)
    assert message["language_prob"] == 0.8765
    [segment] = message["segments"]
    assert segment == {
        "text": "hi",
        "start_time": 0.0,
        "end_time": 1.0,
        "log_prob": -0.1235,
        "possible_hallucination": True,
        "language_code": "de",
        "language_prob": 0.8765,
    }
    assert "is_end_of_audio_flush" not in message and "from_finalize" not in message  # finals only


def test_beam_results_only_when_asked() -> None:
    result = TranscriptionResult("hi", "en", 0.5, (Segment("hi", 0.0, 1.0, beam_results=("hi", "high")),))
    asked = transcription_message(result, is_final=True, transcription_num=1, form=TranscriptFormat(beam_results=True))
    assert asked["segments"][0]["beam_results"] == ["hi", "high"]
    assert "beam_results" not in transcription_message(result, is_final=True, transcription_num=1)["segments"][0]


def test_facts_of_a_final() -> None:
    facts = TranscriptFacts(audio_length_s=2.34567, latency_s=0.81234, from_finalize=True, end_of_audio_flush=True)
    message = transcription_message(RESULT, is_final=True, transcription_num=1, facts=facts)
    assert message["audio_length_sec"] == 2.346
    assert message["from_finalize"] is True and message["is_end_of_audio_flush"] is True
    assert "pipeline_latency" not in message and "timing_info" not in message  # only when asked


def test_pipeline_latency_and_timing_info_when_asked() -> None:
    result = TranscriptionResult("hi", "en", 0.5, (Segment("hi", 0.0, 1.0),), times=DecodeTimes(0.01, None, 0.25))
    facts = TranscriptFacts(audio_length_s=1.0, latency_s=0.61234, endpointing_s=0.33)
    form = TranscriptFormat(pipeline_latency=True, timing_info=True)
    message = transcription_message(result, is_final=True, transcription_num=1, form=form, facts=facts)
    assert message["pipeline_latency"] == 0.612
    assert message["timing_info"] == {
        "read_audio_duration_s": None,
        "chunking_duration_s": 0.33,
        "queue_wait_duration_s": 0.01,
        "language_detection_duration_s": None,
        "transcription_duration_s": 0.25,
        "diarization_duration_s": None,
        "speaker_assignment_duration_s": None,
        "total_duration_s": 0.6123,
    }
    unknown = transcription_message(result, is_final=False, transcription_num=1, form=form)
    assert unknown["pipeline_latency"] is None


# --- other messages ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["speech_started", "speech_ended"])
def test_vad_event_message(kind: str) -> None:
    assert vad_event_message(kind, 1.23456) == {"type": kind, "time_s": 1.235}


def test_session_end_message() -> None:
    message = session_end_message(audio_duration_s=12.34567, speech_duration_s=4.0004, finals_sent=3, partials_sent=9)
    assert message == {
        "type": "session_end",
        "audio_duration_s": 12.346,
        "speech_duration_s": 4.0,
        "finals_sent": 3,
        "partials_sent": 9,
    }


def test_error_message() -> None:
    assert error_message("invalid_config", "vad_params.threshold: bad") == {
        "type": "error",
        "code": "invalid_config",
        "message": "vad_params.threshold: bad",
    }


def test_warning_message() -> None:
    assert warning_message("model: unknown top-level field, ignored") == {
        "type": "warning",
        "code": "config_warning",
        "message": "model: unknown top-level field, ignored",
    }
    assert warning_message("x", code="other")["code"] == "other"
