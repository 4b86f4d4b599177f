"""Tests for whisper_stream.core.speaker_labels: finals labelled in order, scripted embeddings, no model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from whisper_stream.core.speaker_labels import SpeakerLabeller, with_speaker
from whisper_stream.core.speakers import SpeakerAssignment
from whisper_stream.protocol.messages import transcription_message
from whisper_stream.protocol.results import Segment, TranscriptionResult, Word
from whisper_stream.samples import SAMPLE_RATE_HZ

THREE_S = 3 * SAMPLE_RATE_HZ


def _final(num: int, text: str = "hello there", *, is_final: bool = True) -> dict[str, Any]:
    words = (Word(" hello", 0.0, 0.4, 0.9), Word(" there", 0.5, 0.9, 0.8))
    result = TranscriptionResult(text, "en", 0.9, (Segment(text, 0.0, 0.9, words),) if text else ())
    return transcription_message(result, is_final=is_final, transcription_num=num, word_timestamps=True)


def _voice(index: int) -> np.ndarray:
    return np.eye(8)[index]


def test_every_segment_and_word_gets_the_speaker_the_message_is_not_changed() -> None:
    message = _final(0)
    labelled = with_speaker(message, SpeakerAssignment("1", 0.83, 0.9, new_speaker=False))
    (segment,) = labelled["segments"]
    assert (segment["speaker"], segment["speaker_confidence"]) == ("1", 0.83)
    assert [(w["speaker"], w["speaker_confidence"]) for w in segment["word_timestamps"]] == [("1", 0.83)] * 2
    assert "speaker" not in message["segments"][0] and "speaker" not in message["segments"][0]["word_timestamps"][0]


def test_finals_in_order_get_stable_labels() -> None:
    labeller = SpeakerLabeller()
    voices = [0, 1, 0, 2, 1]
    speakers = [
        labeller.label(_final(num), _voice(v), utterance_samples=THREE_S)["segments"][0]["speaker"]
        for num, v in enumerate(voices)
    ]
    assert speakers == ["0", "1", "0", "2", "1"]


def test_without_an_embedding_a_partial_or_an_empty_final_goes_out_unlabelled() -> None:
    labeller = SpeakerLabeller()
    for message, embedding in (
        (_final(0), None),
        (_final(1, is_final=False), _voice(0)),
        (_final(2, ""), _voice(1)),
    ):
        assert labeller.label(message, embedding, utterance_samples=THREE_S) is message
    assert labeller.speakers.speaker_count == 0


def test_a_final_labelled_twice_or_out_of_order_is_a_bug() -> None:
    labeller = SpeakerLabeller()
    labeller.label(_final(3), _voice(0), utterance_samples=THREE_S)
    with pytest.raises(ValueError, match="in order"):
        labeller.label(_final(3), _voice(0), utterance_samples=THREE_S)
    with pytest.raises(ValueError, match="in order"):
        labeller.label(_final(2), _voice(0), utterance_samples=THREE_S)


def test_a_message_without_word_timestamps_is_labelled_by_segment() -> None:
    result = TranscriptionResult("hi", "en", 0.9, (Segment("hi", 0.0, 0.5, None),))
    message = transcription_message(result, is_final=True, transcription_num=0, word_timestamps=False)
    labelled = SpeakerLabeller().label(message, _voice(0), utterance_samples=THREE_S)
    [segment] = labelled["segments"]
    assert (segment["text"], segment["speaker"], segment["speaker_confidence"]) == ("hi", "0", 1.0)
    assert "word_timestamps" not in segment
