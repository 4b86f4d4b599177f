"""Tests for whisper_stream.inference.speaker_embeddings and the engine's side of diarization.

Scripted embedders check what is embedded (finals that ask, their context left out), the bounded wait and
failures; the bundled test model computes a real embedding through a real ``Engine`` beside the decode.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.fakes import EchoTranscriber, EnergyScorer
from whisper_stream.audio.speaker_embedding import DVectorEmbedder
from whisper_stream.inference.engine import Engine, EngineOptions
from whisper_stream.inference.requests import DecodeOptions, RequestKind, TranscriptionRequest
from whisper_stream.inference.speaker_embeddings import SpeakerEmbeddings
from whisper_stream.protocol.results import TranscriptionResult
from whisper_stream.samples import SAMPLE_RATE_HZ

SPEECH = Path(__file__).resolve().parents[1] / "data/speech/librispeech_test_other"


def _clip(name: str) -> np.ndarray:
    samples, rate = soundfile.read(SPEECH / f"{name}.flac", dtype="float32")
    assert rate == SAMPLE_RATE_HZ
    return samples


def _request(
    kind: RequestKind, audio: np.ndarray, *, asks: bool = True, context_samples: int = 0, request_id: int = 0
) -> TranscriptionRequest:
    options = DecodeOptions("en", None, False, context_samples=context_samples, speaker_embedding=asks)
    return TranscriptionRequest(request_id, kind, 0, audio, 0, options)


class LengthEmbedder:
    """The 'voice' of some audio is its length: a unit vector that says what it was given."""

    dimension = 2

    def __init__(self, gate: threading.Event | None = None, fail: bool = False) -> None:
        self.gate, self.fail = gate, fail
        self.sizes: list[int] = []

    def embed(self, samples: np.ndarray) -> np.ndarray:
        if self.gate is not None:
            self.gate.wait()
        if self.fail:
            raise RuntimeError("planted")
        self.sizes.append(samples.size)
        return np.array([1.0, 0.0], dtype=np.float32)


EMPTY = TranscriptionResult("words", "en", 0.9)


def test_only_finals_that_ask_are_embedded_without_their_context() -> None:
    embedder = LengthEmbedder()
    speakers = SpeakerEmbeddings(embedder, threshold=0.5, max_speakers=4, max_wait_s=60.0)
    audio = np.zeros(3000, dtype=np.float32)
    requests = [
        _request(RequestKind.FINAL, audio, context_samples=1000),
        _request(RequestKind.EARLY_FINAL, audio),
        _request(RequestKind.PARTIAL, audio),
        _request(RequestKind.FINAL, audio, asks=False),
    ]
    pending = speakers.start([(r, None) for r in requests])
    assert [p is not None for p in pending] == [True, True, False, False]
    results = speakers.attach([EMPTY] * 4, pending)
    assert [r.speaker_embedding for r in results] == [(1.0, 0.0), (1.0, 0.0), None, None]
    assert sorted(embedder.sizes) == [2000, 3000]  # the context (1000 samples) is another utterance's voice
    assert all(r.times.speaker_embedding_s is not None and r.times.speaker_embedding_s >= 0 for r in results[:2])
    assert results[0] == EMPTY  # the words are the same: a result with a speaker is equal to one without
    speakers.close()


def test_an_embedding_not_done_within_the_wait_is_left_off_and_the_result_goes_at_once() -> None:
    gate = threading.Event()
    speakers = SpeakerEmbeddings(LengthEmbedder(gate), threshold=0.5, max_speakers=4, max_wait_s=0.0)
    pending = speakers.start([(_request(RequestKind.FINAL, np.zeros(1600, dtype=np.float32)), None)])
    [result] = speakers.attach([EMPTY], pending)
    assert result.speaker_embedding is None and result.times.speaker_embedding_s is None
    gate.set()
    speakers.close()


def test_a_failed_embedding_is_logged_and_left_off(caplog: pytest.LogCaptureFixture) -> None:
    speakers = SpeakerEmbeddings(LengthEmbedder(fail=True), threshold=0.5, max_speakers=4, max_wait_s=60.0)
    pending = speakers.start([(_request(RequestKind.FINAL, np.zeros(1600, dtype=np.float32)), None)])
    [result] = speakers.attach([EMPTY], pending)
    assert result.speaker_embedding is None
    assert "speaker embedding failed" in caplog.text and "planted" in caplog.text
    speakers.close()


def test_a_closed_pool_starts_anew() -> None:
    speakers = SpeakerEmbeddings(LengthEmbedder(), threshold=0.5, max_speakers=4, max_wait_s=60.0)
    speakers.close()  # nothing started yet: nothing to stop
    for _ in range(2):
        pending = speakers.start([(_request(RequestKind.FINAL, np.zeros(800, dtype=np.float32)), None)])
        assert speakers.attach([EMPTY], pending)[0].speaker_embedding == (1.0, 0.0)
        speakers.close()


@pytest.mark.parametrize(("threads", "max_wait_s"), [(0, 0.5), (1, -1.0)])
def test_bad_pool_settings_are_refused(threads: int, max_wait_s: float) -> None:
    with pytest.raises(ValueError, match="threads must be at least 1"):
        SpeakerEmbeddings(LengthEmbedder(), threshold=0.5, max_speakers=4, threads=threads, max_wait_s=max_wait_s)


def test_the_engine_embeds_a_final_beside_its_decode_with_the_bundled_model() -> None:
    embedder = DVectorEmbedder()
    speakers = SpeakerEmbeddings(embedder, threshold=0.55, max_speakers=8, max_wait_s=600.0)  # no wall-clock bound
    engine = Engine(EchoTranscriber(), EnergyScorer, EngineOptions(decode_workers=1), speakers=speakers)
    engine.start()
    try:
        context, utterance = _clip("1688-142285-0001")[:SAMPLE_RATE_HZ], _clip("2414-128291-0000")
        audio = np.concatenate([context, utterance])
        final = engine.submit(_request(RequestKind.FINAL, audio, context_samples=context.size))
        unasked = engine.submit(_request(RequestKind.FINAL, utterance, asks=False, request_id=1))
        assert final is not None and unasked is not None
        result, plain = final.result(timeout=600), unasked.result(timeout=600)
    finally:
        engine.stop()
    assert result.text == f"{utterance.size} samples" and plain.speaker_embedding is None
    assert result.speaker_embedding is not None and len(result.speaker_embedding) == embedder.dimension == 256
    vector = np.array(result.speaker_embedding)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(vector, embedder.embed(utterance), atol=1e-5)  # the utterance alone, no context
    assert result.times.speaker_embedding_s is not None and result.times.decode_s is not None


def test_a_pool_shut_down_under_a_start_leaves_the_final_unlabelled_and_raises_nothing() -> None:
    speakers = SpeakerEmbeddings(LengthEmbedder(), threshold=0.5, max_speakers=4, max_wait_s=60.0)
    speakers.start([(_request(RequestKind.FINAL, np.zeros(800, dtype=np.float32)), None)])
    assert speakers._pool is not None
    speakers._pool.shutdown()  # as a close() racing a start would leave it
    assert speakers.start([(_request(RequestKind.FINAL, np.zeros(800, dtype=np.float32)), None)]) == [None]
