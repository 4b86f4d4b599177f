"""bench/capacity_metrics.py: reading /metrics histograms back."""

from __future__ import annotations

import math

import pytest

from bench.capacity_metrics import histogram_quantile, parse

BEFORE = """# HELP whisper_stream_decode_batch_size x
# TYPE whisper_stream_decode_batch_size histogram
whisper_stream_decode_batch_size_bucket{le="1.0"} 2.0
whisper_stream_decode_batch_size_bucket{le="2.0"} 2.0
whisper_stream_decode_batch_size_bucket{le="4.0"} 2.0
whisper_stream_decode_batch_size_bucket{le="+Inf"} 2.0
whisper_stream_decode_batch_size_count 2.0
whisper_stream_decode_batch_size_sum 2.0
"""
AFTER = BEFORE.replace('le="2.0"} 2.0', 'le="2.0"} 12.0').replace('le="4.0"} 2.0', 'le="4.0"} 22.0')
AFTER = AFTER.replace('le="+Inf"} 2.0', 'le="+Inf"} 22.0')


def test_delta_per_bucket_and_quantiles() -> None:
    delta = parse(AFTER).histogram_delta(parse(BEFORE), "whisper_stream_decode_batch_size", {})
    assert delta == {1.0: 0.0, 2.0: 10.0, 4.0: 10.0, math.inf: 0.0}
    assert histogram_quantile(delta, 0.5) == pytest.approx(2.0)
    assert histogram_quantile(delta, 0.75) == pytest.approx(3.0)  # halfway into the (2, 4] bucket
    assert math.isnan(histogram_quantile({}, 0.5))


def test_counters_rise_between_scrapes() -> None:
    text = """# HELP whisper_stream_finals_without_context_total x
# TYPE whisper_stream_finals_without_context_total counter
whisper_stream_finals_without_context_total {n}
# HELP whisper_stream_transcripts_sent_total x
# TYPE whisper_stream_transcripts_sent_total counter
whisper_stream_transcripts_sent_total{{kind="final"}} {m}
# HELP whisper_stream_decode_seconds x
# TYPE whisper_stream_decode_seconds histogram
whisper_stream_decode_seconds_count{{kind="final"}} {d}
whisper_stream_decode_seconds_count{{kind="partial"}} 7.0
"""
    before, after = parse(text.format(n=2.0, m=10.0, d=12.0)), parse(text.format(n=5.0, m=30.0, d=37.0))
    assert after.counter_delta(before, "whisper_stream_finals_without_context_total") == 3.0
    assert after.counter_delta(before, "whisper_stream_transcripts_sent_total", 'kind="final"') == 20.0
    # a step's decode calls of finals (speculative ones included), as capacity.py reads them
    assert after.counter_delta(before, "whisper_stream_decode_seconds_count", 'kind="final"') == 25.0
    assert after.counter_delta(before, "whisper_stream_never_seen_total") == 0.0
