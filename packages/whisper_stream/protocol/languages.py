"""Language tags in, Whisper language codes out.

Whisper has one code per language (``en``, ``pt``, ``zh``, ``haw``) and knows no regions or
scripts, so a BCP-47 tag is reduced to its primary language subtag: ``en-US`` -> ``en``,
``pt_BR`` -> ``pt``, ``zh-Hant`` -> ``zh``. Tags are case-insensitive, as BCP-47 says. The few
codes that ISO 639 spells differently from Whisper are mapped (Javanese ``jv`` -> ``jw``,
Norwegian Bokmål ``nb`` -> ``no``, Filipino ``fil`` -> ``tl``, and the old ``iw``/``in``/``ji``
that Java locales still produce).

The list of languages is faster-whisper's own table; this module imports that table only (a
second importer of faster_whisper besides the transcriber, for data, never a model).
"""

from __future__ import annotations

import re

from faster_whisper.tokenizer import _LANGUAGE_CODES

AUTO = "auto"
WHISPER_LANGUAGES: frozenset[str] = frozenset(_LANGUAGE_CODES)
_ALIASES = {"jv": "jw", "nb": "no", "fil": "tl", "iw": "he", "in": "id", "ji": "yi"}
# A primary subtag of 2-3 letters, then any number of 1-8 character subtags ("US", "Hant", "419").
_TAG_RE = re.compile(r"(?P<primary>[a-z]{2,3})(?:[-_][a-z0-9]{1,8})*")


def whisper_language(tag: str) -> str | None:
    """The Whisper code for a language tag or Whisper code, or None if Whisper has no such language."""
    match = _TAG_RE.fullmatch(tag.lower())
    if match is None:
        return None
    primary = _ALIASES.get(match["primary"], match["primary"])
    return primary if primary in WHISPER_LANGUAGES else None
