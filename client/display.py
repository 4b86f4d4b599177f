"""The terminal view: a live partial line rewritten in place, final lines that stay.

On a terminal, partials overwrite one line (``\\r`` + erase line) and each final
replaces it for good. Elsewhere (a pipe, a file) finals are plain lines and
partials appear, as ``[partial] text`` lines, only when asked for.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any, TextIO

from wcwidth import wcswidth, wcwidth

from client.messages import Final, is_transcription

CLEAR_LINE = "\r\x1b[2K"
VAD_EVENTS = {"speech_started": "speech started", "speech_ended": "speech ended"}


def format_clock(seconds: float) -> str:
    """``mm:ss.ss``, or ``h:mm:ss.ss`` from an hour on."""
    hours, rest = divmod(round(max(seconds, 0.0), 2), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{int(hours)}:{int(minutes):02d}:{secs:05.2f}"
    return f"{int(minutes):02d}:{secs:05.2f}"


def format_final(final: Final, *, timestamps: bool) -> str:
    text = speaker_text(final.text, final.speaker)
    if timestamps and final.start_s is not None and final.end_s is not None:
        return f"[{format_clock(final.start_s)} → {format_clock(final.end_s)}] {text}"
    return text


def speaker_text(text: str, speaker: str | None) -> str:
    """``S0: text`` when the server said who spoke (``--diarize``), else the text alone."""
    return text if speaker is None else f"S{speaker}: {text}"


class Display:
    def __init__(
        self,
        out: TextIO,
        *,
        tty: bool,
        show_partials: bool = False,
        timestamps: bool = False,
        show_vad_events: bool = False,
        show_turn_events: bool = False,
        columns: Callable[[], int] = lambda: shutil.get_terminal_size().columns,
    ) -> None:
        self.out = out
        self.tty = tty
        self.show_partials = show_partials
        self.timestamps = timestamps
        self.show_vad_events = show_vad_events
        self.show_turn_events = show_turn_events
        self._columns = columns
        self._partial_shown = False

    def handle(self, message: dict[str, Any], final: Final | None) -> None:
        """Show one server message; ``final`` is its parsed form when it is a final."""
        if final is not None:
            self.final(final)
        elif is_transcription(message) and not message.get("is_final"):
            self.partial(str(message.get("transcript") or "").strip())
        elif message.get("type") in VAD_EVENTS and self.show_vad_events:
            time_s = message.get("time_s")
            when = f" {format_clock(float(time_s))}" if isinstance(time_s, int | float) else ""
            self._line(f"[{VAD_EVENTS[message['type']]}{when}]")
        elif message.get("type") == "eager_end_of_turn" and self.show_turn_events:
            self._line(f"[eager end of turn] {str(message.get('transcript') or '').strip()}")
        elif message.get("type") == "turn_resumed" and self.show_turn_events:
            time_s = message.get("time_s")
            when = f" {format_clock(float(time_s))}" if isinstance(time_s, int | float) else ""
            self._line(f"[turn resumed{when}]")

    def partial(self, text: str) -> None:
        if self.tty:
            self.out.write(CLEAR_LINE + self._fit(text))
            self._partial_shown = True
            self.out.flush()
        elif self.show_partials and text:
            self._line(f"[partial] {text}")

    def final(self, final: Final) -> None:
        if final.text:
            self._line(format_final(final, timestamps=self.timestamps))
        elif self._partial_shown:
            self.close()  # an empty final withdraws the partial

    def close(self) -> None:
        """Erase a partial line left on the terminal."""
        if self._partial_shown:
            self.out.write(CLEAR_LINE)
            self._partial_shown = False
            self.out.flush()

    def _line(self, text: str) -> None:
        prefix = CLEAR_LINE if self._partial_shown else ""
        self._partial_shown = False
        self.out.write(f"{prefix}{text}\n")
        self.out.flush()

    def _fit(self, text: str) -> str:
        """The end of ``text`` if it is wider than the terminal: a wrapped line cannot be rewritten.

        Width in terminal columns, not characters: a CJK character takes two.
        """
        width = max(self._columns() - 1, 10)
        if wcswidth(text) <= width:
            return text
        kept: list[str] = []
        used = 1  # the ellipsis
        for char in reversed(text):
            columns = max(wcwidth(char), 0)
            if used + columns > width:
                break
            kept.append(char)
            used += columns
        return "…" + "".join(reversed(kept))
