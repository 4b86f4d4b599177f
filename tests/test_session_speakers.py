"""Speaker labels through the sans-I/O session: scripted embeddings on the results, no model, no clock.

The session asks for embeddings on its finals' decodes, and its outbox labels the finals in order as they go
out; a withdrawn speculative final never moves a centroid, a final without an embedding goes out unlabelled
(never held back), partials are never labelled.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from tests import baseten_types as baseten
from tests.fakes import EnergyScorer, result_for, silence_s, tone_s
from whisper_stream.core.session import RequestKind, Session
from whisper_stream.core.speakers import SpeakerSettings
from whisper_stream.inference.requests import TranscriptionRequest
from whisper_stream.protocol.config import SessionConfig, config_from_dict
from whisper_stream.protocol.results import TranscriptionResult
from whisper_stream.samples import SAMPLE_RATE_HZ

SR = SAMPLE_RATE_HZ
UTTERANCE_S = 1.5
TURN_S = UTTERANCE_S + 0.6


def _config(*, partials: bool = False, words: bool = False, **top: Any) -> SessionConfig:
    return config_from_dict(
        {
            "vad_params": {"min_speech_duration_ms": 0},
            "whisper_params": {"enable_diarization": True, "show_word_timestamps": words},
            "streaming_params": {"enable_partial_transcripts": partials},
            **top,
        }
    )


def _session(config: SessionConfig | None = None, speakers: SpeakerSettings | None = SpeakerSettings()) -> Session:
    return Session(config or _config(), EnergyScorer(), early_finals=False, speakers=speakers)


def _voice(index: int) -> tuple[float, ...]:
    return tuple(float(x) for x in np.eye(8)[index])


def _feed_turn(session: Session, turn: int, utterance_s: float = UTTERANCE_S) -> None:
    start_s = turn * TURN_S
    audio = np.concatenate([tone_s(utterance_s), silence_s(TURN_S - utterance_s)])
    for offset in range(0, audio.size, 512):
        chunk = audio[offset : offset + 512]
        session.receive_audio(chunk, start_s + (offset + chunk.size) / SR)


def _spoken(result: TranscriptionResult, voice: int | None) -> TranscriptionResult:
    return result if voice is None else dataclasses.replace(result, speaker_embedding=_voice(voice))


def _finals(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("type") == "transcription" and m["is_final"]]


def _speakers(messages: list[dict[str, Any]]) -> list[str | None]:
    return [m["segments"][0].get("speaker") for m in _finals(messages)]


def _answer(session: Session, request: TranscriptionRequest, voice: int | None) -> None:
    session.receive_result(request.request_id, _spoken(result_for(f"turn {request.transcription_num}"), voice))


def test_finals_get_stable_labels_in_the_order_speakers_were_first_heard() -> None:
    session = _session()
    voices = [2, 5, 2, 7, 5]
    for turn, voice in enumerate(voices):
        _feed_turn(session, turn)
        [request] = session.requests_to_run()
        assert request.kind is RequestKind.FINAL and request.options.speaker_embedding
        _answer(session, request, voice)
    messages = session.messages_to_send()
    assert _speakers(messages) == ["0", "1", "0", "2", "1"]
    for final in _finals(messages):
        assert 0.0 <= final["segments"][0]["speaker_confidence"] <= 1.0
        baseten.StreamingWhisperResult.model_validate(final)


def test_finals_answered_out_of_order_are_labelled_in_the_order_they_were_spoken() -> None:
    session = _session()
    requests = []
    for turn in range(3):
        _feed_turn(session, turn)
        requests += session.requests_to_run()  # the later finals are asked alone: the decoder is behind
    assert [r.transcription_num for r in requests] == [0, 1, 2]
    _answer(session, requests[2], 3)
    _answer(session, requests[1], 1)
    assert session.messages_to_send() == []  # final 0 is not in yet: nothing goes, nothing is labelled
    _answer(session, requests[0], 1)
    assert _speakers(session.messages_to_send()) == ["0", "0", "1"]


def test_a_withdrawn_early_final_never_moves_a_centroid() -> None:
    session = Session(_config(), EnergyScorer(), early_finals=True, speakers=SpeakerSettings())
    audio = np.concatenate([tone_s(1.2), silence_s(0.1)])
    for offset in range(0, audio.size, 512):
        session.receive_audio(audio[offset : offset + 512], (offset + 512) / SR)
    [early] = session.requests_to_run()
    assert early.kind is RequestKind.EARLY_FINAL and early.options.speaker_embedding
    _answer(session, early, 6)  # its embedding is voice 6's
    assert session.messages_to_send() == []
    resumed = np.concatenate([tone_s(1.0), silence_s(0.6)])  # speech resumes: the early final is withdrawn
    for offset in range(0, resumed.size, 512):
        session.receive_audio(resumed[offset : offset + 512], 1.3 + (offset + 512) / SR)
    [final] = [r for r in session.requests_to_run() if r.kind.is_final]
    _answer(session, final, 0)
    _feed_turn(session, 2)
    [second] = session.requests_to_run()
    _answer(session, second, 6)  # voice 6 is new: the withdrawn early final did not make it a speaker
    assert _speakers(session.messages_to_send()) == ["0", "1"]


def test_a_final_without_an_embedding_goes_out_unlabelled_and_the_next_is_labelled() -> None:
    session = _session(_config(words=True))
    for turn, voice in enumerate([4, None, 4]):
        _feed_turn(session, turn)
        [request] = session.requests_to_run()
        _answer(session, request, voice)
    finals = _finals(session.messages_to_send())
    assert [f["transcript"] for f in finals] == ["turn 0", "turn 1", "turn 2"]  # none held back
    assert _speakers(finals) == ["0", None, "0"]
    assert "speaker_confidence" not in finals[1]["segments"][0]


def test_partials_are_never_labelled() -> None:
    session = _session(_config(partials=True))
    audio = np.concatenate([tone_s(1.4), silence_s(0.6)])
    messages = []
    for offset in range(0, audio.size, 512):
        session.receive_audio(audio[offset : offset + 512], (offset + 512) / SR)
        for request in session.requests_to_run():  # answered at once: partials come while the speech goes on
            _answer(session, request, 1)
        messages += session.messages_to_send()
    partials = [m for m in messages if m.get("type") == "transcription" and not m["is_final"]]
    assert partials and all("speaker" not in m["segments"][0] for m in partials)
    assert _speakers(messages) == ["0"]


def test_max_speakers_from_the_client_puts_a_third_voice_on_the_nearest() -> None:
    session = _session(_config(streaming_diarization_config={"max_speakers": 2}))
    for turn, voice in enumerate([0, 1, 2]):
        _feed_turn(session, turn)
        [request] = session.requests_to_run()
        _answer(session, request, voice)
    finals = _finals(session.messages_to_send())
    assert _speakers(finals) == ["0", "1", "0"]
    assert finals[2]["segments"][0]["speaker_confidence"] < 0.5  # forced: it matched no one


def test_a_server_without_a_speaker_model_warns_first_and_labels_nothing() -> None:
    session = _session(speakers=None)
    [warning] = session.messages_to_send()
    assert warning == {
        "type": "warning",
        "code": "config_warning",
        "message": "whisper_params.enable_diarization: this server has no speaker model (DIARIZATION_MODEL unset); "
        "finals carry no speaker",
    }
    _feed_turn(session, 0)
    [request] = session.requests_to_run()
    _answer(session, request, 1)  # even an embedding, were one there, labels nothing
    assert _speakers(session.messages_to_send()) == [None]


def test_a_session_that_does_not_ask_neither_asks_for_embeddings_nor_is_labelled() -> None:
    config = config_from_dict({"vad_params": {"min_speech_duration_ms": 0}})
    session = Session(config, EnergyScorer(), early_finals=False, speakers=SpeakerSettings())
    _feed_turn(session, 0)
    [request] = [r for r in session.requests_to_run() if r.kind.is_final]
    assert not request.options.speaker_embedding
    _answer(session, request, 1)
    assert _speakers(session.messages_to_send()) == [None]
