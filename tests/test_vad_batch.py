"""Batched VAD across streams gives the per-stream path's probabilities and decisions, on real speech."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.speech import load_16k, manifest
from whisper_stream.audio import vad_batch
from whisper_stream.audio.silero import SileroVadModel
from whisper_stream.audio.vad import FRAME_SAMPLES, VadEvent, VadGate


@pytest.fixture(scope="module")
def model() -> SileroVadModel:
    return SileroVadModel()


@pytest.fixture(scope="module")
def streams() -> list[np.ndarray]:
    """Six real-speech streams of different lengths, with pauses (each a different rotation of the clips)."""
    clips = [load_16k(u.path) for u in manifest()] + [load_16k(u.path) for u in manifest("librispeech_clean")]
    pause = np.zeros(12_000, dtype=np.float32)
    rng = np.random.default_rng(0)
    out = []
    for index in range(6):
        order = [clips[(index + k) % len(clips)] for k in range(3)]
        pieces = [piece for clip in order for piece in (clip, pause + rng.normal(0, 3e-4, pause.size))]
        out.append(np.concatenate(pieces).astype(np.float32)[: 16_000 * (8 + 3 * index)])
    return out


def gate_events(probabilities: list[float]) -> list[VadEvent]:
    gate = VadGate(threshold=0.5, min_silence_duration_ms=300, speech_pad_ms=30)
    events = [gate.update(p, (i + 1) * FRAME_SAMPLES) for i, p in enumerate(probabilities)]
    return [e for e in events if e is not None]


def per_stream(model: SileroVadModel, audio: np.ndarray, input_rate_hz: int = 16_000) -> list[float]:
    scorer = model.new_scorer(input_rate_hz)
    return [scorer.score(audio[i : i + FRAME_SAMPLES]) for i in range(0, audio.size - FRAME_SAMPLES + 1, FRAME_SAMPLES)]


async def batched(
    model: SileroVadModel, streams: list[np.ndarray], rates_hz: list[int] | None = None
) -> list[list[float]]:
    """Every stream sends chunks of its own odd sizes (not whole frames) concurrently, like clients do."""
    batcher = vad_batch.batcher()
    results: list[list[float]] = []
    rates_hz = rates_hz or [16_000] * len(streams)

    async def one(index: int, audio: np.ndarray) -> list[float]:
        scorer = model.new_scorer(rates_hz[index])
        rng = np.random.default_rng(index)
        probabilities: list[float] = []
        position, framed = 0, 0
        while position < audio.size:
            chunk = audio[position : position + int(rng.integers(100, 2_000))]
            position += chunk.size
            await batcher.score_ahead(scorer, chunk)
            while framed + FRAME_SAMPLES <= position:  # what the session does: score each whole frame
                probabilities.append(scorer.score(audio[framed : framed + FRAME_SAMPLES]))
                framed += FRAME_SAMPLES
            await asyncio.sleep(0)
        return probabilities

    results = await asyncio.gather(*(one(i, audio) for i, audio in enumerate(streams)))
    return list(results)


def test_batched_scores_and_decisions_match_the_per_stream_path(model, streams, fresh_metrics):
    got = asyncio.run(batched(model, streams))
    for audio, probabilities in zip(streams, got, strict=True):
        expected = per_stream(model, audio)
        assert len(probabilities) == len(expected)
        np.testing.assert_allclose(probabilities, expected, atol=1e-5)
        assert gate_events(probabilities) == gate_events(expected)
        assert len(gate_events(expected)) >= 2  # real speech: it did start and end
    calls = fresh_metrics("whisper_stream_vad_batch_size_count")
    frames = fresh_metrics("whisper_stream_vad_batch_size_sum")
    assert frames == sum(len(p) for p in got)  # every frame scored ahead, in a batch
    assert frames / calls > 1.5  # frames of several streams did share calls


def test_streams_at_8_and_16_khz_are_batched_each_at_its_own_rate(model, streams, fresh_metrics):
    """Narrowband streams (scored at 8 kHz) beside wideband ones: one call per rate, each stream's own results."""
    rates_hz = [16_000, 8_000] * (len(streams) // 2)
    got = asyncio.run(batched(model, streams, rates_hz))
    for audio, rate_hz, probabilities in zip(streams, rates_hz, got, strict=True):
        expected = per_stream(model, audio, rate_hz)
        np.testing.assert_allclose(probabilities, expected, atol=1e-5)
        assert gate_events(probabilities) == gate_events(expected)
    assert got[1] != pytest.approx(per_stream(model, streams[1]), abs=1e-3)  # it was scored at 8 kHz
    assert fresh_metrics("whisper_stream_vad_batch_size_sum") == sum(len(p) for p in got)


class Scripted:
    """A scorer of the kind tests script: it scores when the session asks, and cannot score ahead."""

    def __init__(self) -> None:
        self.scored = 0

    def score(self, frame: np.ndarray) -> float:
        self.scored += 1
        return 0.0


def test_a_scripted_scorer_is_left_to_the_session(model, fresh_metrics):
    """score_ahead returns without waiting for a batch, and the scorer is not called: the session will call it."""
    assert not vad_batch.can_score_ahead(Scripted()) and vad_batch.can_score_ahead(model.new_scorer())
    scorer = Scripted()

    async def run() -> None:
        pending = vad_batch.batcher().score_ahead(scorer, np.zeros(4 * FRAME_SAMPLES, dtype=np.float32))
        with pytest.raises(StopIteration):  # done on its first step: it never waited for the loop's batch
            pending.send(None)
        await asyncio.sleep(0)  # a batch, had one been scheduled, would run here

    asyncio.run(run())
    assert scorer.scored == 0
    assert fresh_metrics("whisper_stream_vad_batch_size_count") == 0  # no silero call was made


def test_a_failed_batch_fails_every_waiting_stream(model, monkeypatch):
    def broken(*args: object) -> None:
        raise RuntimeError("onnx failed")

    async def run() -> list[BaseException | None]:
        batcher = vad_batch.batcher()
        scorers = [model.new_scorer() for _ in range(3)]
        monkeypatch.setattr(model.at_rate(16_000), "run_batch", broken)
        return await asyncio.gather(
            *(batcher.score_ahead(s, np.zeros(FRAME_SAMPLES, dtype=np.float32)) for s in scorers),
            return_exceptions=True,
        )

    assert all(isinstance(r, RuntimeError) for r in asyncio.run(run()))
