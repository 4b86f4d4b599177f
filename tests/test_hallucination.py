from __future__ import annotations

import pytest

from whisper_stream.inference.hallucination import HallucinationGuard, without_punctuation_runs

GUARD = HallucinationGuard(no_speech_threshold=0.6, log_prob_threshold=-1.0, compression_ratio_threshold=2.4)


@pytest.mark.parametrize(
    ("no_speech_prob", "avg_logprob", "silence"),
    [(0.9, -1.5, True), (0.9, -0.5, False), (0.3, -1.5, False), (0.6, -1.5, False)],
)
def test_silence_needs_both_no_speech_and_low_confidence(no_speech_prob, avg_logprob, silence) -> None:
    assert GUARD.silence(no_speech_prob, avg_logprob) is silence


def test_low_confidence_and_repetition_follow_their_thresholds() -> None:
    assert GUARD.low_confidence(-1.01) and not GUARD.low_confidence(-0.99)
    assert GUARD.repetitive(2.5) and not GUARD.repetitive(2.4)


SONNET = "That thereby beauty's rose might never die."


@pytest.mark.parametrize(
    ("text", "expected", "looped"),
    [
        (SONNET + " ." * 40, SONNET, True),
        ("so . . . then", "so then", True),
        (". . . .", "", True),
        ("yes - no . and", "yes - no . and", False),  # single marks between words are speech's
        ("wait ... what ?", "wait ... what ?", False),
        ("a . . b", "a . . b", False),  # two in a row: not yet a loop
    ],
)
def test_a_punctuation_loop_is_cut_out_and_reported(text: str, expected: str, looped: bool) -> None:
    assert without_punctuation_runs(text) == (expected, looped)
