"""A phone channel: 16 kHz speech as a phone bridge sends it, 8 kHz G.711 mu-law, and what the server makes of it.

``phone_channel`` resamples to 8 kHz (soxr, HQ: the low-pass that keeps the band under 4 kHz is the
resampler's), optionally band-limits to the telephone band (ITU-T G.712's 300-3400 Hz, here with 100 Hz
raised-cosine edges, applied in the frequency domain: the whole signal at once, no phase change), and
encodes mu-law (``client.encoding``, the ITU-T reference). ``server_16k`` decodes those bytes as the server
does (``whisper_stream.audio.decoding.AudioDecoder``: mu-law, then soxr's streaming resampler to 16 kHz),
in the 20 ms frames a phone bridge sends (Twilio's media streams: 160 bytes).
"""

from __future__ import annotations

import numpy as np
import soxr

from client.encoding import encode_float
from whisper_stream.audio.decoding import AudioDecoder
from whisper_stream.samples import SAMPLE_RATE_HZ

PHONE_RATE_HZ = 8_000
PHONE_ENCODING = "pcm_mulaw"
PHONE_BAND_HZ = (300.0, 3400.0)
PHONE_FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
_EDGE_HZ = 100.0


def phone_channel(audio_16k: np.ndarray, *, band_hz: tuple[float, float] | None = PHONE_BAND_HZ) -> bytes:
    """``audio_16k`` (float32, 16 kHz) as 8 kHz mu-law bytes; ``band_hz`` None: only the resampler's low-pass."""
    narrow = soxr.resample(np.asarray(audio_16k, dtype=np.float32), SAMPLE_RATE_HZ, PHONE_RATE_HZ, quality="HQ")
    if band_hz is not None:
        narrow = band_limit(narrow, PHONE_RATE_HZ, band_hz)
    return encode_float(np.clip(narrow, -1.0, 32767 / 32768), PHONE_ENCODING)


def band_limit(audio: np.ndarray, rate_hz: int, band_hz: tuple[float, float]) -> np.ndarray:
    """``audio`` with what lies outside ``band_hz`` taken out (raised-cosine edges ``_EDGE_HZ`` wide, inside)."""
    low_hz, high_hz = band_hz
    spectrum = np.fft.rfft(audio.astype(np.float64))
    freqs_hz = np.fft.rfftfreq(audio.size, d=1.0 / rate_hz)
    rise = np.clip((freqs_hz - (low_hz - _EDGE_HZ)) / _EDGE_HZ, 0.0, 1.0)
    fall = np.clip(((high_hz + _EDGE_HZ) - freqs_hz) / _EDGE_HZ, 0.0, 1.0)
    gain = (0.5 - 0.5 * np.cos(np.pi * rise)) * (0.5 - 0.5 * np.cos(np.pi * fall))
    return np.fft.irfft(spectrum * gain, n=audio.size).astype(np.float32)


def server_frames_16k(mulaw: bytes, *, frame_bytes: int = PHONE_FRAME_BYTES) -> list[np.ndarray]:
    """The 16 kHz samples the server's decoder gives for each frame of ``mulaw`` (the last: its flush too)."""
    decoder = AudioDecoder(PHONE_ENCODING, PHONE_RATE_HZ)
    frames = [decoder.decode(mulaw[offset : offset + frame_bytes]) for offset in range(0, len(mulaw), frame_bytes)]
    frames.append(decoder.flush())
    return frames


def server_16k(mulaw: bytes) -> np.ndarray:
    """All of ``mulaw`` as the server hears it, 16 kHz float32."""
    return np.concatenate(server_frames_16k(mulaw)).astype(np.float32, copy=False)
