"""Server messages as the client keeps them: finals with absolute times, and the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Segment:
    text: str
    start_s: float
    end_s: float
    speaker: str | None = None
    """Who said it (``"0"``, ``"1"``, ...), when the session asked for speaker labels and the server gave one."""


@dataclass(frozen=True)
class Final:
    """A final transcript. Times are seconds from the start of the audio the client sent,
    so they keep counting across reconnects (the server counts from each session's start)."""

    transcription_num: int | None
    text: str
    language_code: str | None
    segments: tuple[Segment, ...]
    session_index: int = 0

    @property
    def start_s(self) -> float | None:
        return self.segments[0].start_s if self.segments else None

    @property
    def end_s(self) -> float | None:
        return self.segments[-1].end_s if self.segments else None

    @property
    def speaker(self) -> str | None:
        """The speaker of its first labelled segment (the server gives a final one speaker)."""
        return next((segment.speaker for segment in self.segments if segment.speaker is not None), None)


@dataclass
class StreamResult:
    finals: list[Final] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    session_ends: list[dict[str, Any]] = field(default_factory=list)
    sessions: int = 0
    audio_sent_s: float = 0.0

    @property
    def text(self) -> str:
        return "\n".join(final.text for final in self.finals if final.text)


def is_transcription(message: dict[str, Any]) -> bool:
    # The example server sends no "type"; a transcript is recognised by its fields.
    return message.get("type", "transcription") == "transcription" and "transcript" in message


def parse_final(message: dict[str, Any], *, offset_s: float = 0.0, session_index: int = 0) -> Final:
    segments = tuple(_segment(raw, offset_s) for raw in message.get("segments") or ())
    return Final(
        transcription_num=message.get("transcription_num"),
        text=str(message.get("transcript") or "").strip(),
        language_code=message.get("language_code"),
        segments=tuple(segment for segment in segments if segment is not None),
        session_index=session_index,
    )


def _segment(raw: Any, offset_s: float) -> Segment | None:
    try:
        return Segment(
            text=str(raw.get("text") or "").strip(),
            start_s=float(raw["start_time"]) + offset_s,
            end_s=float(raw["end_time"]) + offset_s,
            speaker=None if raw.get("speaker") is None else str(raw["speaker"]),
        )
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
