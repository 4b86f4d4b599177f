"""core/early_finals.py: the sentence endpoint, through a real Session with scripted decodes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fakes import EnergyScorer, result_for, silence_s, tone_s
from whisper_stream.core.early_finals import ends_a_sentence
from whisper_stream.core.session import RequestKind, Session
from whisper_stream.protocol.config import SessionConfig, StreamingOptions, VadOptions

SR = 16_000


@pytest.mark.parametrize(
    ("text", "ends"),
    [
        ("Book a table for two.", True),
        ("Is it open? ", True),
        ('He said "stop!"', True),
        ("東京に行きます。", True),
        ("I want to", False),
        ("And so my fellow Americans,", False),
        ("well...", False),
        ("so…", False),
        ("", False),
    ],
)
def test_which_texts_end_a_sentence(text: str, ends: bool) -> None:
    assert ends_a_sentence(text) is ends


def make_session(sentence_ms: int | None = 100) -> Session:
    vad = VadOptions(
        threshold=0.5,
        min_silence_duration_ms=300,
        speech_pad_ms=30,
        min_speech_duration_ms=0,
        min_silence_after_sentence_ms=sentence_ms,
    )
    config = SessionConfig(vad=vad, streaming=StreamingOptions(enable_partial_transcripts=False))
    return Session(config, EnergyScorer(), early_finals=True)


def feed(session: Session, audio: np.ndarray, *, start_s: float) -> list[dict]:
    """Feed 32 ms frames in real time; what the session then has to send."""
    for offset in range(0, audio.size, 512):
        session.receive_audio(audio[offset : offset + 512], start_s + (offset + 512) / SR)
    return session.messages_to_send()


def pause_after(text: str, sentence_ms: int | None = 100) -> tuple[float | None, dict | None]:
    """Speech for 1 s, its early final answered at once with ``text``, then silence: when the final came."""
    session = make_session(sentence_ms)
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.064)]), start_s=0.0)
    [early] = session.requests_to_run()
    assert early.kind is RequestKind.EARLY_FINAL
    session.receive_result(early.request_id, result_for(text), 1.07)
    for step in range(20):  # 32 ms of silence at a time
        now_s = 1.064 + (step + 1) * 0.032
        finals = [m for m in feed(session, silence_s(0.032), start_s=now_s - 0.032) if m.get("is_final")]
        if finals:
            assert session.requests_to_run() == []  # the early final is the final: no second decode
            return now_s - 1.0, finals[0]
    return None, None


def test_a_pause_after_a_finished_sentence_ends_the_utterance_after_the_shorter_silence() -> None:
    after_sentence_s, final = pause_after("Book a table for two.")
    mid_sentence_s, _ = pause_after("I want to")
    assert final is not None and final["transcript"] == "Book a table for two."
    assert after_sentence_s is not None and mid_sentence_s is not None
    assert 0.1 <= after_sentence_s < 0.2 and 0.3 <= mid_sentence_s < 0.4  # the words decide which wait


def test_without_the_setting_every_pause_waits_min_silence() -> None:
    waited_s, _ = pause_after("Book a table for two.", sentence_ms=None)
    assert waited_s is not None and 0.3 <= waited_s < 0.4


def test_an_early_final_that_comes_back_after_the_short_silence_ends_the_utterance_at_once() -> None:
    session = make_session()
    feed(session, np.concatenate([tone_s(1.0), silence_s(0.2)]), start_s=0.0)  # 200 ms: past 100, not 300
    [early] = session.requests_to_run()
    assert session.messages_to_send() == []
    session.receive_result(early.request_id, result_for("That is all."), 1.21)
    [final] = [m for m in session.messages_to_send() if m.get("is_final")]
    assert final["transcript"] == "That is all."
    feed(session, tone_s(0.5), start_s=1.2)  # speech after it is a new utterance, not a resumption
    assert [m["transcription_num"] for m in session.messages_to_send()] == []
    feed(session, silence_s(0.5), start_s=1.7)
    assert [r.transcription_num for r in session.requests_to_run()] == [1]
