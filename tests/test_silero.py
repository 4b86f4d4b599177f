"""Tests for whisper_stream.audio.silero: its weights (the silero-vad package, installed without torch), and
its two rates (narrowband streams scored at 8 kHz)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from bench.phone_channel import PHONE_RATE_HZ, phone_channel, server_16k
from tests.speech import load_16k, manifest
from whisper_stream.audio import package_files
from whisper_stream.audio.decoding import MULAW_TABLE
from whisper_stream.audio.silero import SileroVadModel, scoring_rate_hz, silero_weights_path
from whisper_stream.audio.vad import FRAME_SAMPLES


def test_weights_come_from_the_silero_vad_package() -> None:
    path = silero_weights_path()
    assert path.is_file() and path.name == "silero_vad.onnx"
    assert path.parent.parent.name == "silero_vad"


def test_missing_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        package_files.importlib.util, "find_spec", lambda name: None if name == "silero_vad" else real_find_spec(name)
    )
    with pytest.raises(RuntimeError, match=r"pip install --no-deps -r requirements-nodeps\.txt"):
        silero_weights_path()


# ------------------------------------------------------------------ rates: narrowband streams at 8 kHz


@pytest.fixture(scope="module")
def model() -> SileroVadModel:
    return SileroVadModel()


@pytest.mark.parametrize(
    ("declared_hz", "scored_hz"), [(8_000, 8_000), (11_025, 16_000), (16_000, 16_000), (48_000, 16_000)]
)
def test_streams_at_8_khz_are_scored_at_8_khz_the_rest_at_16(declared_hz: int, scored_hz: int) -> None:
    assert scoring_rate_hz(declared_hz) == scored_hz


def test_a_scorer_runs_at_the_rate_its_stream_was_declared_at(model: SileroVadModel) -> None:
    assert model.new_scorer().model.rate_hz == 16_000
    assert model.new_scorer(8_000).model.rate_hz == 8_000
    assert model.new_scorer(8_000).model is model.at_rate(8_000)
    with pytest.raises(ValueError, match="11025"):
        model.at_rate(11_025)


def _reference_8k(model: SileroVadModel, audio_8k: np.ndarray) -> list[float]:
    """Silero's own 8 kHz loop: 256-sample windows, each after the previous one's last 32 samples."""
    network, state, context, out = model.at_rate(8_000), np.zeros((2, 1, 128), np.float32), np.zeros(32), []
    for start in range(0, audio_8k.size - 255, 256):
        window = np.concatenate([context, audio_8k[start : start + 256]]).astype(np.float32)
        probability, state = network.run(window, state)
        context = window[-32:]
        out.append(probability)
    return out


def test_the_8_khz_scorer_takes_16_khz_frames_and_scores_every_other_sample(model: SileroVadModel) -> None:
    speech = load_16k(manifest("librispeech_clean")[1].path)
    speech = speech[: speech.size // FRAME_SAMPLES * FRAME_SAMPLES]
    scorer = model.new_scorer(8_000)
    scored = [scorer.score(speech[i : i + FRAME_SAMPLES]) for i in range(0, speech.size, FRAME_SAMPLES)]
    assert scored == pytest.approx(_reference_8k(model, speech[::2]), abs=1e-6)


def test_on_phone_audio_it_hears_what_the_8_khz_samples_hold(model: SileroVadModel) -> None:
    """What the server scores (mu-law decoded and resampled to 16 kHz, every other sample) is the 8 kHz audio
    the client sent, to within the resamplers' filters: silero gives the same probabilities and decisions."""
    speech = np.concatenate([np.zeros(8_000, np.float32), load_16k(manifest("librispeech_clean")[0].path)])
    mulaw = phone_channel(speech)
    heard = server_16k(mulaw)
    scorer = model.new_scorer(PHONE_RATE_HZ)
    served = np.array([scorer.score(heard[i : i + FRAME_SAMPLES]) for i in range(0, heard.size - 511, FRAME_SAMPLES)])
    native = np.array(_reference_8k(model, MULAW_TABLE[np.frombuffer(mulaw, np.uint8)]))
    assert served.size == native.size > 300
    assert np.mean(np.abs(served - native)) < 0.01
    assert np.mean((served >= 0.5) != (native >= 0.5)) < 0.01
