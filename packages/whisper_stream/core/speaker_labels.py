"""The wiring point of diarization: a final ``transcription`` message labelled with who said it.

One ``SpeakerLabeller`` per session that asked for speaker labels (``enable_diarization``), made by
``speaker_labeller`` from the session's config and the server's clustering defaults (None: the server has
no speaker model; the session gets a warning instead, and unlabelled finals). The outbox hands it every
final as it goes out; finals go out strictly in utterance order, so the clustering sees the utterances in
the order they were spoken, and a speculative final that was withdrawn never moves a centroid. ``label``
assigns the speaker of the final's embedding (computed off the event loop, beside the decode, and carried on
its result) with ``speakers.OnlineSpeakers`` and returns the message with ``speaker`` and
``speaker_confidence`` on every segment and ``speaker`` on every word, as Baseten's schema puts them (its
words have no confidence). A final without an embedding (it was not ready within the server's wait, or
failed) goes out unlabelled: a label is never worth holding a final back. Partials are never labelled (their
speaker would be a guess the final might contradict).

One embedding per utterance means one speaker per final: every ``diarization_granularity`` (word, segment,
sentence, split_segment) gets the same label within a final; two people speaking without a pause between
them share the label of the one heard most. Sans I/O: no model here, the embedding comes in.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from whisper_stream.core.speakers import OnlineSpeakers, SpeakerAssignment, SpeakerSettings
from whisper_stream.protocol.config import SessionConfig
from whisper_stream.samples import SAMPLE_RATE_HZ


def with_speaker(message: dict[str, Any], assignment: SpeakerAssignment) -> dict[str, Any]:
    """A copy of a ``transcription`` message with the speaker on each segment and each word."""
    labelled = copy.deepcopy(message)
    for segment in labelled.get("segments", []):
        segment["speaker"] = assignment.speaker
        segment["speaker_confidence"] = assignment.confidence
        for word in segment.get("word_timestamps", []):
            word["speaker"] = assignment.speaker
    return labelled


class SpeakerLabeller:
    """The speakers of one session, and the finals labelled with them. One caller at a time, finals in order."""

    def __init__(self, speakers: OnlineSpeakers | None = None) -> None:
        self.speakers = speakers or OnlineSpeakers()
        self._last_num = -1

    def label(
        self, message: dict[str, Any], embedding: Sequence[float] | np.ndarray | None, *, utterance_samples: int
    ) -> dict[str, Any]:
        """``message`` (a final) labelled by the speaker of ``embedding``; unchanged without one."""
        if not message.get("is_final") or embedding is None or not message.get("transcript"):
            return message  # an empty final (silence, dropped text) says nothing of who spoke: no centroid moves
        num = int(message["transcription_num"])
        if num <= self._last_num:
            raise ValueError(f"final {num} labelled after final {self._last_num}: finals go in order, once each")
        self._last_num = num
        vector = np.asarray(embedding, dtype=np.float64)
        assignment = self.speakers.assign(vector, duration_s=utterance_samples / SAMPLE_RATE_HZ)
        return with_speaker(message, assignment)


def speaker_labeller(config: SessionConfig, server: SpeakerSettings | None) -> tuple[SpeakerLabeller | None, list[str]]:
    """The labeller of a session with ``config`` on a server whose clustering defaults are ``server`` (None: the
    server has no speaker model), and the warnings to send first. None when the session did not ask."""
    diarization = config.whisper.diarization
    if not diarization.requested:
        return None, []
    if server is None:
        field = config.field_path(f"whisper.diarization.{diarization.switch}")
        return None, [f"{field}: this server has no speaker model (DIARIZATION_MODEL unset); finals carry no speaker"]
    given = diarization.speakers
    settings = dataclasses.replace(
        server,
        threshold=server.threshold if given.threshold is None else given.threshold,
        max_speakers=server.max_speakers if given.max_speakers is None else given.max_speakers,
    )
    return SpeakerLabeller(OnlineSpeakers.with_settings(settings)), []
