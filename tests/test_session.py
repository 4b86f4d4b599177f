from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes import EnergyScorer, result_for, silence_s, tone_s
from whisper_stream.audio.vad import FRAME_SAMPLES
from whisper_stream.core.session import RequestKind, Session, SessionState
from whisper_stream.inference.language_choice import prompt_for
from whisper_stream.protocol.config import SessionConfig, StreamingOptions, VadOptions, WhisperOptions
from whisper_stream.protocol.errors import ProtocolError
from whisper_stream.samples import SAMPLE_RATE_HZ

SR = SAMPLE_RATE_HZ


def make_session(*, early_finals: bool = False, **streaming: object) -> Session:
    """A session with the energy scorer; early finals off unless a test is about them."""
    config = SessionConfig(
        vad=VadOptions(threshold=0.5, min_silence_duration_ms=300, speech_pad_ms=30, min_speech_duration_ms=0),
        streaming=StreamingOptions(**streaming),  # type: ignore[arg-type]
    )
    return Session(config, EnergyScorer(), early_finals=early_finals)


def feed(session: Session, audio: np.ndarray, *, start_s: float = 0.0, frame_samples: int = 512) -> None:
    """Feed in frames with a clock that follows the audio (real time)."""
    for offset in range(0, audio.size, frame_samples):
        chunk = audio[offset : offset + frame_samples]
        session.receive_audio(chunk, start_s + (offset + chunk.size) / SR)


def answer_all(session: Session, text: str = "hello") -> list[dict]:
    """Answer every request, and those asked for because of the answers (a final waits for the one before)."""
    while requests := session.requests_to_run():
        for request in requests:
            session.receive_result(request.request_id, result_for(f"{text} {request.transcription_num}"))
    return session.messages_to_send()


def finals_of(requests: list) -> list:
    return [r for r in requests if r.kind is RequestKind.FINAL]


def test_one_utterance_gives_one_final_covering_speech_plus_padding() -> None:
    session = make_session(enable_partial_transcripts=False)
    audio = np.concatenate([silence_s(1.0), tone_s(1.0), silence_s(1.0)])
    feed(session, audio)
    requests = session.requests_to_run()
    assert [r.kind for r in requests] == [RequestKind.FINAL]
    final = requests[0]
    pad = 30 * SR // 1000
    # speech starts at 1.0 s; the gate works in 512-sample frames, so allow one frame of slack
    assert abs(final.start_sample - (SR - pad)) <= FRAME_SAMPLES
    end_sample = final.end_sample
    assert abs(end_sample - (2 * SR + pad)) <= FRAME_SAMPLES
    # silence is never sent: the request holds only the tone and its padding
    assert final.audio.size <= SR + 2 * pad + 2 * FRAME_SAMPLES


def test_final_is_decided_after_min_silence() -> None:
    session = make_session(enable_partial_transcripts=False)
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.25)]))
    assert finals_of(session.requests_to_run()) == []
    feed(session, silence_s(0.1), start_s=1.25)
    assert len(finals_of(session.requests_to_run())) == 1


def test_silence_only_sends_nothing_to_whisper() -> None:
    session = make_session()
    feed(session, silence_s(30.0))
    session.end_of_stream(30.0)
    assert session.requests_to_run() == []
    assert session.state is SessionState.CLOSED
    [end] = session.messages_to_send()
    assert end["type"] == "session_end" and end["finals_sent"] == 0 and end["audio_duration_s"] == 30.0


def test_silence_does_not_grow_the_buffer() -> None:
    session = make_session()
    feed(session, silence_s(120.0))
    assert session.buffered_samples < 2 * SR


def test_partials_are_rate_limited_and_share_the_final_number() -> None:
    session = make_session(partial_transcript_interval_s=0.5)
    partial_times: list[float] = []
    audio = tone_s(3.0)
    for offset in range(0, audio.size, 512):
        now = (offset + 512) / SR
        session.receive_audio(audio[offset : offset + 512], now)
        for request in session.requests_to_run():
            assert request.kind is RequestKind.PARTIAL
            partial_times.append(now)
            session.receive_result(request.request_id, result_for("partial"))
    assert len(partial_times) >= 4
    gaps = np.diff(partial_times)
    assert (gaps >= 0.5 - 1e-9).all()
    partials = session.messages_to_send()
    assert all(m["is_final"] is False and m["transcription_num"] == 0 for m in partials)
    feed(session, silence_s(0.5), start_s=3.0)
    [final] = finals_of(session.requests_to_run())
    assert final.transcription_num == 0


