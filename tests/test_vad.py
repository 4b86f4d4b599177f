from __future__ import annotations

import numpy as np
import pytest

from tests.speech import load_16k, manifest
from whisper_stream.audio.silero import SileroVadModel
from whisper_stream.audio.vad import FRAME_SAMPLES, SpeechEnd, SpeechStart, VadGate

SR = 16_000


@pytest.fixture(scope="module")
def model() -> SileroVadModel:
    return SileroVadModel()


def probabilities(model: SileroVadModel, audio: np.ndarray) -> list[float]:
    scorer = model.new_scorer()
    usable = audio.size - audio.size % FRAME_SAMPLES
    return [scorer.score(audio[i : i + FRAME_SAMPLES]) for i in range(0, usable, FRAME_SAMPLES)]


def gate_events(probs: list[float], **options: int | float) -> list[SpeechStart | SpeechEnd]:
    gate = VadGate(**{"threshold": 0.5, "min_silence_duration_ms": 300, "speech_pad_ms": 30, **options})
    events = [gate.update(p, (i + 1) * FRAME_SAMPLES) for i, p in enumerate(probs)]
    return [e for e in events if e is not None]


def test_silence_and_noise_are_not_speech(model: SileroVadModel) -> None:
    rng = np.random.default_rng(0)
    assert max(probabilities(model, np.zeros(5 * SR, dtype=np.float32))) < 0.2
    noise = (0.01 * rng.standard_normal(5 * SR)).astype(np.float32)
    assert gate_events(probabilities(model, noise)) == []


def test_real_speech_is_found_where_it_is(model: SileroVadModel) -> None:
    speech = load_16k(manifest("librispeech_clean")[1].path)
    audio = np.concatenate([np.zeros(2 * SR, np.float32), speech, np.zeros(2 * SR, np.float32)])
    events = gate_events(probabilities(model, audio), min_silence_duration_ms=1000)
    starts = [e.sample for e in events if isinstance(e, SpeechStart)]
    ends = [e.sample for e in events if isinstance(e, SpeechEnd)]
    assert len(starts) == len(ends) >= 1
    # speech starts after the 2 s of leading silence and ends before the trailing silence
    assert 2 * SR - 0.1 * SR <= starts[0] <= 2 * SR + 1.0 * SR
    assert ends[-1] <= 2 * SR + speech.size + 0.1 * SR
    assert ends[-1] >= 2 * SR + speech.size - 1.0 * SR


def test_each_stream_keeps_its_own_state(model: SileroVadModel) -> None:
    speech = load_16k(manifest("librispeech_clean")[2].path)[: 3 * SR]
    silence = np.zeros_like(speech)
    alone = probabilities(model, speech)
    a, b = model.new_scorer(), model.new_scorer()
    interleaved = []
    for i in range(0, speech.size - speech.size % FRAME_SAMPLES, FRAME_SAMPLES):
        interleaved.append(a.score(speech[i : i + FRAME_SAMPLES]))
        b.score(silence[i : i + FRAME_SAMPLES])
    assert interleaved == pytest.approx(alone, abs=1e-6)


def test_scorer_rejects_wrong_frame_size(model: SileroVadModel) -> None:
    with pytest.raises(ValueError, match="512"):
        model.new_scorer().score(np.zeros(100, dtype=np.float32))


def test_gate_start_is_padded_and_end_waits_for_min_silence() -> None:
    probs = [0.0] * 10 + [0.9] * 20 + [0.0] * 30
    events = gate_events(probs, min_silence_duration_ms=320, speech_pad_ms=64)
    assert events == [SpeechStart(10 * FRAME_SAMPLES - 1024), SpeechEnd(30 * FRAME_SAMPLES + 1024)]


def test_gate_end_is_decided_min_silence_after_speech() -> None:
    gate = VadGate(threshold=0.5, min_silence_duration_ms=320, speech_pad_ms=0)
    assert gate.update(0.9, FRAME_SAMPLES) == SpeechStart(0)
    decisions = [gate.update(0.0, (i + 2) * FRAME_SAMPLES) for i in range(20)]
    first_end = next(i for i, e in enumerate(decisions) if e is not None)
    # 320 ms = 5120 samples = 10 frames of silence
    assert first_end == 9 and decisions[first_end] == SpeechEnd(FRAME_SAMPLES)


def test_gate_hysteresis_keeps_speech_between_thresholds() -> None:
    probs = [0.9] * 5 + [0.4] * 40 + [0.0] * 20
    events = gate_events(probs, min_silence_duration_ms=100, speech_pad_ms=0)
    # 0.4 is above threshold - 0.15: still speech; the end comes only after the zeros
    assert events == [SpeechStart(0), SpeechEnd(45 * FRAME_SAMPLES)]


def test_gate_short_dips_do_not_split_speech() -> None:
    probs = [0.9] * 10 + [0.0] * 5 + [0.9] * 10 + [0.0] * 40
    events = gate_events(probs, min_silence_duration_ms=300)
    assert [type(e) for e in events] == [SpeechStart, SpeechEnd]


def test_gate_start_never_reaches_back_before_the_previous_end() -> None:
    probs = [0.9] * 5 + [0.0] * 12 + [0.9] * 5 + [0.0] * 12
    events = gate_events(probs, min_silence_duration_ms=300, speech_pad_ms=300)
    assert isinstance(events[2], SpeechStart) and isinstance(events[1], SpeechEnd)
    assert events[2].sample >= events[1].sample


def test_force_end() -> None:
    gate = VadGate(threshold=0.5, min_silence_duration_ms=300, speech_pad_ms=30)
    assert gate.force_end(100) is None
    gate.update(0.9, FRAME_SAMPLES)
    assert gate.force_end(4000) == SpeechEnd(4000)
    assert not gate.in_speech
