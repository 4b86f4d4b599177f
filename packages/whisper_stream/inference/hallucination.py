"""Whisper's hallucination guards, in one place: the checks that decide a decode's text is not to be trusted.

The thresholds are faster-whisper's (and OpenAI Whisper's) defaults. Both the direct decode and faster-whisper's
own ``transcribe`` path apply the same rules:

- **silence**: the model thinks there was no speech (``no_speech_prob`` above its threshold) *and* is not
  confident of the text it produced (mean log-probability below its threshold): the text is dropped;
- **low confidence**: mean log-probability below its threshold: doubtful;
- **repetitive**: the text compresses too well (gzip ratio above its threshold), a decoder loop: doubtful.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HallucinationGuard:
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4

    def low_confidence(self, avg_logprob: float) -> bool:
        return avg_logprob < self.log_prob_threshold

    def silence(self, no_speech_prob: float, avg_logprob: float) -> bool:
        return no_speech_prob > self.no_speech_threshold and self.low_confidence(avg_logprob)

    def doubtful(self, avg_logprob: float, compression_ratio: float) -> bool:
        """Low confidence or repetitive: the text is kept only as a ``possible_hallucination``, if at all."""
        return self.low_confidence(avg_logprob) or self.repetitive(compression_ratio)

    def repetitive(self, compression_ratio: float) -> bool:
        """``compression_ratio``: the text's length over its gzip-compressed length (faster-whisper's)."""
        return compression_ratio > self.compression_ratio_threshold
