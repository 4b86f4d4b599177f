"""Tests for bench/server_watch.py: reading a server's Prometheus text and RSS, as the benches that run one do."""

from __future__ import annotations

import math
import os

import pytest

from bench import server_watch

TEXT = """# HELP whisper_stream_sessions_total Sessions
# TYPE whisper_stream_sessions_total counter
whisper_stream_sessions_total{outcome="accepted"} 5.0
whisper_stream_sessions_total{outcome="refused"} 2.0
# HELP whisper_stream_errors_total Errors
# TYPE whisper_stream_errors_total counter
whisper_stream_errors_total{code="invalid_data"} 3.0
# HELP whisper_stream_finals_without_context_total Finals alone
# TYPE whisper_stream_finals_without_context_total counter
whisper_stream_finals_without_context_total 4.0
# HELP whisper_stream_event_loop_lag_seconds Lag
# TYPE whisper_stream_event_loop_lag_seconds histogram
whisper_stream_event_loop_lag_seconds_bucket{le="0.01"} 90.0
whisper_stream_event_loop_lag_seconds_bucket{le="0.1"} 99.0
whisper_stream_event_loop_lag_seconds_bucket{le="+Inf"} 100.0
whisper_stream_event_loop_lag_seconds_count 100.0
whisper_stream_event_loop_lag_seconds_sum 1.5
# HELP whisper_stream_decode_seconds Decodes
# TYPE whisper_stream_decode_seconds histogram
whisper_stream_decode_seconds_bucket{kind="final",le="0.5"} {f05}
whisper_stream_decode_seconds_bucket{kind="final",le="1.0"} {f10}
whisper_stream_decode_seconds_bucket{kind="final",le="+Inf"} {f10}
whisper_stream_decode_seconds_count{kind="final"} {f10}
whisper_stream_decode_seconds_sum{kind="final"} 9.0
whisper_stream_decode_seconds_bucket{kind="partial",le="0.5"} 7.0
whisper_stream_decode_seconds_bucket{kind="partial",le="1.0"} 7.0
whisper_stream_decode_seconds_bucket{kind="partial",le="+Inf"} 7.0
whisper_stream_decode_seconds_count{kind="partial"} 7.0
whisper_stream_decode_seconds_sum{kind="partial"} 2.0
"""


def scraped(f05: float = 2.0, f10: float = 12.0) -> server_watch.Samples:
    return server_watch.samples(TEXT.replace("{f05}", str(f05)).replace("{f10}", str(f10)))


def test_counters_by_label_and_by_exact_labels() -> None:
    values = scraped()
    assert server_watch.labelled(values, "whisper_stream_sessions", "outcome") == {"accepted": 5.0, "refused": 2.0}
    assert server_watch.labelled(values, "whisper_stream_errors", "code") == {"invalid_data": 3.0}
    assert server_watch.value(values, "whisper_stream_finals_without_context_total") == 4.0
    assert server_watch.value(values, "whisper_stream_decode_seconds_count", kind="final") == 12.0
    assert server_watch.value(values, "whisper_stream_decode_seconds_count") == 0.0  # no sample without labels
    assert server_watch.value(values, "whisper_stream_never_seen_total") == 0.0


def test_what_rose_between_two_scrapes() -> None:
    rose = server_watch.delta(scraped(f05=12.0, f10=37.0), scraped(f05=2.0, f10=12.0))
    assert server_watch.value(rose, "whisper_stream_decode_seconds_count", kind="final") == 25.0
    assert server_watch.value(rose, "whisper_stream_decode_seconds_count", kind="partial") == 0.0
    # a histogram's rise, per bucket: 10 more at ≤ 0.5 s, 15 more in (0.5, 1] s; the partials' buckets apart
    per_bucket = server_watch.histogram(rose, "whisper_stream_decode_seconds", kind="final")
    assert per_bucket == {0.5: 10.0, 1.0: 15.0, math.inf: 0.0}


def test_histogram_quantiles_interpolated_and_bounded() -> None:
    lag = server_watch.histogram(scraped(), "whisper_stream_event_loop_lag_seconds")
    assert lag == {0.01: 90.0, 0.1: 9.0, math.inf: 1.0}
    assert server_watch.histogram_quantile(lag, 0.5) == pytest.approx(0.5 / 0.9 * 0.01)
    assert server_watch.histogram_quantile(lag, 0.945) == pytest.approx(0.01 + 0.09 * 4.5 / 9)
    assert server_watch.histogram_quantile(lag, 1.0) == 0.1  # past the last finite bound: that bound
    assert math.isnan(server_watch.histogram_quantile({}, 0.5))
    assert server_watch.histogram_bound(lag, 0.5) == 0.01
    assert server_watch.histogram_bound(lag, 0.99) == 0.1
    assert server_watch.histogram_bound(lag, 1.0) == math.inf
    assert server_watch.histogram_bound({}, 0.5) is None


def test_rss_of_this_process() -> None:
    assert server_watch.rss_bytes(os.getpid()) > 10 << 20
    assert server_watch.rss_bytes(2**22 + 12345) == 0  # no such process
