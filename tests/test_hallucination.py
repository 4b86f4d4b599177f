from __future__ import annotations

import pytest

from whisper_stream.inference.hallucination import HallucinationGuard

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
