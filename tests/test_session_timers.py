"""Tests for whisper_stream.server.session_timers: which deadline ends a session, from times alone."""

from __future__ import annotations

import pytest

from whisper_stream.server.limits import Limits
from whisper_stream.server.session_timers import Deadline, SessionTimers

LIMITS = Limits(
    max_session_duration_s=100.0,
    idle_timeout_s=10.0,
    no_audio_timeout_s=3.0,
    keepalive_only_timeout_s=30.0,
    finish_timeout_s=5.0,
)


def test_a_connection_that_sends_nothing_after_its_config_is_idle_after_no_audio_timeout() -> None:
    timers = SessionTimers(LIMITS, 1000.0)
    assert timers.next_deadline() == (1003.0, Deadline.IDLE)
    assert timers.due(1002.9, input_waiting=False) is None
    assert timers.due(1003.0, input_waiting=False) is Deadline.IDLE


def test_any_message_moves_the_idle_deadline_and_only_audio_the_no_audio_one() -> None:
    timers = SessionTimers(LIMITS, 0.0)
    timers.message(2.0, audio=True)
    assert timers.next_deadline() == (12.0, Deadline.IDLE)
    for t in range(5, 40, 5):  # a keepalive every 5 s: never idle
        timers.message(float(t), audio=False)
    assert timers.next_deadline() == (32.0, Deadline.NO_AUDIO)  # 30 s after the last audio, at 2 s
    assert timers.silent_for_s(31.0) == 29.0


def test_keepalives_forever_end_at_keepalive_only_timeout() -> None:
    timers = SessionTimers(LIMITS, 0.0)
    t = 0.0
    while timers.due(t, input_waiting=False) is None:
        timers.message(t, audio=False)
        t += 1.0
    assert timers.due(t, input_waiting=False) is Deadline.NO_AUDIO
    assert t == pytest.approx(30.0)


def test_audio_forever_ends_at_the_wall_clock_duration() -> None:
    timers = SessionTimers(LIMITS, 0.0)
    t = 0.0
    while timers.due(t, input_waiting=False) is None:
        timers.message(t, audio=True)
        t += 0.5
    assert timers.due(t, input_waiting=False) is Deadline.DURATION
    assert t == pytest.approx(100.0)


def test_messages_arriving_out_of_order_never_move_a_deadline_back() -> None:
    timers = SessionTimers(LIMITS, 0.0)
    timers.message(8.0, audio=True)
    timers.message(4.0, audio=True)  # read earlier, handled later
    assert timers.last_audio_s == 8.0 and timers.last_message_s == 8.0


def test_input_waiting_holds_up_the_deadlines_about_silence_but_not_duration_or_finish() -> None:
    timers = SessionTimers(LIMITS, 0.0)
    assert timers.due(50.0, input_waiting=True) is None  # idle is due, but input waits: not idle after all
    assert timers.due(100.0, input_waiting=True) is Deadline.DURATION
    timers.finishing(60.0)
    assert timers.next_deadline() == (65.0, Deadline.FINISH)
    assert timers.due(64.0, input_waiting=True) is None
    assert timers.due(65.0, input_waiting=True) is Deadline.FINISH  # a client that keeps sending cannot delay it


def test_after_the_end_of_stream_only_the_finish_deadline_is_left() -> None:
    timers = SessionTimers(LIMITS, 0.0)
    timers.finishing(99.0)
    timers.finishing(200.0)  # the first end of stream counts
    assert timers.next_deadline() == (104.0, Deadline.FINISH)
