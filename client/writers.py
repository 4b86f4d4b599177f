"""Transcript files: every server message as JSON lines, and SRT / plain text at the end."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from client.display import speaker_text
from client.messages import Final

logger = logging.getLogger(__name__)


class JsonlWriter:
    """Writes each server message as it arrives, one JSON object a line."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = self.path.open("w", encoding="utf-8")

    def write(self, message: dict[str, Any]) -> None:
        self._file.write(json.dumps(message, ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def srt_timestamp(seconds: float) -> str:
    millis = round(max(seconds, 0.0) * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def srt_text(finals: Iterable[Final]) -> str:
    """One cue per segment of each final; finals without segment times are left out."""
    cues = []
    untimed = 0
    for final in finals:
        if final.text and not final.segments:
            untimed += 1
        for segment in final.segments:
            if segment.text:
                end_s = max(segment.end_s, segment.start_s)
                text = speaker_text(segment.text, segment.speaker)
                cues.append(f"{srt_timestamp(segment.start_s)} --> {srt_timestamp(end_s)}\n{text}\n")
    if untimed:
        logger.warning("SRT: left out %d final(s) that came without segment times", untimed)
    return "\n".join(f"{number}\n{cue}" for number, cue in enumerate(cues, start=1))


def txt_text(finals: Iterable[Final]) -> str:
    lines = [speaker_text(final.text, final.speaker) for final in finals if final.text]
    return "".join(f"{line}\n" for line in lines)


def write_srt(path: str | Path, finals: Iterable[Final]) -> None:
    Path(path).write_text(srt_text(finals), encoding="utf-8")


def write_txt(path: str | Path, finals: Iterable[Final]) -> None:
    Path(path).write_text(txt_text(finals), encoding="utf-8")
