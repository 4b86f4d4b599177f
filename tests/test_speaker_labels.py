"""Tests for whisper_stream.core.speaker_labels: finals labelled in order, scripted embeddings, no model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from whisper_stream.core.speaker_labels import SpeakerLabeller, speaker_labeller, with_speaker
from whisper_stream.core.speakers import SpeakerAssignment, SpeakerSettings
from whisper_stream.protocol.config import SessionConfig, config_from_dict
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
    assert [w["speaker"] for w in segment["word_timestamps"]] == ["1", "1"]  # Baseten's words have no confidence
    assert all("speaker_confidence" not in w for w in segment["word_timestamps"])
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


def _config(**whisper: Any) -> SessionConfig:
    return config_from_dict({"whisper_params": whisper})


def test_a_session_that_did_not_ask_gets_no_labeller_and_no_warning() -> None:
    assert speaker_labeller(_config(), SpeakerSettings()) == (None, [])
    assert speaker_labeller(_config(), None) == (None, [])


@pytest.mark.parametrize("switch", ["enable_diarization", "enable_final_diarization"])
def test_asking_a_server_without_a_speaker_model_gets_a_warning_naming_the_switch(switch: str) -> None:
    labeller, warnings = speaker_labeller(_config(**{switch: True}), None)
    assert labeller is None
    assert warnings == [
        f"whisper_params.{switch}: this server has no speaker model (DIARIZATION_MODEL unset); finals carry no speaker"
    ]


def test_the_server_defaults_apply_and_the_client_overrides_them() -> None:
    server = SpeakerSettings(threshold=0.4, max_speakers=5, min_update_duration_s=0.5)
    labeller, warnings = speaker_labeller(_config(enable_diarization=True), server)
    assert labeller is not None and warnings == []
    clustering = labeller.speakers
    assert (clustering.threshold, clustering.max_speakers, clustering.min_update_duration_s) == (0.4, 5, 0.5)
    overridden = config_from_dict(
        {
            "whisper_params": {"enable_diarization": True},
            "streaming_diarization_config": {"threshold": 0.7, "max_speakers": 2},
        }
    )
    labeller, _ = speaker_labeller(overridden, server)
    assert labeller is not None
    assert (labeller.speakers.threshold, labeller.speakers.max_speakers) == (0.7, 2)


def test_an_embedding_may_come_as_a_tuple_as_results_carry_it() -> None:
    labeller = SpeakerLabeller()
    first = labeller.label(_final(0), tuple(_voice(0)), utterance_samples=THREE_S)
    second = labeller.label(_final(1), tuple(_voice(1)), utterance_samples=THREE_S)
    assert [m["segments"][0]["speaker"] for m in (first, second)] == ["0", "1"]
