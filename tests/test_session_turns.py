"""Turn events (``send_turn_events``): a pause's speculative final sent as ``eager_end_of_turn``, taken back by
``turn_resumed`` when speech resumes, and the final saying whether it differs; and a ``finalize`` answered by
the decode already running in a pause (one decode, never two)."""

from __future__ import annotations

import dataclasses

import numpy as np

from tests.fakes import EnergyScorer, result_for, silence_s, tone_s
from whisper_stream.core.session import RequestKind, Session
from whisper_stream.protocol.config import SessionConfig, StreamingOptions, VadOptions

SR = 16_000
VAD = VadOptions(threshold=0.5, min_silence_duration_ms=300, speech_pad_ms=30, min_speech_duration_ms=0)


def make_session(*, turn_events: bool = True, partials: bool = False) -> Session:
    config = SessionConfig(
        vad=VAD, streaming=StreamingOptions(enable_partial_transcripts=partials), send_turn_events=turn_events
    )
    return Session(config, EnergyScorer(), early_finals=True)


def feed(session: Session, audio: np.ndarray, *, start_s: float = 0.0) -> None:
    for offset in range(0, audio.size, 512):
        chunk = audio[offset : offset + 512]
        session.receive_audio(chunk, start_s + (offset + chunk.size) / SR)


def types(messages: list[dict]) -> list[str]:
    return [m["type"] if m["type"] != "transcription" else ("final" if m["is_final"] else "partial") for m in messages]


def test_a_pause_sends_its_early_final_as_eager_end_of_turn_then_the_same_final() -> None:
    session = make_session()
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.064)]))
    [early] = session.requests_to_run()
    assert early.kind is RequestKind.EARLY_FINAL
    session.receive_result(early.request_id, result_for("see you at noon"), 1.1)
    [eager] = session.messages_to_send()  # before the silence has lasted min_silence_duration_ms
    assert eager["type"] == "eager_end_of_turn" and "is_final" not in eager
    assert (eager["transcript"], eager["transcription_num"]) == ("see you at noon", 0)
    assert eager["segments"][0]["end_time"] > 0.9  # the words' times, as a partial's
    feed(session, silence_s(0.4), start_s=1.064)
    assert session.requests_to_run() == []
    [final] = session.messages_to_send()
    assert final["is_final"] and final["transcript"] == "see you at noon" and final["differs_from_eager"] is False


def test_speech_resuming_after_an_eager_end_of_turn_sends_turn_resumed() -> None:
    session = make_session()
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.1)]))
    [early] = session.requests_to_run()
    session.receive_result(early.request_id, result_for("I want to"), 1.1)
    assert types(session.messages_to_send()) == ["eager_end_of_turn"]
    feed(session, tone_s(1.0), start_s=1.1)  # the speaker goes on: the agent must drop its early reply
    [resumed] = session.messages_to_send()
    assert resumed == {"type": "turn_resumed", "transcription_num": 0, "time_s": resumed["time_s"]}
    assert 1.05 <= resumed["time_s"] <= 1.15  # where speech resumed, stream time
    feed(session, silence_s(0.1), start_s=2.1)  # a second pause, which lasts
    [second] = session.requests_to_run()
    session.receive_result(second.request_id, result_for("I want to book a table"), 2.2)
    feed(session, silence_s(0.4), start_s=2.2)
    eager, final = session.messages_to_send()
    assert types([eager, final]) == ["eager_end_of_turn", "final"] and eager["transcript"] == final["transcript"]
    assert final["transcript"] == "I want to book a table" and final["differs_from_eager"] is False


def test_a_final_that_differs_from_its_eager_end_of_turn_says_so() -> None:
    config = SessionConfig(
        vad=VAD,
        streaming=StreamingOptions(enable_partial_transcripts=False, final_transcript_max_duration_s=2.0),
        send_turn_events=True,
    )
    session = Session(config, EnergyScorer(), early_finals=True)
    feed(session, np.concatenate([tone_s(1.85), silence_s(0.064)]))
    [early] = session.requests_to_run()
    session.receive_result(early.request_id, result_for("four"), 1.95)
    assert types(session.messages_to_send()) == ["eager_end_of_turn"]
    feed(session, silence_s(0.2), start_s=1.914)  # the length cap cuts it elsewhere: decoded again
    again = [r for r in session.requests_to_run() if r.transcription_num == 0]
    assert [r.kind for r in again] == [RequestKind.FINAL]
    session.receive_result(again[0].request_id, result_for("for"), 2.2)
    [final] = [m for m in session.messages_to_send() if m["type"] == "transcription"]
    assert final["transcript"] == "for" and final["differs_from_eager"] is True


def test_no_turn_events_unless_asked_and_no_eager_text_from_noise() -> None:
    quiet = make_session(turn_events=False)
    feed(quiet, np.concatenate([tone_s(1.0), silence_s(0.1)]))
    [early] = quiet.requests_to_run()
    quiet.receive_result(early.request_id, result_for("words"), 1.1)
    feed(quiet, tone_s(0.5), start_s=1.1)
    feed(quiet, silence_s(0.5), start_s=1.6)
    for request in quiet.requests_to_run():
        quiet.receive_result(request.request_id, result_for("words and more"), 2.2)
    sent = quiet.messages_to_send()
    assert types(sent) == ["final"] and "differs_from_eager" not in sent[0]

    noisy = make_session()
    feed(noisy, np.concatenate([tone_s(1.0), silence_s(0.1)]))
    [early] = noisy.requests_to_run()
    [segment] = result_for("Thank you.").segments
    hallucinated = dataclasses.replace(
        result_for("Thank you."), segments=(dataclasses.replace(segment, possible_hallucination=True),)
    )
    noisy.receive_result(early.request_id, hallucinated, 1.1)
    assert noisy.messages_to_send() == []  # no turn for an agent to answer
    feed(noisy, tone_s(0.5), start_s=1.1)
    assert noisy.messages_to_send() == []  # and so nothing to take back


def test_a_finalize_in_a_pause_is_answered_by_the_decode_already_running() -> None:
    session = make_session(turn_events=False)
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.2)]))  # a pause shorter than min silence
    [early] = session.requests_to_run()
    session.finalize(1.2)  # the client's VAD says the user stopped (pipecat: at its own VAD stop)
    assert session.requests_to_run() == [] and session.requests_to_cancel() == []  # no second decode
    session.receive_result(early.request_id, result_for("stop here"), 1.25)
    [final] = [m for m in session.messages_to_send() if m["type"] == "transcription"]
    assert final["is_final"] and final["from_finalize"] and final["transcript"] == "stop here"


def test_a_finalize_mid_speech_is_answered_by_one_decode_of_everything_so_far() -> None:
    session = make_session(turn_events=False)
    feed(session, tone_s(1.0))
    session.finalize(1.0)
    [final_request] = session.requests_to_run()
    assert final_request.kind is RequestKind.FINAL and final_request.audio.size >= SR
    session.receive_result(final_request.request_id, result_for("cut short"), 1.1)
    [final] = session.messages_to_send()
    assert final["from_finalize"] and final["transcript"] == "cut short"