def test_no_second_partial_while_one_is_in_flight() -> None:
    session = make_session(partial_transcript_interval_s=0.2)
    feed(session, tone_s(3.0))
    requests = session.requests_to_run()
    assert [r.kind for r in requests] == [RequestKind.PARTIAL]


def test_skipped_partial_is_not_queued_and_a_later_one_follows() -> None:
    session = make_session(partial_transcript_interval_s=0.5)
    feed(session, tone_s(1.0))
    [first] = session.requests_to_run()
    session.request_dropped(first.request_id)
    assert session.messages_to_send() == []
    feed(session, tone_s(1.0), start_s=1.0)
    [second] = session.requests_to_run()
    assert second.kind is RequestKind.PARTIAL and second.audio.size > first.audio.size


def test_partials_disabled() -> None:
    session = make_session(enable_partial_transcripts=False)
    feed(session, tone_s(3.0))
    assert session.requests_to_run() == []


def test_finals_answered_out_of_order_are_sent_in_order() -> None:
    session = make_session(enable_partial_transcripts=False)
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.5), tone_s(1.0), silence_s(0.5), tone_s(1.0)]))
    session.end_of_stream(4.0)
    # none answered while the stream went on (the decoder is behind): each asked for as its utterance ended
    requests = finals_of(session.requests_to_run())
    assert [r.transcription_num for r in requests] == [0, 1, 2]
    sent: list[dict] = []
    for request, text in reversed(list(zip(requests, ["first", "second", "third"], strict=True))):
        session.receive_result(request.request_id, result_for(text))
        sent += session.messages_to_send()
    assert [m.get("transcript") for m in sent] == ["first", "second", "third", None]
    assert [m.get("transcription_num") for m in sent[:3]] == [0, 1, 2]


def test_stale_partial_after_its_final_is_dropped() -> None:
    session = make_session(partial_transcript_interval_s=0.5)
    feed(session, tone_s(1.0))
    [partial] = session.requests_to_run()
    feed(session, silence_s(0.5), start_s=1.0)
    [final] = session.requests_to_run()
    session.receive_result(final.request_id, result_for("final"))
    session.receive_result(partial.request_id, result_for("late partial"))
    sent = session.messages_to_send()
    assert [(m["is_final"], m["transcript"]) for m in sent] == [(True, "final")]


def test_end_of_stream_right_after_the_last_word_keeps_it() -> None:
    session = make_session(enable_partial_transcripts=False)
    audio = np.concatenate([silence_s(0.5), tone_s(0.7)])
    feed(session, audio[:-100])
    feed(session, audio[-100:], start_s=1.2)
    session.end_of_stream(1.2)
    [final] = session.requests_to_run()
    assert final.end_sample == audio.size
    assert session.state is SessionState.CLOSING
    session.receive_result(final.request_id, result_for("last word"))
    sent = session.messages_to_send()
    assert sent[0]["transcript"] == "last word" and sent[-1]["type"] == "session_end"
    assert session.state is SessionState.CLOSED


def test_end_of_stream_scores_a_trailing_partial_frame() -> None:
    session = make_session(enable_partial_transcripts=False)
    audio = np.concatenate([silence_s(1.0), tone_s(0.02)])  # 320 samples: less than one VAD frame of speech
    feed(session, audio[:SR])
    session.receive_audio(audio[SR:], 1.02)
    session.end_of_stream(1.02)
    [final] = session.requests_to_run()
    assert final.end_sample == audio.size


def test_long_speech_is_cut_at_the_max_duration() -> None:
    session = make_session(enable_partial_transcripts=False, final_transcript_max_duration_s=5.0)
    # 12 s of 'speech' with two quieter dips where a cut is better
    audio = tone_s(12.0)
    for dip_s in (3.5, 8.0):
        dip = int(dip_s * SR) // FRAME_SAMPLES * FRAME_SAMPLES
        audio[dip : dip + FRAME_SAMPLES] *= 0.1
    feed(session, audio)
    session.end_of_stream(12.0)
    finals = []
    while requests := finals_of(session.requests_to_run()):
        finals += requests
        for request in requests:
            session.receive_result(request.request_id, result_for("words"))
    assert len(finals) == 3
    assert all(f.end_sample - f.start_sample <= 5.0 * SR for f in finals)  # the utterance, not its context
    # contiguous: every sample of speech is in exactly one final
    for earlier, later in zip(finals, finals[1:], strict=False):
        assert earlier.end_sample == later.start_sample
    assert finals[-1].end_sample == audio.size
    # the cuts land on the quiet dips
    assert abs(finals[1].start_sample - int(3.5 * SR)) <= FRAME_SAMPLES
    assert abs(finals[2].start_sample - int(8.0 * SR)) <= FRAME_SAMPLES


