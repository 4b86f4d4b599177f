"""Tests for whisper_stream.core.arrivals: when each stretch of audio arrived, and the facts of a transcript."""

from __future__ import annotations

import pytest

from whisper_stream.core.arrivals import ArrivalLog
from whisper_stream.core.utterances import Utterance


def log_of(*marks: tuple[int, float]) -> ArrivalLog:
    log = ArrivalLog()
    for end_sample, now_s in marks:
        log.received(end_sample, now_s)
    return log


def test_a_sample_arrived_with_the_frame_that_held_it() -> None:
    log = log_of((512, 1.0), (1024, 2.0), (1536, 3.0))
    assert log.arrival_s(1) == 1.0
    assert log.arrival_s(512) == 1.0  # the sample just before 512 is the first frame's last
    assert log.arrival_s(513) == 2.0
    assert log.arrival_s(1536) == 3.0
    assert log.arrival_s(99_999) == 3.0  # past what arrived: the last frame
    assert ArrivalLog().arrival_s(10) is None


def test_empty_or_repeated_ends_are_not_logged() -> None:
    log = log_of((512, 1.0), (512, 5.0), (100, 6.0))
    assert log.arrival_s(512) == 1.0


def test_dropping_keeps_the_frames_after_and_always_the_last() -> None:
    log = log_of((512, 1.0), (1024, 2.0), (1536, 3.0))
    log.drop_before(1024)
    assert log.arrival_s(600) == 3.0  # forgotten: counted from the oldest frame kept
    assert log.arrival_s(1500) == 3.0
    log.drop_before(10_000)
    assert log.arrival_s(1536) == 3.0


def test_facts_of_a_partial() -> None:
    facts = log_of((16_000, 1.0), (32_000, 2.0)).facts(8_000, 32_000, now_s=2.25)
    assert facts.audio_length_s == 1.5
    assert facts.latency_s == pytest.approx(0.25)
    assert facts.endpointing_s is None and not facts.from_finalize and not facts.end_of_audio_flush


def test_facts_of_a_final_count_the_vads_wait_and_carry_its_marks() -> None:
    utterance = Utterance(3, 16_000, end_sample=32_000, ended_s=2.3, from_finalize=True, end_of_audio_flush=True)
    facts = log_of((16_000, 1.0), (32_000, 2.0), (48_000, 3.0)).facts_of_final(utterance, now_s=2.8)
    assert facts.audio_length_s == 1.0
    assert facts.latency_s == pytest.approx(0.8)  # from the frame holding its last sample
    assert facts.endpointing_s == pytest.approx(0.3)  # until the session knew the utterance had ended
    assert facts.from_finalize and facts.end_of_audio_flush
