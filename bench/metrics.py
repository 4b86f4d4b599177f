"""Scoring: which transcript update belongs to which utterance, latencies, WER.

An event covers an utterance when its stream-time span overlaps the utterance's
speech (widened by 0.25 s each side) by half the shorter of the two, or by 1 s.
Per utterance:

- first-text latency: first event (partial or final) with text covering it,
  minus the moment its speech started (on the client's capture clock);
- final latency: the last final covering it, minus the moment its speech ended.
  An utterance is missed when no final covers it, or when the finals that do
  stop more than 1 s short of its end (its last words never came as a final);
  a missed utterance counts as infinitely late in the percentiles.

WER is corpus-level over whole streams: all finals in arrival order against
all references, after ``normalize``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.audio import Stream, Utterance
from bench.systems.base import Event, StreamRun

_WIDEN_S = 0.25
_MAX_REQUIRED_OVERLAP_S = 1.0
_END_TOLERANCE_S = 1.0
_NUMBERS = dict(
    enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
)
_WORDS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint", "ok": "okay"}
_FILLERS = {"um", "uh", "hmm", "mm", "er", "ah"}


def normalize(text: str) -> str:
    """Lower case, no punctuation, small numbers and common abbreviations spelt out, no fillers."""
    text = text.lower().replace("’", "'").replace("-", " ")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    words = []
    for word in text.split():
        word = word.strip("'")
        if word.isdigit() and int(word) in _NUMBERS:
            word = _NUMBERS[int(word)]
        word = _WORDS.get(word, word)
        if word and word not in _FILLERS:
            words.append(word)
    return " ".join(words)


@dataclass(frozen=True)
class UtteranceScore:
    clip: str
    speech_start_s: float
    speech_end_s: float
    first_text_latency_s: float | None
    final_latency_s: float | None  # None: missed

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def _covers(event: Event, utterance: Utterance) -> bool:
    if event.start_s is None or event.end_s is None or not event.text.strip():
        return False
    lo = max(event.start_s, utterance.speech_start_s - _WIDEN_S)
    hi = min(event.end_s, utterance.speech_end_s + _WIDEN_S)
    # Half of the shorter of the two, at most 1 s: a long segment whose end bleeds a little
    # into the next utterance (Whisper's end times run into the silence) doesn't cover it.
    shorter_s = min(utterance.speech_end_s - utterance.speech_start_s, event.end_s - event.start_s)
    return hi - lo > 0 and hi - lo >= min(_MAX_REQUIRED_OVERLAP_S, 0.5 * shorter_s)


def score_utterances(stream: Stream, run: StreamRun, speed: float) -> list[UtteranceScore]:
    scores = []
    for utterance in stream.utterances:
        covering = [e for e in run.events if _covers(e, utterance)]
        finals = [e for e in covering if e.is_final]
        first = min((e.wall_s for e in covering), default=None)
        last_final = max((e.wall_s for e in finals), default=None)
        if finals and max(e.end_s or 0.0 for e in finals) < utterance.speech_end_s - _END_TOLERANCE_S:
            last_final = None  # its last words never came as a final: missed, not early
        scores.append(
            UtteranceScore(
                utterance.clip.name,
                utterance.speech_start_s,
                utterance.speech_end_s,
                None if first is None else first - utterance.speech_start_s / speed,
                None if last_final is None else last_final - utterance.speech_end_s / speed,
            )
        )
    return scores


def percentile(values: Sequence[float | None], q: float) -> float | None:
    """Nearest-rank percentile; ``None`` (missed) counts as +inf. None for no values."""
    if not values:
        return None
    ordered = sorted(math.inf if v is None else v for v in values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_summary(values: Sequence[float | None]) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    return {
        "n": len(values),
        "missed": len(values) - len(present),
        "p50_s": _finite(percentile(values, 50)),
        "p95_s": _finite(percentile(values, 95)),
        "max_s": _finite(percentile(values, 100)),
        "mean_s": round(sum(present) / len(present), 3) if present else None,
    }


def _finite(value: float | None) -> float | str | None:
    if value is None:
        return None
    return "inf" if math.isinf(value) else round(value, 3)


def hypothesis(run: StreamRun) -> str:
    return " ".join(e.text for e in sorted(run.finals, key=lambda e: e.wall_s) if e.text)


def corpus_wer(references: Sequence[str], hypotheses: Sequence[str]) -> dict[str, Any]:
    """WER over all pairs together (errors summed, then divided by the reference words)."""
    import jiwer

    refs = [normalize(r) for r in references]
    hyps = [normalize(h) for h in hypotheses]
    pairs = [(r, h) for r, h in zip(refs, hyps, strict=True) if r]
    if not pairs:
        return {"wer": None}
    out = jiwer.process_words([r for r, _ in pairs], [h or "<empty>" for _, h in pairs])
    words = sum(len(r.split()) for r, _ in pairs)
    return {
        "wer": round(out.wer, 4),
        "substitutions": out.substitutions,
        "deletions": out.deletions,
        "insertions": out.insertions,
        "reference_words": words,
    }