def test_finalize_forces_a_final_and_speech_continues_in_a_new_utterance() -> None:
    session = make_session(enable_partial_transcripts=False)
    feed(session, tone_s(1.0))
    session.finalize(1.0)
    [first] = session.requests_to_run()
    assert first.kind is RequestKind.FINAL and first.transcription_num == 0
    session.receive_result(first.request_id, result_for("one"))
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.5)]), start_s=1.0)
    [second] = session.requests_to_run()
    assert second.transcription_num == 1
    assert second.start_sample == first.end_sample


def test_vad_events_only_when_asked() -> None:
    audio = np.concatenate([silence_s(0.5), tone_s(1.0), silence_s(0.5)])
    quiet = make_session()
    feed(quiet, audio)
    answer_all(quiet)
    assert all(m["type"] == "transcription" for m in quiet.messages_to_send())
    config = SessionConfig(send_vad_events=True, streaming=StreamingOptions(enable_partial_transcripts=False))
    loud = Session(config, EnergyScorer(), early_finals=False)
    feed(loud, audio)
    kinds = [m["type"] for m in loud.messages_to_send()]
    assert kinds == ["speech_started", "speech_ended"]


def test_audio_after_end_of_stream_is_a_protocol_error() -> None:
    session = make_session()
    session.end_of_stream(0.0)
    with pytest.raises(ProtocolError):
        session.receive_audio(silence_s(0.1), 0.1)


@pytest.mark.parametrize("context_s", [0.0, 10.0])
def test_previous_final_prompts_the_next_utterance(context_s: float) -> None:
    config = SessionConfig(
        streaming=StreamingOptions(enable_partial_transcripts=False), whisper=WhisperOptions(prompt="Glossary:")
    )
    session = Session(config, EnergyScorer(), early_finals=False, context_s=context_s)
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.5)]))
    [first] = session.requests_to_run()
    assert first.options.prompt == "Glossary:"
    session.receive_result(first.request_id, result_for("It was cold."))
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.5)]), start_s=1.5)
    [second] = session.requests_to_run()
    if context_s:  # decoded in context: the previous final is the prefix, the history is what came before
        assert (second.options.prompt, second.options.history, second.options.prefix) == (
            "Glossary:",
            None,
            "It was cold.",
        )
    else:
        assert (second.options.prompt, second.options.history, second.options.prefix) == (
            "Glossary:",
            "It was cold.",
            None,
        )
        assert prompt_for(second.options, "en") == "Glossary: It was cold."
    assert second.options.language == "en"


def test_message_times_are_seconds_from_stream_start() -> None:
    session = make_session(enable_partial_transcripts=False)
    feed(session, np.concatenate([silence_s(2.0), tone_s(1.0), silence_s(0.5)]))
    [final] = session.requests_to_run()
    session.receive_result(final.request_id, result_for("x", duration_s=1.0))
    [message] = session.messages_to_send()
    assert message["segments"][0]["start_time"] == pytest.approx(final.start_sample / SR, abs=1e-3)
    assert 1.9 < message["segments"][0]["start_time"] < 2.0


def _finals_for_split(audio: np.ndarray, cuts: list[int]) -> list[tuple[int, int]]:
    session = make_session(enable_partial_transcripts=False, final_transcript_max_duration_s=3.0)
    bounds = [0, *sorted(set(cuts)), audio.size]
    for a, b in zip(bounds, bounds[1:], strict=False):
        session.receive_audio(audio[a:b], b / SR)
    session.end_of_stream(audio.size / SR)
    spans = []
    while requests := finals_of(session.requests_to_run()):
        for r in requests:
            spans.append((r.start_sample, r.end_sample - r.start_sample))
            session.receive_result(r.request_id, result_for("words"))
    return spans


