"""Which language each utterance is decoded in, and whether its prompt still fits: pure decisions.

The transcriber detects; this module chooses (among ``language_options``, sticking to the
previous utterance's language when detection is unsure) and groups utterances by language,
since one decode shares one language token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from whisper_stream.inference.requests import DecodeOptions
from whisper_stream.protocol.results import DecodeTimes, TranscriptionResult

SURE_LANGUAGE_PROBABILITY = 0.8
"""Below this (among the allowed languages), detection is a guess: on 1-1.5 s of speech base's
top language was wrong up to p 0.61 and right from p 0.86 on 17 shared multilingual clips."""


def choose_language(
    probabilities: Sequence[tuple[str, float]], allowed: Sequence[str], previous: str | None
) -> tuple[str, bool]:
    """The language to decode in, and whether detection is sure of it.

    The most likely of ``allowed`` (all when empty, or when the model knows none of them),
    its probability renormalised over the allowed ones. When that is unsure, the previous
    utterance's language, if allowed: people seldom switch language mid-conversation, and
    a short or starting utterance is where detection guesses.
    """
    candidates = [(code, p) for code, p in probabilities if code in allowed] or list(probabilities)
    code, probability = max(candidates, key=lambda c: c[1])
    total = sum(p for _, p in candidates)
    if total > 0 and probability / total >= SURE_LANGUAGE_PROBABILITY:
        return code, True
    if previous is not None and any(c == previous for c, _ in candidates):
        return previous, True
    return code, False


def history_fits(options: DecodeOptions, language: str) -> bool:
    """Whether the previous finals' text may prompt a decode in ``language`` (text in another misleads)."""
    return options.prompt_language is None or options.prompt_language == language


def prompt_for(options: DecodeOptions, language: str) -> str | None:
    """The client's prompt, then the history unless it is in another language, as one text."""
    parts = (options.prompt, options.history if history_fits(options, language) else None)
    return " ".join(p for p in parts if p) or None


def by_language(indexes: Sequence[int], items: Sequence[tuple[np.ndarray, DecodeOptions]]) -> list[list[int]]:
    """``indexes`` grouped by their item's language: one decode shares one language token (and one search,
    ``Sampling.batch_key``, which the engine already batches by)."""
    groups: dict[tuple[object, ...], list[int]] = {}
    for i in indexes:
        options = items[i][1]
        groups.setdefault((options.language, options.sampling.batch_key), []).append(i)
    return list(groups.values())


def with_detection(
    result: TranscriptionResult, probability: float | None, seconds: float | None
) -> TranscriptionResult:
    """``result`` of an utterance whose language was detected (``probability`` not None): how sure detection was
    of its language, and how long detection took."""
    if probability is None:
        return result
    return replace(result, language_probability=probability, times=DecodeTimes(language_detection_s=seconds))
