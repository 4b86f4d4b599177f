"""The session's request lifecycle over the whole parameter space: never an exception, never a lost or
doubled final, nothing left pending at close, whatever the VAD settings, the timing and the engine do."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes import SPEECH_LEVEL, result_for, silence_s, tone_s
from whisper_stream.audio.vad import FRAME_SAMPLES
from whisper_stream.core.session import INPUT_STALL_MARGIN_S, Session, SessionState
from whisper_stream.inference.requests import RequestKind, TranscriptionRequest
from whisper_stream.protocol.config import SessionConfig, StreamingOptions, VadOptions
from whisper_stream.samples import SAMPLE_RATE_HZ

SR = SAMPLE_RATE_HZ


class LevelScorer:
    """Speech probability grows with loudness, so the threshold matters: 0.99 at SPEECH_LEVEL."""

    def score(self, frame: np.ndarray) -> float:
        rms = float(np.sqrt(np.mean(frame**2)))
        return min(rms / (SPEECH_LEVEL / np.sqrt(2)), 1.0) * 0.99


def session_with(**vad: float) -> Session:
    config = SessionConfig(vad=VadOptions(**vad), streaming=StreamingOptions(partial_transcript_interval_s=0.2))  # type: ignore[arg-type]
    return Session(config, LevelScorer())


class FakeEngine:
    """Holds handed-out requests; answers, drops or loses them as a test says; honours withdrawals."""

    def __init__(self, session: Session, rng: random.Random) -> None:
        self.session = session
        self.rng = rng
        self.queued: list[TranscriptionRequest] = []
        self.withdrawn: set[int] = set()
        self.dropped_once: set[int] = set()
        self.final_kind_nums: set[int] = set()
        self.ran: list[TranscriptionRequest] = []

    def collect(self) -> None:
        for request in self.session.requests_to_run():
            assert request.audio.size > 0
            if request.kind.is_final:
                self.final_kind_nums.add(request.transcription_num)
            self.queued.append(request)
        for request_id in self.session.requests_to_cancel():
            self.withdrawn.add(request_id)
            self.queued = [r for r in self.queued if r.request_id != request_id or self.rng.random() < 0.2]
        self.session.requests_to_promote()

    def step(self, answer_all: bool = False) -> None:
        self.collect()
        self.rng.shuffle(self.queued)  # results come back in any order
        keep = []
        for request in self.queued:
            roll = self.rng.random()
            if not answer_all and roll < 0.4:
                keep.append(request)
            elif not answer_all and roll < 0.5 and request.request_id not in self.dropped_once:
                self.dropped_once.add(request.request_id)
                self.session.request_dropped(request.request_id)  # skipped when busy, or cancelled on shutdown
            else:
                self.ran.append(request)
                self.session.receive_result(request.request_id, result_for(f"u{request.transcription_num}"))
        self.queued = keep
        self.collect()


@st.composite
def scenarios(draw: st.DrawFn) -> dict:
    min_silence_ms = draw(st.integers(32, 10_000))
    pieces = []
    for _ in range(draw(st.integers(1, 8))):
        pieces.append(tone_s(draw(st.floats(0.02, 2.5)), level=draw(st.sampled_from([0.05, 0.15, SPEECH_LEVEL]))))
        pause_s = draw(st.floats(0.01, 1.6)) * min_silence_ms / 1000  # shorter and longer than min silence
        pieces.append(silence_s(min(pause_s, 12.0)))
    audio = np.concatenate(pieces)
    return {
        "vad": {
            "threshold": draw(st.floats(0.01, 0.99)),
            "min_silence_duration_ms": min_silence_ms,
            "speech_pad_ms": draw(st.integers(0, 2000)),
            "min_speech_duration_ms": draw(st.sampled_from([0, 64, 250])),
        },
        "audio": audio,
        "end_at": draw(st.integers(0, audio.size)),
        "cuts": sorted(draw(st.lists(st.integers(1, max(audio.size - 1, 1)), max_size=25))),
        "finalize_at": set(draw(st.lists(st.integers(0, 25), max_size=3))),
        "stall_at": set(draw(st.lists(st.integers(0, 25), max_size=3))),
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios(), st.randoms(use_true_random=False))
def test_every_utterance_gets_exactly_one_final_in_order_and_nothing_is_left_pending(
    case: dict, rng: random.Random
) -> None:
    session = session_with(**case["vad"])
    engine = FakeEngine(session, rng)
    audio = case["audio"][: case["end_at"]]
    bounds = [0, *[c for c in case["cuts"] if c < audio.size], audio.size]
    messages: list[dict] = []
    for index, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        now_s = b / SR
        session.receive_audio(audio[a:b], now_s)
        if index in case["finalize_at"]:
            session.finalize(now_s)
        if index in case["stall_at"]:  # the client stops sending for a while
            session.tick(now_s + case["vad"]["min_silence_duration_ms"] / 1000 + INPUT_STALL_MARGIN_S)
        engine.step()
        messages += session.messages_to_send()
    session.end_of_stream(audio.size / SR)
    for _ in range(20):
        engine.step(answer_all=True)
        messages += session.messages_to_send()
        if session.state is SessionState.CLOSED:
            break

    assert session.state is SessionState.CLOSED and session.pending_requests == 0
    assert messages[-1]["type"] == "session_end" and [m["type"] for m in messages].count("session_end") == 1
    finals = [m for m in messages if m.get("is_final")]
    nums = [m["transcription_num"] for m in finals]
    assert nums == sorted(set(nums)), "finals out of order or doubled"
    decoded = {m["transcription_num"] for m in finals if m["transcript"]}
    assert decoded == engine.final_kind_nums, "an utterance decoded as a final got no final, or one too many"
    assert all(m["transcript"] == f"u{m['transcription_num']}" for m in finals if m["transcript"])
    # An utterance too short to decode gets a final only to answer a finalize (then an empty one).
    assert all(m["from_finalize"] for m in finals if not m["transcript"]), "an empty final that answers nothing"
    assert all(r.end_sample <= audio.size for r in engine.ran)


def test_end_of_stream_inside_the_padding_never_reaches_past_the_audio() -> None:
    """Issue 9's crash: a short last frame, speech ending inside it, the pad reaching past the audio."""
    for min_silence_ms, pad_ms in [(300, 300), (200, 500), (32, 30)]:
        for tail_samples in range(1, FRAME_SAMPLES, 37):
            session = session_with(min_silence_duration_ms=min_silence_ms, speech_pad_ms=pad_ms, threshold=0.5)
            audio = np.concatenate([tone_s(1.0), silence_s(0.5)])[
                : SR + (min_silence_ms * 16 // 512) * 512 + tail_samples
            ]
            session.receive_audio(audio, audio.size / SR)
            session.end_of_stream(audio.size / SR)
            requests = session.requests_to_run()
            assert all(r.end_sample <= audio.size for r in requests)
            for request in requests:
                session.receive_result(request.request_id, result_for("words"))
            assert session.state is SessionState.CLOSED


def _withdrawals_over_dips(pauses_ms: int) -> tuple[int, int, Session]:
    """1.5 s phrases with short pauses, nothing ever answered: (speculative finals asked, withdrawn, session)."""
    session = session_with(min_silence_duration_ms=300, speech_pad_ms=30, threshold=0.5)
    asked = withdrawn = 0
    now_s = 0.0
    for _ in range(16):
        for piece in (tone_s(1.5), silence_s(pauses_ms / 1000)):
            for offset in range(0, piece.size, FRAME_SAMPLES):
                chunk = piece[offset : offset + FRAME_SAMPLES]
                now_s += chunk.size / SR
                session.receive_audio(chunk, now_s)
                asked += sum(r.kind is RequestKind.EARLY_FINAL for r in session.requests_to_run())
                withdrawn += len(session.requests_to_cancel())
    return asked, withdrawn, session


def test_speculative_finals_are_withdrawn_when_speech_resumes_and_are_never_backlog() -> None:
    asked, withdrawn, session = _withdrawals_over_dips(pauses_ms=150)
    assert asked == 16 and withdrawn == 15  # each pause asked one, each resumption withdrew it (not the last)
    assert session.pending_final_samples == 0  # 24 s of phrases, one open utterance: no backlog at all
    assert session.pending_requests <= 2  # at most the partial and the open utterance's speculative final


def test_input_stall_finalises_after_min_silence_plus_margin_and_not_before() -> None:
    session = session_with(min_silence_duration_ms=300, speech_pad_ms=30, threshold=0.5)
    session.receive_audio(tone_s(1.0), 1.0)
    assert session.next_deadline_s == 1.0 + 0.3 + INPUT_STALL_MARGIN_S
    session.tick(1.0 + 0.3 + INPUT_STALL_MARGIN_S - 0.01)  # jitter shorter than that: the utterance goes on
    assert not [r for r in session.requests_to_run() if r.kind.is_final]
    session.tick(1.0 + 0.3 + INPUT_STALL_MARGIN_S)
    [final] = [r for r in session.requests_to_run() if r.kind.is_final]
    assert final.end_sample == SR and session.next_deadline_s is None


def test_a_jittery_sender_never_splits_an_utterance() -> None:
    """Frames arrive in bursts after stalls of up to min silence + margin: still one utterance."""
    rng = np.random.default_rng(7)
    session = session_with(min_silence_duration_ms=300, speech_pad_ms=30, threshold=0.5)
    audio = np.concatenate([tone_s(6.0), silence_s(0.6)])
    now_s, offset = 0.0, 0
    while offset < audio.size:
        if rng.random() < 0.1:  # a stall: a retransmit or a GC pause, then the frames come in a burst
            stall_s = rng.uniform(0.1, 0.3 + INPUT_STALL_MARGIN_S - 0.01)
            session.tick(now_s + stall_s)
            now_s += stall_s
        burst = int(rng.integers(1, 6)) * FRAME_SAMPLES
        now_s += 0.001
        session.receive_audio(audio[offset : offset + burst], now_s)
        offset += burst
    finals = [r for r in session.requests_to_run() if r.kind.is_final]
    assert len({r.transcription_num for r in finals}) == 1


def test_too_little_speech_is_never_decoded() -> None:
    session = session_with(min_silence_duration_ms=300, speech_pad_ms=30, threshold=0.5, min_speech_duration_ms=250)
    click = np.concatenate([silence_s(1.0), tone_s(0.1), silence_s(1.0)])
    session.receive_audio(click, click.size / SR)
    session.end_of_stream(click.size / SR)
    assert session.requests_to_run() == []
    assert [m["type"] for m in session.messages_to_send()] == ["session_end"]


def test_a_final_the_engine_dropped_is_asked_for_again() -> None:
    session = session_with(min_silence_duration_ms=300, speech_pad_ms=30, threshold=0.5)
    session.receive_audio(np.concatenate([tone_s(1.0), silence_s(0.5)]), 1.5)
    [final] = [r for r in session.requests_to_run() if r.kind.is_final]
    session.request_dropped(final.request_id)
    [again] = session.requests_to_run()
    assert again.kind is RequestKind.FINAL and again.audio is final.audio
    session.receive_result(again.request_id, result_for("kept"))
    assert [m["transcript"] for m in session.messages_to_send() if m.get("is_final")] == ["kept"]


def test_a_withdrawn_request_answered_anyway_changes_nothing() -> None:
    session = session_with(min_silence_duration_ms=300, speech_pad_ms=30, threshold=0.5)
    session.receive_audio(np.concatenate([tone_s(1.0), silence_s(0.1)]), 1.1)
    [early] = [r for r in session.requests_to_run() if r.kind is RequestKind.EARLY_FINAL]
    session.receive_audio(tone_s(0.5), 1.6)
    assert early.request_id in session.requests_to_cancel()
    session.receive_result(early.request_id, result_for("stale"))
    assert all(m["transcript"] != "stale" for m in session.messages_to_send())