STREAM = np.concatenate(
    [silence_s(0.3), tone_s(1.2), silence_s(0.6), tone_s(4.0), silence_s(0.2), tone_s(0.5), silence_s(0.7), tone_s(0.4)]
)
REFERENCE_FINALS = _finals_for_split(STREAM, [])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=STREAM.size), max_size=40))
def test_any_split_into_frames_gives_the_same_finals(cuts: list[int]) -> None:
    assert _finals_for_split(STREAM, cuts) == REFERENCE_FINALS


def test_reference_stream_has_every_utterance_once_in_order() -> None:
    starts = [start for start, _ in REFERENCE_FINALS]
    assert starts == sorted(starts)
    # 1.2 s; the 4.0 s tone cut at the 3 s cap; its last 1 s merged with the 0.5 s after a
    # 0.2 s gap (shorter than min silence); the 0.4 s at the end
    durations_s = [size / SR for _, size in REFERENCE_FINALS]
    assert len(durations_s) == 4
    assert durations_s[1] == pytest.approx(3.0, abs=0.05)
    # (cut at 5.02 s; the 0.5 s tone ends at 6.8 s, plus 30 ms pad and the frame it ends in)
    assert durations_s[2] == pytest.approx(6.8 + 0.03 - 5.02, abs=FRAME_SAMPLES / SR)


def test_empty_final_is_sent_only_to_replace_partials() -> None:
    session = make_session(partial_transcript_interval_s=0.5)
    feed(session, tone_s(1.0))
    [partial] = session.requests_to_run()
    session.receive_result(partial.request_id, result_for("uh"))
    feed(session, silence_s(0.5), start_s=1.0)
    [final] = finals_of(session.requests_to_run())
    session.receive_result(final.request_id, result_for(""))
    assert [(m["is_final"], m["transcript"]) for m in session.messages_to_send()] == [(False, "uh"), (True, "")]

    quiet = make_session(enable_partial_transcripts=False)
    feed(quiet, np.concatenate([tone_s(1.0), silence_s(0.5), tone_s(1.0), silence_s(0.5)]))
    first, second = quiet.requests_to_run()  # the second ended before the first was answered
    quiet.receive_result(first.request_id, result_for(""))
    quiet.receive_result(second.request_id, result_for("words"))
    assert [(m["transcription_num"], m["transcript"]) for m in quiet.messages_to_send()] == [(1, "words")]


def test_early_final_starts_when_speech_stops_and_becomes_the_final() -> None:
    session = make_session(early_finals=True, enable_partial_transcripts=False)
    feed(session, np.concatenate([silence_s(0.5), tone_s(1.0), silence_s(0.064)]))
    [early] = session.requests_to_run()  # decoding starts at the first silent frames, not 300 ms later
    assert early.kind is RequestKind.EARLY_FINAL
    assert abs(early.end_sample - int(1.5 * SR + 0.03 * SR)) <= FRAME_SAMPLES
    session.receive_result(early.request_id, result_for("done early"))
    assert session.messages_to_send() == []  # not final until the silence has lasted
    feed(session, silence_s(0.4), start_s=1.564)
    assert session.requests_to_run() == []  # no second decode
    [final] = session.messages_to_send()
    assert final["is_final"] and final["transcript"] == "done early"


def test_early_final_result_arriving_after_the_end_is_the_final() -> None:
    session = make_session(early_finals=True, enable_partial_transcripts=False)
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.5)]))
    [early] = session.requests_to_run()
    assert session.messages_to_send() == []
    session.receive_result(early.request_id, result_for("late but final"))
    [final] = session.messages_to_send()
    assert final["is_final"] and final["transcript"] == "late but final"


def test_speech_resuming_withdraws_the_early_final() -> None:
    session = make_session(early_finals=True)
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.1)]))
    early = [r for r in session.requests_to_run() if r.kind is RequestKind.EARLY_FINAL][0]
    feed(session, tone_s(1.0), start_s=1.1)  # the pause was shorter than min silence
    assert early.request_id in session.requests_to_cancel()
    session.receive_result(early.request_id, result_for("so far"))  # it ran anyway: nobody waits for it
    assert [m for m in session.messages_to_send() if m["transcript"] == "so far"] == []
    feed(session, silence_s(0.5), start_s=2.1)
    requests = session.requests_to_run()
    finals = [r for r in requests if r.kind.is_final]
    assert finals and finals[-1].audio.size > early.audio.size  # a later decode covers all the speech
    for request in requests:
        session.receive_result(request.request_id, result_for("all of it"))
    final = session.messages_to_send()[-1]
    assert (final["is_final"], final["transcript"], final["transcription_num"]) == (True, "all of it", 0)


