"""client.encoding: float and int16 samples to the four wire encodings."""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from client.encoding import (
    alaw_to_linear,
    bytes_per_sample,
    decode,
    encode_float,
    encode_int16,
    float_to_int16,
    linear_to_alaw,
    linear_to_ulaw,
    ulaw_to_linear,
)

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = np.arange(256, dtype=np.uint8)

# ITU-T G.711 code points: (linear sample, mu-law byte, A-law byte)
KNOWN = [
    (0, 0xFF, 0xD5),
    (-1, 0x7E, 0x55),
    (32767, 0x80, 0xAA),
    (-32768, 0x00, 0x2A),
    (1000, 0xCE, 0xFA),
    (-1000, 0x4E, 0x7A),
]


@pytest.mark.parametrize(("linear", "ulaw", "alaw"), KNOWN)
def test_known_code_points(linear: int, ulaw: int, alaw: int) -> None:
    sample = np.array([linear], dtype=np.int16)
    assert linear_to_ulaw(sample)[0] == ulaw
    assert linear_to_alaw(sample)[0] == alaw


def test_decoders_at_known_code_points() -> None:
    assert ulaw_to_linear(np.array([0xFF, 0x7F, 0x80, 0x00], dtype=np.uint8)).tolist() == [0, 0, 32124, -32124]
    assert alaw_to_linear(np.array([0xD5, 0x55, 0xAA, 0x2A], dtype=np.uint8)).tolist() == [8, -8, 32256, -32256]


@pytest.mark.parametrize(
    ("encode", "decode_codes"), [(linear_to_ulaw, ulaw_to_linear), (linear_to_alaw, alaw_to_linear)]
)
def test_every_code_point_round_trips(encode, decode_codes) -> None:
    levels = decode_codes(ALL_CODES)
    assert np.array_equal(decode_codes(encode(levels)), levels)


@pytest.mark.parametrize(
    ("encode", "decode_codes", "max_error"),
    [(linear_to_ulaw, ulaw_to_linear, 1024), (linear_to_alaw, alaw_to_linear, 1024)],
)
def test_round_trip_error_is_within_the_segment_step(encode, decode_codes, max_error) -> None:
    back = decode_codes(encode(ALL_INT16)).astype(np.int32)
    error = np.abs(back - ALL_INT16.astype(np.int32))
    assert error.max() <= max_error
    # relative error stays small away from zero: the point of companding
    loud = np.abs(ALL_INT16.astype(np.int32)) > 1000
    assert (error[loud] / np.abs(ALL_INT16[loud].astype(np.int32))).max() < 0.07


@pytest.mark.skipif(importlib.util.find_spec("audioop") is None, reason="audioop left the stdlib in 3.13")
def test_matches_audioop_for_every_int16() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop
    data = ALL_INT16.tobytes()
    assert linear_to_ulaw(ALL_INT16).tobytes() == audioop.lin2ulaw(data, 2)
    assert linear_to_alaw(ALL_INT16).tobytes() == audioop.lin2alaw(data, 2)
    assert ulaw_to_linear(ALL_CODES).tobytes() == audioop.ulaw2lin(ALL_CODES.tobytes(), 2)
    assert alaw_to_linear(ALL_CODES).tobytes() == audioop.alaw2lin(ALL_CODES.tobytes(), 2)


def test_float_to_int16_rounds_and_clips() -> None:
    assert float_to_int16(np.array([0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0])).tolist() == [
        0, 16384, -16384, 32767, -32768, 32767, -32768,
    ]  # fmt: skip


@pytest.mark.parametrize("encoding", ["pcm_s16le", "pcm_f32le", "pcm_mulaw", "pcm_alaw"])
def test_lengths_and_float_round_trip(encoding: str) -> None:
    t = np.arange(512) / 16_000
    samples = (0.5 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    data = encode_float(samples, encoding)
    assert len(data) == 512 * bytes_per_sample(encoding)
    tolerance = {"pcm_s16le": 1 / 32768, "pcm_f32le": 0.0}.get(encoding, 0.02)
    assert np.abs(decode(data, encoding) - samples).max() <= tolerance


def test_s16le_is_little_endian() -> None:
    assert encode_int16(np.array([1, -2], dtype=np.int16), "pcm_s16le") == b"\x01\x00\xfe\xff"
    assert encode_float(np.array([0.25], dtype=np.float32), "pcm_f32le") == np.array([0.25], "<f4").tobytes()


def test_int16_and_float_paths_agree() -> None:
    ints = ALL_INT16[::97]
    floats = ints.astype(np.float32) / 32768.0
    for encoding in ("pcm_s16le", "pcm_mulaw", "pcm_alaw", "pcm_f32le"):
        assert encode_int16(ints, encoding) == encode_float(floats, encoding)


def test_unknown_encoding() -> None:
    with pytest.raises(ValueError, match="unknown encoding"):
        encode_int16(np.zeros(1, dtype=np.int16), "opus")
    with pytest.raises(ValueError, match="unknown encoding"):
        bytes_per_sample("opus")


@given(arrays(np.int16, st.integers(0, 200)))
def test_companded_bytes_are_one_per_sample(samples) -> None:
    assert len(encode_int16(samples, "pcm_mulaw")) == len(samples)
    assert len(encode_int16(samples, "pcm_alaw")) == len(samples)
