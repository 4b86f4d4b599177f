"""The session's side of Baseten's newer fields: finals marked for a finalize and for the end-of-audio flush,
no VAD gating, partials that look hallucinated not sent, the facts on every transcript, sampling clamped."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fakes import EnergyScorer, result_for, silence_s, tone_s
from whisper_stream.core.prompting import SamplingLimits
from whisper_stream.core.session import RequestKind, Session
from whisper_stream.inference.requests import Sampling
from whisper_stream.protocol.config import SessionConfig, config_from_dict
from whisper_stream.protocol.results import Segment, TranscriptionResult
from whisper_stream.samples import SAMPLE_RATE_HZ

SR = SAMPLE_RATE_HZ


def session_for(document: dict, **kwargs: object) -> Session:
    config = config_from_dict({"streaming_vad_config": {"min_speech_duration_ms": 0}, **document})
    return Session(config, EnergyScorer(), early_finals=False, **kwargs)  # type: ignore[arg-type]


def feed(session: Session, audio: np.ndarray, *, start_s: float = 0.0, frame_samples: int = 512) -> None:
    for offset in range(0, audio.size, frame_samples):
        chunk = audio[offset : offset + frame_samples]
        session.receive_audio(chunk, start_s + (offset + chunk.size) / SR)


def answer(session: Session, now_s: float | None = None, text: str = "words") -> list[dict]:
    while requests := session.requests_to_run():
        for request in requests:
            session.receive_result(request.request_id, result_for(f"{text} {request.transcription_num}"), now_s)
    return session.messages_to_send()


def finals(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m.get("type") == "transcription" and m["is_final"]]


# --- finalize and the end-of-audio flush ------------------------------------------------------------------------


def test_the_final_that_answers_a_finalize_is_marked() -> None:
    session = session_for({"streaming_params": {"enable_partial_transcripts": False}})
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.5)]))  # ended by the VAD
    feed(session, tone_s(0.8), start_s=1.5)
    session.finalize(2.3)  # ends the open one
    [by_vad, by_finalize] = finals(answer(session))
    assert by_vad["from_finalize"] is False and by_finalize["from_finalize"] is True
    assert not by_vad["is_end_of_audio_flush"] and not by_finalize["is_end_of_audio_flush"]


def test_a_finalize_with_nothing_open_marks_the_last_final_still_to_come() -> None:
    session = session_for({"streaming_params": {"enable_partial_transcripts": False}})
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.5)]))
    session.finalize(1.5)  # the VAD already ended it; its final is not sent yet
    [final] = finals(answer(session))
    assert final["from_finalize"] is True
    session.finalize(2.0)  # nothing open, nothing to come: an empty final answers it, at once


def test_a_finalize_with_nothing_to_finalize_is_answered_at_once_with_an_empty_final() -> None:
    session = session_for({"streaming_params": {"enable_partial_transcripts": False}})
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.5)]))
    [spoken] = finals(answer(session))
    session.finalize(1.6)  # everything said is sent: nothing left to finalize
    assert session.requests_to_run() == []  # no decode for it
    [empty] = finals(session.messages_to_send())
    assert empty["from_finalize"] is True and empty["transcript"] == "" and empty["segments"] == []
    assert empty["transcription_num"] == spoken["transcription_num"] + 1
    session.finalize(1.7)  # and again: each finalize with nothing to finalize gets its own answer
    [again] = finals(session.messages_to_send())
    assert again["from_finalize"] is True and again["transcription_num"] == empty["transcription_num"] + 1
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.5)]), start_s=2.0)  # numbering goes on after them
    [later] = finals(answer(session))
    assert later["transcription_num"] == again["transcription_num"] + 1 and later["transcript"]
    session.end_of_stream(4.0)
    assert session.messages_to_send()[-1]["finals_sent"] == 4


def test_a_finalize_before_any_audio_is_answered() -> None:
    session = session_for({})
    session.finalize(0.0)
    [final] = finals(session.messages_to_send())
    assert final["from_finalize"] is True and final["transcription_num"] == 0


def test_a_finalize_on_noise_is_answered_with_an_empty_final() -> None:
    session = session_for({"streaming_vad_config": {"min_speech_duration_ms": 500}})
    feed(session, tone_s(0.1))  # too short to be decoded
    session.finalize(0.1)
    [final] = finals(answer(session))
    assert final["transcript"] == "" and final["from_finalize"] is True


def test_the_final_of_the_audio_buffered_at_the_end_is_the_flush() -> None:
    session = session_for({"streaming_params": {"enable_partial_transcripts": False}})
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.5), tone_s(0.7)]))
    session.end_of_stream(2.2)
    messages = answer(session)
    assert [m["is_end_of_audio_flush"] for m in finals(messages)] == [False, True]
    assert messages[-1]["type"] == "session_end"


# --- enable_vad: false ----------------------------------------------------------------------------------------


def test_without_vad_silence_does_not_end_an_utterance() -> None:
    session = session_for(
        {"whisper_params": {"enable_vad": False}, "streaming_params": {"enable_partial_transcripts": False}}
    )
    feed(session, np.concatenate([silence_s(1.0), tone_s(1.0), silence_s(2.0), tone_s(1.0)]))
    assert [r for r in session.requests_to_run() if r.kind is RequestKind.FINAL] == []
    session.finalize(5.0)
    [request] = session.requests_to_run()
    assert request.kind is RequestKind.FINAL and request.start_sample == 0 and request.end_sample == 5 * SR


def test_without_vad_an_utterance_ends_at_the_max_duration() -> None:
    session = session_for(
        {
            "whisper_params": {"enable_vad": False},
            "streaming_params": {"enable_partial_transcripts": False, "final_transcript_max_duration_s": 2},
        }
    )
    feed(session, silence_s(5.0))
    assert len([r for r in session.requests_to_run() if r.kind is RequestKind.FINAL]) == 2


# --- partials that fail the hallucination checks -------------------------------------------------------------


def doubtful(text: str) -> TranscriptionResult:
    return TranscriptionResult(text, "en", 0.2, (Segment(text, 0.0, 1.0, possible_hallucination=True),))


@pytest.mark.parametrize(("skip", "sent"), [(None, False), (True, False), (False, True)])
def test_a_hallucinated_partial_is_skipped_unless_the_client_wants_it(skip: bool | None, sent: bool) -> None:
    streaming = {"partial_transcript_interval_s": 0.2} | (
        {} if skip is None else {"skip_partial_if_hallucination": skip}
    )
    session = session_for({"streaming_params": streaming})
    feed(session, tone_s(1.0))
    [partial] = session.requests_to_run()
    session.receive_result(partial.request_id, doubtful("Thank you."))
    messages = session.messages_to_send()
    assert bool(messages) is sent
    if sent:
        assert messages[0]["segments"][0]["possible_hallucination"] is True


# --- the facts on every transcript -------------------------------------------------------------------------------


def test_audio_length_and_pipeline_latency_when_asked() -> None:
    session = session_for(
        {"streaming_params": {"include_pipeline_latency_metric": True, "enable_partial_transcripts": False}}
    )
    feed(session, np.concatenate([silence_s(0.5), tone_s(1.0), silence_s(0.5)]))
    [final] = finals(answer(session, now_s=2.25))
    assert final["audio_length_sec"] == pytest.approx(1.0 + 0.06, abs=0.07)  # the tone and its padding
    # from the arrival of the frame holding the utterance's last sample (1.53 s: real-time feed) to 2.25 s
    assert final["pipeline_latency"] == pytest.approx(2.25 - 1.53, abs=512 / SR)
    assert "timing_info" not in final


def test_timing_info_when_asked() -> None:
    session = session_for({"include_timing_info": True, "streaming_params": {"enable_partial_transcripts": False}})
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.5)]))
    [final] = finals(answer(session, now_s=1.6))
    timing = final["timing_info"]
    assert timing["chunking_duration_s"] == pytest.approx(0.3, abs=0.07)  # the VAD's min_silence_duration_ms
    assert timing["total_duration_s"] == pytest.approx(0.6, abs=0.07)
    assert "pipeline_latency" not in final


# --- the search, clamped, and the prefix ------------------------------------------------------------------------


def test_sampling_goes_on_finals_and_partials_stay_greedy() -> None:
    session = session_for(
        {
            "whisper_params": {"whisper_sampling_params": {"beam_width": 4, "repetition_penalty": 1.2}},
            "streaming_params": {"partial_transcript_interval_s": 0.2},
        }
    )
    feed(session, tone_s(1.0))
    [partial] = session.requests_to_run()
    assert partial.options.sampling == Sampling(repetition_penalty=1.2, temperatures=(0.0,))
    session.finalize(1.0)
    final = next(r for r in session.requests_to_run() if r.kind is RequestKind.FINAL)
    assert final.options.sampling == Sampling(beam_size=4, repetition_penalty=1.2)


def test_clamped_sampling_is_said_first() -> None:
    session = session_for(
        {"whisper_params": {"whisper_sampling_params": {"beam_width": 9}}}, sampling_limits=SamplingLimits(2)
    )
    [warning] = session.messages_to_send()
    assert warning["type"] == "warning" and warning["code"] == "config_warning"
    assert warning["message"].startswith("whisper_params.whisper_sampling_params.beam_width: 9 is over")


def test_the_prefix_goes_with_the_first_utterance_until_a_final_with_words() -> None:
    session = session_for(
        {"whisper_params": {"prefix": "Dear John,"}, "streaming_params": {"enable_partial_transcripts": False}}
    )
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.5)]))
    [first] = session.requests_to_run()
    assert first.options.prefix == "Dear John,"
    session.receive_result(first.request_id, TranscriptionResult.empty("en"))  # noise: no words
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.5)]), start_s=1.5)
    [second] = session.requests_to_run()
    assert second.options.prefix == "Dear John,"
    session.receive_result(second.request_id, result_for("Dear John, hello"))
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.5)]), start_s=3.0)
    [third] = session.requests_to_run()
    assert third.options.prefix != "Dear John,"


def test_a_final_asked_before_the_first_is_sent_does_not_get_the_prefix() -> None:
    session = session_for(
        {"whisper_params": {"prefix": "Dear John,"}, "streaming_params": {"enable_partial_transcripts": False}}
    )
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.5), tone_s(1.0), silence_s(0.5)]))
    first, second = session.requests_to_run()
    assert (first.options.prefix, second.options.prefix) == ("Dear John,", None)


def test_default_config_sends_no_new_keys_it_was_not_asked_for() -> None:
    session = Session(SessionConfig(), EnergyScorer(), early_finals=False)
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.5)]))
    [final] = finals(answer(session))
    assert not {"pipeline_latency", "timing_info"} & set(final)
    assert "beam_results" not in final["segments"][0]
