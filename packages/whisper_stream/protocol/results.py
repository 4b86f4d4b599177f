"""What a transcription returns: plain dataclasses, times in seconds from the audio's start."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Word:
    word: str
    start_s: float
    end_s: float
    probability: float


@dataclass(frozen=True)
class Segment:
    text: str
    start_s: float
    end_s: float
    words: tuple[Word, ...] | None = None
    log_prob: float | None = None
    """The decoder's mean log-probability per token of this text (None: not known)."""
    possible_hallucination: bool = False
    """The text failed a hallucination check (``HallucinationGuard``: low confidence or repetitive) and was kept."""
    beam_results: tuple[str, ...] | None = None
    """The n-best texts of the beam, best first, when they were asked for."""


@dataclass(frozen=True)
class DecodeTimes:
    """Where a decode's time went, in seconds; None: the stage did not run (or was not measured)."""

    queue_wait_s: float | None = None
    """From the engine taking the request to a worker starting its decode."""
    language_detection_s: float | None = None
    """Detecting the language (one encoder pass of the batch), with ``audio_language: auto``."""
    decode_s: float | None = None
    """The Whisper call the request was decoded in (its whole batch, detection included)."""
    speaker_embedding_s: float | None = None
    """Embedding the utterance's speaker (beside the decode, on another thread), when it was asked for."""


@dataclass(frozen=True)
class TranscriptionResult:
    """The transcript of one piece of audio, relative to that piece's first sample."""

    text: str
    language_code: str
    confidence: float
    segments: tuple[Segment, ...] = field(default_factory=tuple)
    language_probability: float | None = None
    """How sure detection was of ``language_code`` (None: the language was fixed, not detected)."""
    times: DecodeTimes = field(default=DecodeTimes(), compare=False)
    """Measured, not decoded: two results with the same words are equal whatever their decodes took."""
    speaker_embedding: tuple[float, ...] | None = field(default=None, compare=False, repr=False)
    """Who said it, as a vector (unit norm) of the replica's speaker model, for a final whose session asked
    for speaker labels (``DecodeOptions.speaker_embedding``); None: not asked, no model, or not in time."""

    @classmethod
    def empty(cls, language_code: str = "") -> TranscriptionResult:
        """No words: silence, noise the guards rejected, or text that could not be trusted."""
        return cls("", language_code, 0.0, ())

    @property
    def possible_hallucination(self) -> bool:
        return any(segment.possible_hallucination for segment in self.segments)

    def shifted(self, offset_s: float) -> TranscriptionResult:
        """The same result with every time moved by ``offset_s``."""
        return dataclasses.replace(
            self,
            segments=tuple(
                dataclasses.replace(
                    s,
                    start_s=s.start_s + offset_s,
                    end_s=s.end_s + offset_s,
                    words=None
                    if s.words is None
                    else tuple(Word(w.word, w.start_s + offset_s, w.end_s + offset_s, w.probability) for w in s.words),
                )
                for s in self.segments
            ),
        )
