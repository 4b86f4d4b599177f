"""Real speech from ../shared/data/speech, with its reference transcripts."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import soundfile
import soxr

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


def normalize(text: str) -> str:
    text = text.lower().replace("-", " ")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return " ".join(text.split())


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    return jiwer.wer(normalize(reference), normalize(hypothesis))
