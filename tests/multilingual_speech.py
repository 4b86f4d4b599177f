"""Non-English speech with references (shared/data/speech/multilingual), and how it is scored.

Word error rate for languages written with spaces; character error rate for
Chinese and Japanese, which are not. Both after lower-casing and removing
punctuation (jiwer's Unicode-aware transforms); Chinese is also turned into
Simplified script (OpenCC), since Whisper base often writes Mandarin in
Traditional characters and the references are Simplified.
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO.parent / "shared" / "data" / "speech" / "multilingual"
FIXTURE_DIR = Path(__file__).resolve().parent / "data" / "multilingual"
CER_LANGUAGES = frozenset({"zh", "ja"})


@dataclass(frozen=True)
class Clip:
    path: Path
    language: str
    reference: str

    @property
    def name(self) -> str:
        return self.path.name


@cache
def clips(folder: Path = FIXTURE_DIR) -> tuple[Clip, ...]:
    """The clips of ``folder``'s manifest.tsv (columns filename, language, transcript, ...)."""
    with open(folder / "manifest.tsv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return tuple(Clip(folder / row["filename"], row["language"], row["transcript"]) for row in rows)


def clip(language: str, folder: Path = FIXTURE_DIR) -> Clip:
    """The first clip of ``language``."""
    return next(c for c in clips(folder) if c.language == language)


def metric(language: str) -> str:
    return "cer" if language in CER_LANGUAGES else "wer"


@cache
def _to_simplified() -> object:
    import opencc

    return opencc.OpenCC("t2s")


def normalize(text: str, language: str) -> str:
    import jiwer

    text = unicodedata.normalize("NFKC", text).replace("-", " ")
    clean = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(), jiwer.Strip()])
    text = clean(text)
    if language == "zh":
        text = _to_simplified().convert(text)  # type: ignore[attr-defined]
    if language in CER_LANGUAGES:
        text = "".join(text.split())
    return text


def error_rate(language: str, reference: str, hypothesis: str) -> float:
    """WER, or CER for Chinese and Japanese, of ``hypothesis`` against ``reference``."""
    import jiwer

    ref, hyp = normalize(reference, language), normalize(hypothesis, language)
    if language in CER_LANGUAGES:
        return jiwer.cer(ref, hyp or " ")
    return jiwer.wer(ref, hyp or "<empty>")
