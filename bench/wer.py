"""The one text normaliser and word error rate of the project: tests, bench and scripts all score here.

Text is normalised with Whisper's own English normaliser (``EnglishTextNormalizer``
as the ``whisper-normalizer`` package ships it: lower case, punctuation and
fillers removed, numbers and British spellings standardised, contractions
expanded), the field's standard for English WER, and aligned with jiwer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

# jiwer refuses an empty hypothesis in a pair; this word is in no reference, so it scores
# as one substitution and the reference's other words as deletions.
EMPTY_HYPOTHESIS = "<empty>"


@cache
def _normalizer() -> Any:
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalize(text: str) -> str:
    """Whisper's English normalisation of ``text``, words separated by single spaces."""
    return " ".join(_normalizer()(text).split())


def words(text: str) -> list[str]:
    return normalize(text).split()


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of one hypothesis against one reference, both normalised."""
    return corpus_wer([reference], [hypothesis])["wer"] or 0.0


@dataclass(frozen=True)
class WordAlignment:
    """Each reference word's fate in a jiwer alignment: the hypothesis word it met, or None (deleted)."""

    reference: tuple[str, ...]
    hypothesis: tuple[str, ...]
    matched_to: tuple[int | None, ...]  # per reference word: index into hypothesis, None when deleted
    hit: tuple[bool, ...]  # per reference word: the same word came back


def align(reference: str, hypothesis: str) -> WordAlignment:
    """Align the normalised hypothesis to the normalised reference (jiwer's minimum-edit alignment)."""
    return align_words(words(reference), words(hypothesis))


def align_words(ref: Sequence[str], hyp: Sequence[str]) -> WordAlignment:
    """Align already normalised word lists."""
    import jiwer

    if not ref:
        return WordAlignment((), tuple(hyp), (), ())
    if not hyp:
        return WordAlignment(tuple(ref), (), (None,) * len(ref), (False,) * len(ref))
    out = jiwer.process_words(" ".join(ref), " ".join(hyp))
    matched: list[int | None] = [None] * len(ref)
    hit = [False] * len(ref)
    for chunk in out.alignments[0]:
        if chunk.type in ("equal", "substitute"):
            for offset in range(chunk.ref_end_idx - chunk.ref_start_idx):
                matched[chunk.ref_start_idx + offset] = chunk.hyp_start_idx + offset
                hit[chunk.ref_start_idx + offset] = chunk.type == "equal"
    return WordAlignment(tuple(ref), tuple(hyp), tuple(matched), tuple(hit))


def corpus_wer(references: Sequence[str], hypotheses: Sequence[str]) -> dict[str, Any]:
    """WER over all pairs together (errors summed, then divided by the reference words).

    Pairs whose normalised reference is empty are left out; ``{"wer": None}`` when none is left.
    """
    import jiwer

    pairs = [(normalize(r), normalize(h)) for r, h in zip(references, hypotheses, strict=True)]
    pairs = [(r, h or EMPTY_HYPOTHESIS) for r, h in pairs if r]
    if not pairs:
        return {"wer": None}
    out = jiwer.process_words([r for r, _ in pairs], [h for _, h in pairs])
    return {
        "wer": round(out.wer, 4),
        "substitutions": out.substitutions,
        "deletions": out.deletions,
        "insertions": out.insertions,
        "reference_words": sum(len(r.split()) for r, _ in pairs),
    }


def paired_difference_interval(
    errors_a: Sequence[int],
    errors_b: Sequence[int],
    reference_words: Sequence[int],
    *,
    level: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> tuple[float, float]:
    """The percentile bootstrap interval of corpus WER(a) - WER(b), two systems scored utterance by utterance
    on the same utterances (their errors and each reference's words): the utterances are drawn again with
    replacement ``resamples`` times, both systems' errors kept together. An interval that holds 0 is a
    difference these utterances cannot tell from chance."""
    import numpy as np

    a, b, words_n = (np.asarray(x, dtype=float) for x in (errors_a, errors_b, reference_words))
    if not a.size == b.size == words_n.size > 0:
        raise ValueError("errors and reference words must be given for the same, non-empty, utterances")
    drawn = np.random.default_rng(seed).integers(0, a.size, size=(resamples, a.size))
    differences = ((a - b)[drawn]).sum(axis=1) / words_n[drawn].sum(axis=1)
    tail = (1.0 - level) / 2
    low, high = np.quantile(differences, [tail, 1.0 - tail])
    return float(low), float(high)
