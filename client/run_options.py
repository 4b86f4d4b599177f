"""What one CLI run does: where it streams, from which source, and what it shows and writes.

``client.cli`` builds these from the command line and ``client.app`` runs them, so both
import this module and neither imports the other's options.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from client.options import StreamerOptions


@dataclass(frozen=True)
class SourceOptions:
    file: Path | None = None
    device: int | str | None = None
    speed: float | None = 1.0  # None: as fast as the connection takes it
    frame_samples: int = 512


@dataclass(frozen=True)
class OutputOptions:
    timestamps: bool = False
    show_partials: bool = False
    show_vad_events: bool = False
    show_turn_events: bool = False
    jsonl: Path | None = None
    srt: Path | None = None
    txt: Path | None = None


@dataclass(frozen=True)
class CliOptions:
    streamer: StreamerOptions
    source: SourceOptions
    output: OutputOptions
