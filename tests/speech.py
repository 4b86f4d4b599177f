"""Real speech from the repository's data/speech, with its reference transcripts.

The tests stream a few short utterances of it (``TEST_UTTERANCES``); the benchmarks read whole sets.

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

__all__ = ["REPO", "SPEECH_DIR", "TEST_UTTERANCES", "Utterance", "load_16k", "manifest", "normalize", "wer"]

REPO = Path(__file__).resolve().parents[1]
SPEECH_DIR = REPO / "data" / "speech"
# The utterances the tests stream, by folder of SPEECH_DIR, in the order tests index them: short enough for
# tiny.en on a CPU, and the tests' bounds (WER, latencies, partial counts) were set on exactly these.
TEST_UTTERANCES: dict[str, tuple[str, ...]] = {
    "": ("jfk.flac",),
    "librispeech_clean": (
        "1089-134686-0000.flac",  # 10.4 s
        "1089-134691-0001.flac",  # 5.4 s
        "1272-128104-0001.flac",  # 4.8 s
        "61-70968-0000.flac",  # 4.9 s
        "2412-153948-0000.flac",  # 11.7 s
    ),
}


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
    """The test utterances of ``SPEECH_DIR/folder`` (``TEST_UTTERANCES[folder]``), with their references."""
    base = SPEECH_DIR / folder
    with open(base / "manifest.tsv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    # The top folder's manifest names its columns file/reference; each set's, filename/transcript.
    references = {row.get("filename") or row["file"]: row.get("transcript") or row["reference"] for row in rows}
    return [Utterance(base / name, references[name]) for name in TEST_UTTERANCES[folder]]
