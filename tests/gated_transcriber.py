"""A ``WHISPER_TRANSCRIBER`` hook for tests: the real transcriber, built only once the test opens a gate.

``WHISPER_TRANSCRIBER=tests/gated_transcriber.py:from_settings`` with ``LOAD_GATE_FIFO`` naming a FIFO:
the server's ``load()`` opens the FIFO for reading, which blocks until the test opens it for writing
and closes it; until then the replica is loading, for as long as the test needs, on any machine.
Then the configured model is loaded as without the hook (no warm-up decode: the hook skips it).
"""

from __future__ import annotations

import dataclasses
import os

from whisper_stream.inference.device import runtime_info
from whisper_stream.inference.model_source import resolve_model_source
from whisper_stream.inference.transcriber import FasterWhisperTranscriber
from whisper_stream.server.factory import build_transcriber
from whisper_stream.server.settings import Settings


def from_settings(settings: Settings) -> FasterWhisperTranscriber:
    with open(os.environ["LOAD_GATE_FIFO"], encoding="utf-8") as gate:
        gate.read()  # until the test's end of the FIFO is opened and closed
    settings = dataclasses.replace(settings, transcriber="")
    source = resolve_model_source(settings.whisper_model, revision=settings.whisper_revision)
    return build_transcriber(settings, source, runtime_info())
