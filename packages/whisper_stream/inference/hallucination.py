"""Whisper's hallucination guards, in one place: the checks that decide a decode's text is not to be trusted.

The thresholds are faster-whisper's (and OpenAI Whisper's) defaults. Both the direct decode and faster-whisper's
own ``transcribe`` path apply the same rules:

- **silence**: the model thinks there was no speech (``no_speech_prob`` above its threshold) *and* is not
  confident of the text it produced (mean log-probability below its threshold): the text is dropped;
- **low confidence**: mean log-probability below its threshold: doubtful;
- **repetitive**: the text compresses too well (gzip ratio above its threshold), a decoder loop: doubtful;
- **a punctuation loop**: ``PUNCTUATION_RUN`` or more pieces in a row with no letter or digit (". . . . .")
  are cut out of the text, which is then doubtful (``without_punctuation_runs``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

PUNCTUATION_RUN = 3
"""This many space-separated pieces in a row with no letter or digit are a decoder loop, not speech."""


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


def without_punctuation_runs(text: str) -> tuple[str, bool]:
    """``text`` without its punctuation loops (``PUNCTUATION_RUN`` or more pieces in a row that hold no letter
    or digit), and whether it had one. gzip's ratio misses such a loop on a short text: tiny.en decoded a
    final in context as "That thereby beauty's rose might never die. . . . ." (40 dots: gzip ratio 2.28,
    under 2.4), and that text in the session's history made every later decode answer with dots alone. Single
    marks between words ("yes - no", "wait ... what") are left as they are."""
    kept: list[str] = []
    looped = False
    for punctuation, run in itertools.groupby(text.split(), key=lambda piece: not any(c.isalnum() for c in piece)):
        pieces = list(run)
        if punctuation and len(pieces) >= PUNCTUATION_RUN:
            looped = True
        else:
            kept.extend(pieces)
    return (" ".join(kept) if looped else text), looped
