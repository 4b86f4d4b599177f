"""Real speech from ../shared/data/speech, with its reference transcripts.

Transcripts are scored with the project's one normaliser and WER (``bench.wer``:
Whisper's English normaliser, jiwer), as the benchmark and the scripts score them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import soundfile
import soxr

from bench.wer import normalize, wer

__all__ = ["FIXTURE_DIR", "REPO", "Utterance", "load_16k", "manifest", "normalize", "wer"]

REPO = Path(__file__).resolve().parents[1]
FIXTURE_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Utterance:
    path: Path
    reference: str


def load_16k(path: Path) -> np.ndarray:
    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    return mono if rate == 16_000 else soxr.resample(mono, rate, 16_000).astype(np.float32)


@cache
def manifest(folder: str = "") -> list[Utterance]:
    """The utterances copied into tests/data (a subset of shared/data/speech)."""
    base = FIXTURE_DIR / folder
    with open(base / "manifest.tsv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [Utterance(base / row["filename"], row["transcript"]) for row in rows]
