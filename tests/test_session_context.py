"""The session asks for finals in context: the audio and words of the finals it sent just before."""

from __future__ import annotations

import numpy as np

from tests.fakes import EnergyScorer, result_for, silence_s, tone_s
from whisper_stream.core.session import RequestKind, Session
from whisper_stream.protocol.config import SessionConfig, StreamingOptions, VadOptions, WhisperOptions
from whisper_stream.samples import SAMPLE_RATE_HZ

SR = SAMPLE_RATE_HZ


def make_session(*, context_s: float = 10.0, prompt: str = "") -> Session:
    config = SessionConfig(
        vad=VadOptions(threshold=0.5, min_silence_duration_ms=300, speech_pad_ms=30),
        streaming=StreamingOptions(enable_partial_transcripts=False),
        whisper=WhisperOptions(prompt=prompt),
    )
    return Session(config, EnergyScorer(), early_finals=False, context_s=context_s)


def feed(session: Session, audio: np.ndarray, start_s: float) -> None:
    for offset in range(0, audio.size, 512):
        session.receive_audio(audio[offset : offset + 512], start_s + (offset + 512) / SR)


def finals(session: Session) -> list:
    return [r for r in session.requests_to_run() if r.kind is RequestKind.FINAL]


UTTERANCE = np.concatenate([tone_s(1.0), silence_s(1.0)])


def test_the_next_final_is_decoded_after_the_words_already_sent() -> None:
    session = make_session(prompt="Glossary")
    feed(session, UTTERANCE, 0.0)
    [first] = finals(session)
    assert (first.options.prefix, first.options.context_samples) == (None, 0)
    session.receive_result(first.request_id, result_for("First words.", first.audio.size / SR))
    feed(session, UTTERANCE, 2.0)
    [second] = finals(session)
    assert second.options.prefix == "First words."
    assert second.options.prompt == "Glossary"  # the previous final is the prefix now, not the prompt too
    # the audio runs from the first utterance's start; the request's own span is the second utterance
    assert second.options.context_samples == second.start_sample - first.start_sample
    assert np.array_equal(second.audio[: first.audio.size], first.audio)
    assert abs((second.end_sample - second.start_sample) - (first.end_sample - first.start_sample)) <= 1024
    # the transcriber's times count from the utterance's start: the message's from the stream's
    session.receive_result(second.request_id, result_for("Second words.", 1.0))
    message = session.messages_to_send()[-1]
    assert message["transcript"] == "Second words."
    assert message["segments"][0]["start_time"] == round(second.start_sample / SR, 3)
    assert session.outbox.take_finals_without_context() == 0  # both in order: the second had its context


def test_a_final_whose_predecessor_is_still_decoding_is_asked_for_at_once_alone() -> None:
    """The decoder is behind: waiting for the context would queue this final behind the one before it
    (on 2 CPU cores that doubled p95 at 10 streams, bench/run.py), so it is decoded alone, now."""
    session = make_session()
    feed(session, UTTERANCE, 0.0)
    [first] = finals(session)
    feed(session, UTTERANCE, 2.0)  # the first final is not answered yet
    [second] = finals(session)
    assert (second.options.prefix, second.options.context_samples) == (None, 0)
    assert second.audio.size == second.end_sample - second.start_sample
    session.receive_result(second.request_id, result_for("second", 1.0))
    assert [m for m in session.messages_to_send() if m.get("is_final")] == []  # sent in order: first, then second
    session.receive_result(first.request_id, result_for("first", 1.0))
    assert [m["transcript"] for m in session.messages_to_send() if m.get("is_final")] == ["first", "second"]
    assert finals(session) == []
    assert session.outbox.take_finals_without_context() == 1  # the second lost its context; counted once
    assert session.outbox.take_finals_without_context() == 0


def test_the_buffer_keeps_the_context_and_no_more() -> None:
    session = make_session(context_s=3.0)
    start_s = 0.0
    for _ in range(4):
        feed(session, UTTERANCE, start_s)
        start_s += UTTERANCE.size / SR
        for request in finals(session):
            session.receive_result(request.request_id, result_for("words", 1.0))
    # 3 s of context before the next utterance (and its pre-roll), whole utterances only
    assert 1.0 * SR < session.buffered_samples <= 4.0 * SR
    feed(session, UTTERANCE, start_s)
    [final] = finals(session)
    assert final.options.prefix == "words" and final.options.context_samples <= 3 * SR


def test_context_off_decodes_the_utterance_alone() -> None:
    session = make_session(context_s=0.0)
    feed(session, UTTERANCE, 0.0)
    [first] = finals(session)
    session.receive_result(first.request_id, result_for("First words.", 1.0))
    feed(session, UTTERANCE, 2.0)
    [second] = finals(session)
    assert second.options.prefix is None and second.audio.size == second.end_sample - second.start_sample
    feed(session, UTTERANCE, 4.0)  # asked for while the second decodes: with context off, it lost nothing
    [third] = finals(session)
    session.receive_result(second.request_id, result_for("Second words.", 1.0))
    session.receive_result(third.request_id, result_for("Third words.", 1.0))
    assert [m["transcript"] for m in session.messages_to_send() if m.get("is_final")][-2:] == [
        "Second words.",
        "Third words.",
    ]
    assert session.outbox.take_finals_without_context() == 0
