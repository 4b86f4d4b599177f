"""Non-English speech with references (data/speech/multilingual), and how it is scored.

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

from tests.speech import SPEECH_DIR

MULTILINGUAL_DIR = SPEECH_DIR / "multilingual"
# The clips the tests use, one a language (the benchmark and scripts/eval_multilingual.py read them all).
TEST_CLIPS = (
    "de_fleurs_cd004.flac",
    "fr_picovoice_leopard.wav",
    "es_fleurs_cd003.flac",
    "pt_picovoice_leopard.wav",
    "zh_aishell1_BAC009S0764W0121.wav",
    "ja_picovoice_leopard.wav",
)
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
def clips(folder: Path = MULTILINGUAL_DIR) -> tuple[Clip, ...]:
    """The clips of ``folder``'s manifest.tsv (columns filename, language, transcript, ...)."""
    with open(folder / "manifest.tsv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return tuple(Clip(folder / row["filename"], row["language"], row["transcript"]) for row in rows)


def clips_under_test() -> tuple[Clip, ...]:
    """The clips of ``TEST_CLIPS``, in its order."""
    by_name = {c.name: c for c in clips()}
    return tuple(by_name[name] for name in TEST_CLIPS)


def clip(language: str) -> Clip:
    """The test clip of ``language``."""
    return next(c for c in clips_under_test() if c.language == language)


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
