"""Scoring: which transcript update belongs to which utterance, latencies, WER.

An event covers an utterance when its stream-time span overlaps the utterance's
speech (widened by 0.25 s each side) by half the shorter of the two, or by 1 s.
Per utterance:

- first-text latency: first event (partial or final) with text covering it,
  minus the moment its speech started (on the client's capture clock);
- final latency: the last final covering it, minus the moment its speech ended;
- coverage, judged on words, not spans (``word_coverage``): the stream's finals
  are aligned to its references, and an utterance is *missed* when none of its
  words came back, *truncated* when none of its last words did. Both, and an
  utterance no final covers, count as infinitely late in the percentiles.

WER is corpus-level over whole streams: all finals in arrival order against
all references, normalised by ``bench.wer`` (Whisper's English normaliser).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench import wer
from bench.audio import Stream, Utterance
from bench.systems.base import Event, StreamRun

_WIDEN_S = 0.25
_MAX_REQUIRED_OVERLAP_S = 1.0
COVER_S = 0.3
"""A final covers an end of speech when its span reaches within this of it (Whisper's ends run early or late)."""
# An utterance's "last words": this many of its normalised reference words, or all of them if fewer.
TAIL_WORDS = 3


@dataclass(frozen=True)
class Coverage:
    """What came back of one utterance's words, judged on the whole stream's word alignment."""

    words: int  # normalised reference words
    hits: int  # of those, how many came back as the same word in a final
    missed: bool  # none came back, and some were deleted outright
    truncated: bool  # not missed, but none of its last words came back and one of them was deleted
    aligned_text: str = ""  # the normalised final words aligned to it (first to last), for reading errors


def word_coverage(references: Sequence[str], hypothesis: str) -> list[Coverage]:
    """Per reference (in stream order): which of its words the finals (``hypothesis``) brought back.

    The references are laid end to end and the hypothesis aligned to them at
    once (jiwer's minimum-edit alignment, both normalised), so a word counts
    wherever in the stream's finals it came, whatever span a system gave it.
    A substitution is an error, not a loss: an utterance is only missed or
    truncated where a word was deleted, i.e. no final word was aligned to it.
    """
    per_utterance = [wer.words(r) for r in references]
    alignment = wer.align_words([w for ws in per_utterance for w in ws], wer.words(hypothesis))
    out, first = [], 0
    for ws in per_utterance:
        hit = alignment.hit[first : first + len(ws)]
        matched = [m for m in alignment.matched_to[first : first + len(ws)] if m is not None]
        deleted = [m is None for m in alignment.matched_to[first : first + len(ws)]]
        aligned = " ".join(alignment.hypothesis[min(matched) : max(matched) + 1]) if matched else ""
        first += len(ws)
        tail = slice(max(0, len(ws) - TAIL_WORDS), len(ws))
        missed = bool(ws) and not any(hit) and any(deleted)
        truncated = not missed and bool(ws) and not any(hit[tail]) and any(deleted[tail])
        out.append(Coverage(len(ws), sum(hit), missed, truncated, aligned))
    return out


@dataclass(frozen=True)
class UtteranceScore:
    clip: str
    speech_start_s: float
    speech_end_s: float
    first_text_latency_s: float | None
    final_latency_s: float | None  # None: no final covers it, or it was missed or truncated
    words: int = 0
    hits: int = 0
    missed: bool = False
    truncated: bool = False
    aligned_text: str = ""
    end_of_speech_final_s: float | None = None
    """The field's figure: the first final covering silero's end of speech minus it (None: none covers it)."""

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
    coverage = word_coverage([u.clip.reference for u in stream.utterances], hypothesis(run))
    scores = []
    for utterance, covered in zip(stream.utterances, coverage, strict=True):
        events = [e for e in run.events if _covers(e, utterance)]
        first = min((e.wall_s for e in events), default=None)
        last_final = max((e.wall_s for e in events if e.is_final), default=None)
        if covered.missed or covered.truncated:
            last_final = None  # its last words never came as a final: missed, not early
        field_end_s = utterance.silero_end_s
        first_final = None
        if field_end_s is not None:
            covering = [e.wall_s for e in run.events if e.is_final and _final_covers_end(e, field_end_s)]
            first_final = min(covering, default=None)
        scores.append(
            UtteranceScore(
                utterance.clip.name,
                utterance.speech_start_s,
                utterance.speech_end_s,
                None if first is None else first - utterance.speech_start_s / speed,
                None if last_final is None else last_final - utterance.speech_end_s / speed,
                covered.words,
                covered.hits,
                covered.missed,
                covered.truncated,
                covered.aligned_text,
                None if first_final is None or field_end_s is None else first_final - field_end_s / speed,
            )
        )
    return scores


def _final_covers_end(event: Event, end_s: float) -> bool:
    """A final with text whose span covers the end of speech ``end_s`` (``covers_end``)."""
    if event.start_s is None or event.end_s is None or not event.text.strip():
        return False
    return covers_end(event.start_s, event.end_s, end_s)


def covers_end(start_s: float, stop_s: float, speech_end_s: float) -> bool:
    """Whether a final spanning ``start_s``-``stop_s`` covers the end of speech at ``speech_end_s``: it starts
    before it and reaches within ``COVER_S`` of it (the field's first final after the end of speech)."""
    return start_s <= speech_end_s and stop_s >= speech_end_s - COVER_S


def finalize_latencies(run: StreamRun) -> list[float | None]:
    """For each ``finalize`` the client sent, in order: the seconds until the final marked ``from_finalize``
    that answers it (the first such final after it not answering an earlier one); None where none came."""
    answers = sorted(e.wall_s for e in run.events if e.is_final and e.from_finalize)
    out: list[float | None] = []
    for sent_s in run.finalizes_sent_s:
        while answers and answers[0] < sent_s:
            answers.pop(0)  # an answer to nothing the client sent since (or to the end of the stream)
        out.append(answers.pop(0) - sent_s if answers else None)
    return out


def coverage_summary(scores: Sequence[UtteranceScore]) -> dict[str, int]:
    """Utterances whose words never came back (missed) or whose last words never did (truncated)."""
    return {
        "utterances": len(scores),
        "missed": sum(s.missed for s in scores),
        "truncated": sum(s.truncated for s in scores),
    }


def partials_per_speech_s(stream: Stream, run: StreamRun) -> float:
    """Partial transcripts the client received per second of speech in its stream."""
    return sum(not e.is_final for e in run.events) / stream.speech_s if stream.speech_s else 0.0


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
        "no_final": len(values) - len(present),  # no whole final (none covers it, missed, truncated): inf
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
    return wer.corpus_wer(references, hypotheses)
