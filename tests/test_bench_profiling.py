"""Tests for bench/profiling.py: reading py-spy's raw (collapsed) profiles back."""

from __future__ import annotations

from pathlib import Path

from bench import profiling

RAW = """\
thread (0x1): MainThread;run (asyncio/runners.py:118);select (selectors.py:468) 500
thread (0x2): worker;_worker (concurrent/futures/thread.py:81);decode (t.py:140);encode (transcriber.py:310) 60
thread (0x2): worker;_worker (concurrent/futures/thread.py:81);wait (threading.py:355) 300
thread (0x3): loop;_run (events.py:84);receive_audio (session.py:120) 30
thread (0x3): loop;_run (events.py:84);score (silero.py:90) 10
not a stack line
"""


def test_stacks_are_read_with_their_samples(tmp_path: Path) -> None:
    raw = tmp_path / "profile.txt"
    raw.write_text(RAW)
    read = list(profiling.stacks(raw))
    assert [count for _, count in read] == [500, 60, 300, 30, 10]
    assert read[1][0].endswith("encode (transcriber.py:310)")


def test_top_self_time_leaves_waiting_threads_out(tmp_path: Path) -> None:
    raw = tmp_path / "profile.txt"
    raw.write_text(RAW)
    assert profiling.top_self_time(raw) == [
        " 60.0% encode (transcriber.py:310)",
        " 30.0% receive_audio (session.py:120)",
        " 10.0% score (silero.py:90)",
    ]
    assert profiling.top_self_time(raw, count=1) == [" 60.0% encode (transcriber.py:310)"]
    raw.write_text("thread (0x1): MainThread;select (selectors.py:468) 5\n")
    assert profiling.top_self_time(raw) == []


def test_summarize_shares_the_busy_samples(tmp_path: Path) -> None:
    raw = tmp_path / "profile.txt"
    raw.write_text(RAW)
    summary = profiling.summarize(raw)
    assert (summary["samples"], summary["idle_samples"]) == (100, 800)
    assert summary["top_self"][0] == ("encode (transcriber.py:310)", 60.0)
