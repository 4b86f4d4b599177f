"""The Whisper tokenizer checked at load, and its one known defect repaired.

Everything the server builds from text (a client's prompt, the previous finals' words, a prefix) is encoded
by the model's ``tokenizer.json``. A tokenizer that encodes common words differently from the one the model
was trained with decodes its output fine but feeds the decoder token sequences it never saw: the faster-whisper
``base`` conversion that the multilingual test model ships lacks Whisper's first BPE merge (``Ġ t``), so
``" the"`` encodes as ``" "`` + ``"the"`` and prompted decodes answer with garbage ("nd" for "and").

``checked_tokenizer`` encodes words that are one token in every Whisper vocabulary and round-trips a
sentence; it repairs the missing first merge when that is what fails, and refuses (``TokenizerDefectError``)
whatever else fails, so a replica never serves with a tokenizer that garbles prompts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SINGLE_TOKEN_WORDS = (" the", " to", " that", " this", " and", " a", " of", " in", " is", " with", " you")
"""Each is one token in Whisper's vocabularies (English-only and multilingual alike)."""
ROUND_TRIP_TEXT = " And so, my fellow Americans: ask not what your country can do for you."
WHISPER_FIRST_MERGE = ("Ġ", "t")
"""Whisper's BPE merges start ``Ġ t``, ``Ġ a``, ``h e``; the defective ``base`` conversion starts ``Ġ a``."""


class TokenizerDefectError(RuntimeError):
    """The model's tokenizer encodes text differently from the model's training: prompts would be garbled.
    Raised by ``load()``, like ``DeviceUnavailableError``: a replica that cannot serve, not a session's error."""


@dataclass(frozen=True)
class TokenizerCheck:
    repaired: str | None
    """What was repaired (None: nothing needed)."""

    def describe(self) -> str:
        return f"tokenizer checked, repaired: {self.repaired}" if self.repaired else "tokenizer checked"


def problems(tokenizer: Any) -> list[str]:
    """What the tokenizer gets wrong: words that should be one token, text that does not round-trip."""
    found = []
    vocab = tokenizer.get_vocab()
    for word in SINGLE_TOKEN_WORDS:
        expected = vocab.get(word.replace(" ", "Ġ"))
        ids = tokenizer.encode(word, add_special_tokens=False).ids
        if expected is not None and ids != [expected]:
            found.append(f"{word!r} encodes as {len(ids)} tokens {ids}, not [{expected}]")
    ids = tokenizer.encode(ROUND_TRIP_TEXT, add_special_tokens=False).ids
    if tokenizer.decode(ids) != ROUND_TRIP_TEXT:
        found.append("text does not round-trip through encode and decode")
    return found


def checked_tokenizer(tokenizer: Any) -> tuple[Any, TokenizerCheck]:
    """``tokenizer`` if it is sound, else a repaired copy; ``TokenizerDefectError`` if it cannot be repaired."""
    found = problems(tokenizer)
    if not found:
        return tokenizer, TokenizerCheck(repaired=None)
    repaired = _with_first_merge(tokenizer)
    if repaired is not None and not problems(repaired):
        return repaired, TokenizerCheck(repaired="the missing first BPE merge 'Ġ t' restored")
    raise TokenizerDefectError(
        "the model's tokenizer.json does not encode text as Whisper does, so prompts and prefixes would be "
        "garbled: " + "; ".join(found)
    )


def _with_first_merge(tokenizer: Any) -> Any | None:
    """A copy with Whisper's first merge put back, or None when it is there already or cannot be."""
    document = json.loads(tokenizer.to_str())
    model = document.get("model", {})
    merges = model.get("merges")
    if model.get("type") != "BPE" or not isinstance(merges, list) or "Ġt" not in model.get("vocab", {}):
        return None
    as_strings = bool(merges) and isinstance(merges[0], str)
    first: Any = " ".join(WHISPER_FIRST_MERGE) if as_strings else list(WHISPER_FIRST_MERGE)
    if first in merges:
        return None
    model["merges"] = [first, *merges]
    return type(tokenizer).from_str(json.dumps(document))
