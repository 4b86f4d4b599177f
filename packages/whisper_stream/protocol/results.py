"""What a transcription returns: plain dataclasses, times in seconds from the audio's start."""

from __future__ import annotations

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


@dataclass(frozen=True)
class TranscriptionResult:
    """The transcript of one piece of audio, relative to that piece's first sample."""

    text: str
    language_code: str
    confidence: float
    segments: tuple[Segment, ...] = field(default_factory=tuple)

    @classmethod
    def empty(cls, language_code: str = "") -> TranscriptionResult:
        """No words: silence, noise the guards rejected, or text that could not be trusted."""
        return cls("", language_code, 0.0, ())

    def shifted(self, offset_s: float) -> TranscriptionResult:
        """The same result with every time moved by ``offset_s``."""
        return TranscriptionResult(
            text=self.text,
            language_code=self.language_code,
            confidence=self.confidence,
            segments=tuple(
                Segment(
                    text=s.text,
                    start_s=s.start_s + offset_s,
                    end_s=s.end_s + offset_s,
                    words=None
                    if s.words is None
                    else tuple(Word(w.word, w.start_s + offset_s, w.end_s + offset_s, w.probability) for w in s.words),
                )
                for s in self.segments
            ),
        )
