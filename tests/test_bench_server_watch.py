"""Tests for bench/server_watch.py: reading Prometheus text and RSS, as the hostile-mix and memory benches do."""

from __future__ import annotations

import os

from bench import server_watch

TEXT = """# HELP whisper_stream_sessions_total Sessions
whisper_stream_sessions_total{outcome="accepted"} 5.0
whisper_stream_sessions_total{outcome="refused"} 2.0
whisper_stream_errors_total{code="invalid_data"} 3.0
whisper_stream_event_loop_lag_seconds_bucket{le="0.01"} 90.0
whisper_stream_event_loop_lag_seconds_bucket{le="0.1"} 99.0
whisper_stream_event_loop_lag_seconds_bucket{le="+Inf"} 100.0
whisper_stream_event_loop_lag_seconds_count 100.0
"""


def _parse(text: str) -> dict[tuple[str, str], float]:
    values = {}
    for line in text.splitlines():
        match = server_watch._SAMPLE.match(line)
        if match:
            values[(match[1], match[2] or "")] = float(match[3])
    return values


def test_counters_by_label_and_histogram_quantiles() -> None:
    values = _parse(TEXT)
    assert server_watch.labelled(values, "whisper_stream_sessions", "outcome") == {"accepted": 5.0, "refused": 2.0}
    assert server_watch.labelled(values, "whisper_stream_errors", "code") == {"invalid_data": 3.0}
    lag = "whisper_stream_event_loop_lag_seconds"
    assert server_watch.histogram_quantile(values, lag, 0.5) == 0.01
    assert server_watch.histogram_quantile(values, lag, 0.99) == 0.1
    assert server_watch.histogram_quantile(values, lag, 1.0) == float("inf")
    assert server_watch.histogram_count(values, lag) == 100.0
    before = {key: value / 2 for key, value in values.items()}
    assert server_watch.delta(values, before)[("whisper_stream_errors_total", 'code="invalid_data"')] == 1.5


def test_rss_of_this_process() -> None:
    assert server_watch.rss_bytes(os.getpid()) > 10 << 20
    assert server_watch.rss_bytes(2**22 + 12345) == 0  # no such process
