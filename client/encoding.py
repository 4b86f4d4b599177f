"""Audio samples to the wire encodings (and back, for tests and checks), pure numpy.

G.711 mu-law and A-law follow the ITU-T reference (Sun's ``g711.c``, as in
CPython's ``audioop``): mu-law quantises the 14 most significant bits, A-law the 13.
"""

from __future__ import annotations

import numpy as np

BYTES_PER_SAMPLE = {"pcm_s16le": 2, "pcm_f32le": 4, "pcm_mulaw": 1, "pcm_alaw": 1}

_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159  # in 14-bit units
_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def bytes_per_sample(encoding: str) -> int:
    try:
        return BYTES_PER_SAMPLE[encoding]
    except KeyError:
        raise ValueError(f"unknown encoding {encoding!r}") from None


def float_to_int16(samples: np.ndarray) -> np.ndarray:
    """[-1, 1) floats to int16, rounded and clipped."""
    scaled = np.rint(np.asarray(samples, dtype=np.float64) * 32768.0)
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def encode_float(samples: np.ndarray, encoding: str) -> bytes:
    """Mono float samples in [-1, 1) to ``encoding`` bytes."""
    if encoding == "pcm_f32le":
        return np.asarray(samples, dtype="<f4").tobytes()
    return encode_int16(float_to_int16(samples), encoding)


def encode_int16(samples: np.ndarray, encoding: str) -> bytes:
    """Mono int16 samples to ``encoding`` bytes."""
    samples = np.asarray(samples, dtype=np.int16)
    if encoding == "pcm_s16le":
        return samples.astype("<i2").tobytes()
    if encoding == "pcm_f32le":
        return (samples.astype(np.float32) / 32768.0).astype("<f4").tobytes()
    if encoding == "pcm_mulaw":
        return linear_to_ulaw(samples).tobytes()
    if encoding == "pcm_alaw":
        return linear_to_alaw(samples).tobytes()
    raise ValueError(f"unknown encoding {encoding!r}")


def decode(data: bytes, encoding: str) -> np.ndarray:
    """``encoding`` bytes to float32 samples in [-1, 1)."""
    if encoding == "pcm_f32le":
        return np.frombuffer(data, dtype="<f4").astype(np.float32)
    if encoding == "pcm_s16le":
        linear = np.frombuffer(data, dtype="<i2")
    elif encoding == "pcm_mulaw":
        linear = ulaw_to_linear(np.frombuffer(data, dtype=np.uint8))
    elif encoding == "pcm_alaw":
        linear = alaw_to_linear(np.frombuffer(data, dtype=np.uint8))
    else:
        raise ValueError(f"unknown encoding {encoding!r}")
    return linear.astype(np.float32) / 32768.0


def linear_to_ulaw(samples: np.ndarray) -> np.ndarray:
    pcm = np.asarray(samples, dtype=np.int16).astype(np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = np.searchsorted(_ULAW_SEG_END, magnitude)
    code = (seg << 4) | ((magnitude >> (seg + 1)) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)  # past the last segment: the largest code
    return ((code ^ mask) & 0xFF).astype(np.uint8)


def ulaw_to_linear(codes: np.ndarray) -> np.ndarray:
    u = ~np.asarray(codes, dtype=np.uint8).astype(np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def linear_to_alaw(samples: np.ndarray) -> np.ndarray:
    pcm = np.asarray(samples, dtype=np.int16).astype(np.int32) >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    magnitude = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = np.searchsorted(_ALAW_SEG_END, magnitude)  # 13-bit input never passes the last one
    shift = np.maximum(seg, 1)
    code = (seg << 4) | ((magnitude >> shift) & 0x0F)
    return ((code ^ mask) & 0xFF).astype(np.uint8)


def alaw_to_linear(codes: np.ndarray) -> np.ndarray:
    a = np.asarray(codes, dtype=np.uint8).astype(np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = ((a & 0x0F) << 4) + np.where(seg == 0, 8, 0x108)
    t = t << np.maximum(seg - 1, 0)
    return np.where(a & 0x80, t, -t).astype(np.int16)
