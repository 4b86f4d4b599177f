"""What a session asks of diarization: Baseten's fields, what each does here, and ``streaming_diarization_config``.

Speaker labels go on finals only, one speaker per final (one embedding per utterance, ``core.speakers``):

- ``enable_diarization`` (and Baseten's older switches ``enable_final_diarization``,
  ``enable_word_level_diarization``, ``enable_sentence_level_diarization``, which ask for the same here):
  every segment of every final carries ``speaker`` and ``speaker_confidence``, every word ``speaker``
  (with ``show_word_timestamps``). Partials are never labelled.
- ``diarization_granularity`` (``word``, ``segment``, ``sentence``, ``split_segment``): where Baseten puts
  its labels. A final has one speaker, so every granularity labels every segment and word of it alike; a
  segment or sentence is never split between speakers. ``word`` without ``show_word_timestamps`` sends no
  words to label: a warning says so.
- ``streaming_diarization_config`` (top level; Baseten types it a free object): ``threshold`` (the cosine
  similarity at or above which an utterance joins a known speaker, 0-0.99; the server's default suits its
  model) and ``max_speakers`` (1-32). A wrong type or range is an error naming the field, a near miss of
  one of them (``max_speaker``) too; other keys, which Baseten's own diarizer may read, are ignored with a
  warning.
- ``diarization_config``: Baseten's diarization of a whole recording; no effect on a stream (a warning).

The server may have no speaker model (``DIARIZATION_MODEL`` unset): then the session says so in a warning
and its finals go unlabelled (``core.speaker_labels``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from whisper_stream.protocol.config_fields import Field, check_value
from whisper_stream.protocol.errors import ConfigError

MAX_SPEAKERS = 32
"""The most speakers a session may ask for (each is a 256-float centroid: memory is no concern)."""
STREAMING_DIARIZATION_CONFIG = "streaming_diarization_config"
_SWITCHES = (
    "enable_diarization",
    "enable_final_diarization",
    "enable_word_level_diarization",
    "enable_sentence_level_diarization",
)
_FIELDS = (
    Field("threshold", (STREAMING_DIARIZATION_CONFIG,), float, "threshold", 0.0, 0.99),
    Field("max_speakers", (STREAMING_DIARIZATION_CONFIG,), int, "max_speakers", 1, MAX_SPEAKERS),
)
_TYPO_SIMILARITY = 0.9  # max_speaker and treshold are typos; min_speakers (0.83) is another key


@dataclass(frozen=True)
class SpeakerOverrides:
    """``streaming_diarization_config`` as the client gave it; None: the server's default."""

    threshold: float | None = None
    max_speakers: int | None = None


@dataclass(frozen=True)
class DiarizationOptions:
    """The session's diarization fields (docs/protocol.md). ``requested``: any of the switches is on."""

    enable_diarization: bool | None = None
    diarization_granularity: str = "sentence"
    enable_word_level_diarization: bool = False
    enable_sentence_level_diarization: bool = False
    enable_final_diarization: bool = False
    speakers: SpeakerOverrides = SpeakerOverrides()

    @property
    def requested(self) -> bool:
        return any(getattr(self, name) for name in _SWITCHES)

    @property
    def switch(self) -> str:
        """The attribute of the switch that asked (``enable_diarization`` when none did)."""
        return next((name for name in _SWITCHES if getattr(self, name)), _SWITCHES[0])

    @property
    def by_word(self) -> bool:
        return self.diarization_granularity == "word" or self.enable_word_level_diarization


def speaker_overrides(raw: Mapping[str, Any] | None) -> tuple[SpeakerOverrides, list[str]]:
    """``streaming_diarization_config`` checked: the overrides, and a warning for each key ignored.

    ``ConfigError`` for a wrong type or range of ``threshold``/``max_speakers``, or a near miss of one."""
    given: dict[str, Any] = {}
    ignored = []
    known = {field.name: field for field in _FIELDS}
    for key, value in (raw or {}).items():
        path = f"{STREAMING_DIARIZATION_CONFIG}.{key}"
        if key in known:
            if value is not None:
                given[key] = check_value(known[key], path, value)
            continue
        close = difflib.get_close_matches(key, list(known), n=1, cutoff=_TYPO_SIMILARITY)
        if close:
            raise ConfigError(path, f"unknown field; did you mean {close[0]!r}? (known: {', '.join(sorted(known))})")
        ignored.append(f"{path}: not a setting of this server, ignored (known: {', '.join(sorted(known))})")
    return SpeakerOverrides(**given), ignored


def diarization_options(fields: Mapping[str, Any], streaming_config: Mapping[str, Any] | None) -> DiarizationOptions:
    """The options from the ``whisper.diarization.*`` values (by attribute name) and the top-level object."""
    return DiarizationOptions(**fields, speakers=speaker_overrides(streaming_config)[0])


def diarization_warnings(values: Mapping[str, Any], path: Callable[[str], str]) -> list[str]:
    """What a client may take to do more than it does; ``path(attribute)`` names a field as the client spelt it.

    Raises ``ConfigError`` for a bad ``streaming_diarization_config`` (checked here first)."""
    prefix = "whisper.diarization."
    options = diarization_options(
        {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)},
        values.get(STREAMING_DIARIZATION_CONFIG),
    )
    warnings = speaker_overrides(values.get(STREAMING_DIARIZATION_CONFIG))[1]
    if values.get(STREAMING_DIARIZATION_CONFIG) and not options.requested:
        warnings.append(f"{STREAMING_DIARIZATION_CONFIG}: no effect unless enable_diarization is true")
    if options.requested and options.by_word and not values.get("whisper.show_word_timestamps"):
        by_granularity = options.diarization_granularity == "word"
        word = "diarization_granularity" if by_granularity else "enable_word_level_diarization"
        said = "no words are sent without show_word_timestamps; segments are labelled"
        warnings.append(f"{path(prefix + word)}: {said}")
    if values.get("diarization_config"):  # an empty object asks for nothing
        warnings.append(
            "diarization_config: accepted, no effect: it configures Baseten's diarization of a whole recording; "
            f"a stream's speakers follow {STREAMING_DIARIZATION_CONFIG}"
        )
    return warnings
