"""Who said it: online speaker clustering of a session's utterances, sans I/O.

One embedding per final utterance goes in (unit-norm, from any ``audio.speaker_embedding.SpeakerEmbedder``;
the VAD already cut the utterances); a speaker label and a confidence come out, at once and for good: a label
once sent is never revised. This is the standard streaming scheme (diart's ``OnlineSpeakerClustering``
works the same way):

- each speaker of the session has a centroid, the mean of the embeddings assigned to it;
- an utterance goes to the speaker whose centroid is nearest by cosine similarity when that similarity is
  at least ``threshold``, and that centroid moves towards it;
- below ``threshold`` it opens a new speaker, unless ``max_speakers`` are open: then it takes the nearest;
- an utterance shorter than ``min_update_duration_s`` (an embedding of a few hundred ms is noisy) takes
  the nearest speaker without moving any centroid and never opens one, except the session's very first
  utterance, which opens speaker ``"0"`` provisionally: the first long utterance assigned to it replaces
  that seed.

Labels are ``"0"``, ``"1"``, … in the order the speakers were first heard: stable within the session.
No model, no clock, no I/O: the tests script embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_THRESHOLD = 0.55
"""Cosine similarity at or above which an utterance joins an existing speaker (``bench/diarization.py``)."""
DEFAULT_MAX_SPEAKERS = 8
DEFAULT_MIN_UPDATE_DURATION_S = 1.0
"""Shorter utterances are labelled but move no centroid (the bundled model embeds 0.8 s windows)."""


@dataclass(frozen=True)
class SpeakerSettings:
    """How one session clusters its speakers: the server's defaults for its model, or the client's overrides."""

    threshold: float = DEFAULT_THRESHOLD
    max_speakers: int = DEFAULT_MAX_SPEAKERS
    min_update_duration_s: float = DEFAULT_MIN_UPDATE_DURATION_S


@dataclass(frozen=True)
class SpeakerAssignment:
    speaker: str
    """``"0"``, ``"1"``, …: the order in which the session first heard each speaker."""
    confidence: float
    """In [0, 1]: above 0.5 when the similarity was clearly on the side of the decision taken (clearly
    above the threshold and above the runner-up for a known speaker, clearly below it for a new one); below
    0.5 when the utterance was forced onto a speaker it did not match (``max_speakers`` reached, or short)."""
    similarity: float
    """Cosine similarity to the chosen speaker's centroid before the update (1.0 for a speaker it opened)."""
    new_speaker: bool


@dataclass
class _Speaker:
    label: str
    total: np.ndarray
    """Sum of the unit embeddings assigned (the seed alone while ``count`` is 0)."""
    count: int

    def direction(self) -> np.ndarray:
        return _unit(self.total)

    def absorb(self, embedding: np.ndarray) -> None:
        self.total = embedding.copy() if self.count == 0 else self.total + embedding
        self.count += 1


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("a speaker embedding must be a finite, non-zero vector")
    return np.asarray(vector, dtype=np.float64) / norm


class OnlineSpeakers:
    """The speakers of one session. Not thread-safe: one caller at a time, utterances in order."""

    def __init__(
        self,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        max_speakers: int = DEFAULT_MAX_SPEAKERS,
        min_update_duration_s: float = DEFAULT_MIN_UPDATE_DURATION_S,
    ) -> None:
        if not -1.0 < threshold < 1.0:
            raise ValueError(f"threshold must be a cosine similarity in (-1, 1), got {threshold}")
        if max_speakers < 1:
            raise ValueError(f"max_speakers must be at least 1, got {max_speakers}")
        self.threshold = threshold
        self.max_speakers = max_speakers
        self.min_update_duration_s = min_update_duration_s
        self._speakers: list[_Speaker] = []

    @classmethod
    def with_settings(cls, settings: SpeakerSettings) -> OnlineSpeakers:
        return cls(
            threshold=settings.threshold,
            max_speakers=settings.max_speakers,
            min_update_duration_s=settings.min_update_duration_s,
        )

    @property
    def speaker_count(self) -> int:
        return len(self._speakers)

    def assign(self, embedding: np.ndarray, *, duration_s: float) -> SpeakerAssignment:
        """The speaker of an utterance of ``duration_s`` seconds with this embedding (any norm)."""
        vector = _unit(embedding)
        long_enough = duration_s >= self.min_update_duration_s
        if not self._speakers:
            return self._open(vector, seeded_only=not long_enough, confidence=1.0)
        similarities = np.array([float(vector @ s.direction()) for s in self._speakers])
        order = np.argsort(-similarities, kind="stable")
        best = int(order[0])
        best_similarity = float(similarities[best])
        runner_up = float(similarities[order[1]]) if len(order) > 1 else -1.0
        if best_similarity >= self.threshold:
            if long_enough:
                self._speakers[best].absorb(vector)
            margin = min(best_similarity - self.threshold, best_similarity - runner_up)
            return self._joined(best, best_similarity, 0.5 + 0.5 * _clip01(margin / (1.0 - self.threshold)))
        if long_enough and len(self._speakers) < self.max_speakers:
            below = (self.threshold - best_similarity) / (1.0 + self.threshold)
            return self._open(vector, seeded_only=False, confidence=0.5 + 0.5 * _clip01(below))
        # forced onto the nearest: too short to open a speaker, or no room for one; no centroid moves
        forced = (best_similarity + 1.0) / (self.threshold + 1.0)
        return self._joined(best, best_similarity, 0.5 * _clip01(forced))

    def _open(self, vector: np.ndarray, *, seeded_only: bool, confidence: float) -> SpeakerAssignment:
        speaker = _Speaker(label=str(len(self._speakers)), total=vector.copy(), count=0 if seeded_only else 1)
        self._speakers.append(speaker)
        return SpeakerAssignment(speaker.label, round(confidence, 4), 1.0, new_speaker=True)

    def _joined(self, index: int, similarity: float, confidence: float) -> SpeakerAssignment:
        return SpeakerAssignment(self._speakers[index].label, round(confidence, 4), similarity, new_speaker=False)


def _clip01(value: float) -> float:
    return min(1.0, max(0.0, value))