def test_early_final_answered_before_speech_resumes_is_shown_as_a_partial() -> None:
    session = make_session(early_finals=True)
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.1)]))
    early = [r for r in session.requests_to_run() if r.kind is RequestKind.EARLY_FINAL][0]
    session.receive_result(early.request_id, result_for("so far"))
    assert [(m["is_final"], m["transcript"]) for m in session.messages_to_send()] == [(False, "so far")]
    feed(session, tone_s(1.0), start_s=1.1)
    assert session.requests_to_cancel() == []  # answered already: nothing to withdraw


def test_no_partials_during_the_trailing_silence() -> None:
    session = make_session(early_finals=False, partial_transcript_interval_s=0.1)
    feed(session, tone_s(32 * FRAME_SAMPLES / SR))  # whole frames: the silence starts on a frame boundary
    for request in session.requests_to_run():
        session.receive_result(request.request_id, result_for("p"))
    feed(session, silence_s(0.25), start_s=1.024)
    assert session.requests_to_run() == []


def _answered_finals_for_split(audio: np.ndarray, cuts: list[int]) -> list[str]:
    """Early finals on, every request answered at once with its own span: the finals sent."""
    session = make_session(early_finals=True, final_transcript_max_duration_s=3.0)
    bounds = [0, *sorted(set(cuts)), audio.size]
    sent: list[dict] = []

    def answer() -> None:
        while requests := session.requests_to_run():
            for request in requests:
                span = f"{request.start_sample}+{request.end_sample - request.start_sample}"
                session.receive_result(request.request_id, result_for(span))
        sent.extend(session.messages_to_send())

    for a, b in zip(bounds, bounds[1:], strict=False):
        session.receive_audio(audio[a:b], b / SR)
        answer()
    session.end_of_stream(audio.size / SR)
    answer()
    return [m["transcript"] for m in sent if m.get("is_final")]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=STREAM.size), max_size=30))
def test_with_early_finals_any_split_gives_the_same_finals(cuts: list[int]) -> None:
    expected = [f"{start}+{size}" for start, size in REFERENCE_FINALS]
    assert _answered_finals_for_split(STREAM, cuts) == expected


def test_partials_back_off_when_decodes_are_slow() -> None:
    session = make_session(partial_transcript_interval_s=0.5)
    audio = tone_s(8.0)
    requested_at: list[float] = []
    for offset in range(0, audio.size, 512):
        now = (offset + 512) / SR
        session.receive_audio(audio[offset : offset + 512], now)
        for request in session.requests_to_run():
            requested_at.append(now)
            # every partial decode takes 0.6 s: answered at once, but reported as slow
            session.receive_result(request.request_id, result_for("p"), now_s=now + 0.6)
    gaps = np.diff(requested_at)
    assert len(gaps) >= 3 and (gaps >= 1.2 - 1e-9).all()  # 0.6 s round trip at most half the time


def test_a_refused_early_final_is_not_asked_again_until_speech_resumes_and_the_final_still_comes() -> None:
    session = make_session(early_finals=True, enable_partial_transcripts=False)
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.064)]))
    [early] = session.requests_to_run()
    session.request_dropped(early.request_id)  # the engine was busy
    feed(session, silence_s(0.1), start_s=1.064)
    assert session.requests_to_run() == []  # not once per silent frame
    feed(session, np.concatenate([tone_s(0.5), silence_s(0.064)]), start_s=1.164)  # a new pause: a new try
    [again] = session.requests_to_run()
    assert again.kind is RequestKind.EARLY_FINAL
    session.request_dropped(again.request_id)
    feed(session, silence_s(0.4), start_s=1.728)  # the silence lasts: the final is asked for
    [final] = session.requests_to_run()
    assert final.kind is RequestKind.FINAL
    session.receive_result(final.request_id, result_for("all of it"))
    assert [m["transcript"] for m in session.messages_to_send() if m["is_final"]] == ["all of it"]
