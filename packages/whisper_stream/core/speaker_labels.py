"""The wiring point of diarization: a final ``transcription`` message labelled with who said it.

One ``SpeakerLabeller`` per session. When the session sends a final (in order: finals go out strictly in
utterance order, so the clustering sees the utterances in the order they were spoken), it hands the
embedding of that utterance's audio (computed off the event loop, next to the decode) to ``label``, which
assigns the speaker (``speakers.OnlineSpeakers``) and returns the message with ``speaker`` and
``speaker_confidence`` on every segment and every word, as Baseten's schema puts them. A final without an
embedding (diarization off, or the embedding failed) goes out unlabelled: a label is never worth holding a
final back. Partials are never labelled (their speaker would be a guess the final might contradict).

One embedding per utterance means one speaker per final: every ``diarization_granularity`` (word, segment,
sentence, split_segment) gets the same label within a final until speaker changes inside an utterance are
looked for. Sans I/O: no model here, the embedding comes in.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from whisper_stream.core.speakers import OnlineSpeakers, SpeakerAssignment
from whisper_stream.samples import SAMPLE_RATE_HZ


def with_speaker(message: dict[str, Any], assignment: SpeakerAssignment) -> dict[str, Any]:
    """A copy of a ``transcription`` message with the speaker on each segment and each word."""
    labelled = copy.deepcopy(message)
    for segment in labelled.get("segments", []):
        segment["speaker"] = assignment.speaker
        segment["speaker_confidence"] = assignment.confidence
        for word in segment.get("word_timestamps", []):
            word["speaker"] = assignment.speaker
            word["speaker_confidence"] = assignment.confidence
    return labelled


class SpeakerLabeller:
    """The speakers of one session, and the finals labelled with them. One caller at a time, finals in order."""

    def __init__(self, speakers: OnlineSpeakers | None = None) -> None:
        self.speakers = speakers or OnlineSpeakers()
        self._last_num = -1

    def label(self, message: dict[str, Any], embedding: np.ndarray | None, *, utterance_samples: int) -> dict[str, Any]:
        """``message`` (a final) labelled by the speaker of ``embedding``; unchanged without one."""
        if not message.get("is_final") or embedding is None or not message.get("transcript"):
            return message  # an empty final (silence, dropped text) says nothing of who spoke: no centroid moves
        num = int(message["transcription_num"])
        if num <= self._last_num:
            raise ValueError(f"final {num} labelled after final {self._last_num}: finals go in order, once each")
        self._last_num = num
        assignment = self.speakers.assign(embedding, duration_s=utterance_samples / SAMPLE_RATE_HZ)
        return with_speaker(message, assignment)
