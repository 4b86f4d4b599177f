"""bench/finals_wer.py's count of finals cut off (no model)."""

from __future__ import annotations

from bench.finals_wer import cut_off


def test_only_finals_that_end_in_a_dash_count_as_cut_off() -> None:
    finals = [{"transcript": t} for t in ("What do the- ", "A two-fold cut.", "When- However.", "Hold out-", "")]
    assert cut_off(finals) == 2
