"""Tests for whisper_stream.audio.decoding: exact decoding, framing independence and resampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whisper_stream.audio.decoding import (
    ALAW_TABLE,
    BYTES_PER_SAMPLE,
    MULAW_TABLE,
    AudioDecoder,
    decode_samples,
)
from whisper_stream.protocol.config import ENCODINGS
from whisper_stream.protocol.errors import CloseCode, InvalidDataError, UnsupportedAudioError
from whisper_stream.samples import SAMPLE_RATE_HZ

FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None)


def random_stream(encoding: str, n_samples: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    if encoding == "pcm_s16le":
        return rng.integers(-32768, 32768, n_samples).astype("<i2").tobytes()
    if encoding == "pcm_f32le":
        return rng.uniform(-1.0, 1.0, n_samples).astype("<f4").tobytes()
    return rng.integers(0, 256, n_samples).astype(np.uint8).tobytes()


def decode_whole(encoding: str, rate: int, data: bytes) -> np.ndarray:
    decoder = AudioDecoder(encoding, rate)
    return np.concatenate([decoder.decode(data), decoder.flush()])


def decode_split(encoding: str, rate: int, data: bytes, cuts: list[int]) -> np.ndarray:
    decoder = AudioDecoder(encoding, rate)
    bounds = [0, *sorted(cuts), len(data)]
    parts = [decoder.decode(data[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    parts.append(decoder.flush())
    return np.concatenate(parts)


# --- decode_samples ----------------------------------------------------------------------------------------------


def test_s16le_exact_values() -> None:
    data = np.array([0, 1, -1, 16384, -16384, 32767, -32768], dtype="<i2").tobytes()
    out = decode_samples(data, "pcm_s16le")
    assert out.dtype == np.float32
    expected = np.array([0, 1, -1, 16384, -16384, 32767, -32768], dtype=np.float64) / 32768.0
    np.testing.assert_array_equal(out, expected.astype(np.float32))
    assert out[-1] == -1.0
    assert out[3] == 0.5


def test_s16le_is_little_endian() -> None:
    # 0x0100 little-endian is 1, not 256.
    assert decode_samples(b"\x01\x00", "pcm_s16le")[0] == np.float32(1 / 32768)
    assert decode_samples(b"\x00\x01", "pcm_s16le")[0] == np.float32(256 / 32768)


def test_f32le_values_and_clipping() -> None:
    values = np.array([0.0, 0.25, -0.5, 1.0, -1.0, 1.5, -3.0], dtype="<f4")
    out = decode_samples(values.tobytes(), "pcm_f32le")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [0.0, 0.25, -0.5, 1.0, -1.0, 1.0, -1.0])


def test_f32le_is_little_endian() -> None:
    big = np.array([0.5], dtype=">f4").tobytes()
    little = np.array([0.5], dtype="<f4").tobytes()
    assert decode_samples(little, "pcm_f32le")[0] == 0.5
    assert decode_samples(big, "pcm_f32le")[0] != 0.5


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_f32le_non_finite_rejected(bad: float) -> None:
    data = np.array([0.1, bad, 0.2], dtype="<f4").tobytes()
    with pytest.raises(InvalidDataError) as info:
        decode_samples(data, "pcm_f32le")
    assert "NaN or infinite" in str(info.value)
    assert info.value.close_code == CloseCode.INVALID_DATA


@pytest.mark.parametrize(
    ("code", "value"),
    [(0xFF, 0), (0x7F, 0), (0x80, 32124), (0x00, -32124), (0xFE, 8), (0x7E, -8), (0xEF, 132), (0xF0, 120)],
)
def test_mulaw_known_values(code: int, value: int) -> None:
    assert decode_samples(bytes([code]), "pcm_mulaw")[0] == np.float32(value / 32768)


@pytest.mark.parametrize(
    ("code", "value"),
    [(0xD5, 8), (0x55, -8), (0xAA, 32256), (0x2A, -32256), (0xD4, 24), (0xC5, 264)],
)
def test_alaw_known_values(code: int, value: int) -> None:
    assert decode_samples(bytes([code]), "pcm_alaw")[0] == np.float32(value / 32768)


def test_g711_tables_match_reference_implementation() -> None:
    audioop = pytest.importorskip("audioop")  # stdlib through Python 3.12
    codes = bytes(range(256))
    mulaw = np.frombuffer(audioop.ulaw2lin(codes, 2), dtype="<i2") / 32768.0
    alaw = np.frombuffer(audioop.alaw2lin(codes, 2), dtype="<i2") / 32768.0
    np.testing.assert_array_equal(MULAW_TABLE, mulaw.astype(np.float32))
    np.testing.assert_array_equal(ALAW_TABLE, alaw.astype(np.float32))


@pytest.mark.parametrize("table", [MULAW_TABLE, ALAW_TABLE], ids=["mulaw", "alaw"])
def test_g711_tables_shape_and_symmetry(table: np.ndarray) -> None:
    assert table.shape == (256,)
    assert table.dtype == np.float32
    assert np.all(np.abs(table) <= 1.0)
    # Codes that differ only in the sign bit decode to opposite values.
    np.testing.assert_array_equal(table[:128], -table[128:])
    # Every magnitude appears for both signs: 128 distinct non-negative levels at most.
    assert len(np.unique(np.abs(table))) >= 127


def test_g711_decode_is_table_lookup() -> None:
    codes = bytes(range(256))
    np.testing.assert_array_equal(decode_samples(codes, "pcm_mulaw"), MULAW_TABLE)
    np.testing.assert_array_equal(decode_samples(codes, "pcm_alaw"), ALAW_TABLE)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_empty_input_gives_empty_float32(encoding: str) -> None:
    out = decode_samples(b"", encoding)
    assert out.shape == (0,)
    assert out.dtype == np.float32


def test_decode_samples_unknown_encoding() -> None:
    with pytest.raises(UnsupportedAudioError):
        decode_samples(b"\x00\x00", "pcm_s24le")


# --- AudioDecoder construction -------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["pcm_s24le", "opus", "", "PCM_S16LE"])
def test_decoder_rejects_encoding(encoding: str) -> None:
    with pytest.raises(UnsupportedAudioError) as info:
        AudioDecoder(encoding, 16000)
    assert "unsupported encoding" in str(info.value)
    assert info.value.close_code == CloseCode.UNSUPPORTED_DATA


@pytest.mark.parametrize("rate", [0, -16000, 7999, 48001, 96000])
def test_decoder_rejects_rate(rate: int) -> None:
    with pytest.raises(UnsupportedAudioError) as info:
        AudioDecoder("pcm_s16le", rate)
    assert f"unsupported sample rate {rate}" in str(info.value)
    assert info.value.close_code == CloseCode.UNSUPPORTED_DATA


@pytest.mark.parametrize("rate", [8000, 48000])
def test_decoder_accepts_rate_bounds(rate: int) -> None:
    assert AudioDecoder("pcm_s16le", rate).sample_rate_hz == rate


# --- AudioDecoder at 16 kHz (no resampling) -----------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_16k_passthrough_equals_decode_samples(encoding: str) -> None:
    data = random_stream(encoding, 1000)
    decoder = AudioDecoder(encoding, SAMPLE_RATE_HZ)
    out = decoder.decode(data)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, decode_samples(data, encoding))
    assert decoder.flush().size == 0


def test_odd_trailing_byte_carried_to_next_frame() -> None:
    data = np.array([1000, -2000, 3000], dtype="<i2").tobytes()
    decoder = AudioDecoder("pcm_s16le", 16000)
    first = decoder.decode(data[:3])
    assert first.size == 1
    assert decoder.pending_bytes == 1
    second = decoder.decode(data[3:5])
    assert second.size == 1
    assert decoder.pending_bytes == 1
    third = decoder.decode(data[5:])
    assert decoder.pending_bytes == 0
    np.testing.assert_array_equal(np.concatenate([first, second, third]), np.array([1000, -2000, 3000]) / 32768.0)


def test_f32_carry_over_three_frames() -> None:
    data = np.array([0.5, -0.25], dtype="<f4").tobytes()
    decoder = AudioDecoder("pcm_f32le", 16000)
    assert decoder.decode(data[:1]).size == 0
    assert decoder.decode(data[1:3]).size == 0
    assert decoder.pending_bytes == 3
    np.testing.assert_array_equal(decoder.decode(data[3:]), [0.5, -0.25])


def test_empty_frame_is_harmless() -> None:
    decoder = AudioDecoder("pcm_s16le", 16000)
    assert decoder.decode(b"").size == 0
    assert decoder.decode(b"\x01").size == 0
    assert decoder.decode(b"").size == 0
    assert decoder.pending_bytes == 1
    np.testing.assert_array_equal(decoder.decode(b"\x00"), [1 / 32768])


def test_flush_drops_partial_sample() -> None:
    decoder = AudioDecoder("pcm_s16le", 16000)
    decoder.decode(b"\x00\x00\x07")
    assert decoder.pending_bytes == 1
    assert decoder.flush().size == 0
    assert decoder.pending_bytes == 0


def test_input_duration_counts_whole_samples_at_declared_rate() -> None:
    decoder = AudioDecoder("pcm_s16le", 8000)
    decoder.decode(b"\x00" * 8001)  # 4000 whole samples and one byte
    assert decoder.input_duration_s == pytest.approx(0.5)
    decoder.decode(b"\x00" * 8001)  # the carried byte completes one more sample
    assert decoder.input_duration_s == pytest.approx(8001 / 8000)
    mulaw = AudioDecoder("pcm_mulaw", 16000)
    mulaw.decode(b"\xff" * 1600)
    assert mulaw.input_duration_s == pytest.approx(0.1)


def test_nan_in_stream_rejected_by_decoder() -> None:
    decoder = AudioDecoder("pcm_f32le", 16000)
    decoder.decode(np.array([0.1, 0.2], dtype="<f4").tobytes())
    with pytest.raises(InvalidDataError):
        decoder.decode(np.array([np.nan], dtype="<f4").tobytes())


def test_nan_split_across_frames_rejected() -> None:
    data = np.array([np.inf], dtype="<f4").tobytes()
    decoder = AudioDecoder("pcm_f32le", 44100)
    assert decoder.decode(data[:2]).size == 0
    with pytest.raises(InvalidDataError):
        decoder.decode(data[2:])


# --- any split of the stream gives the same samples ---------------------------------------------------------------


@st.composite
def stream_and_cuts(draw: st.DrawFn, encoding: str, max_samples: int = 3000) -> tuple[bytes, list[int]]:
    n_samples = draw(st.integers(0, max_samples))
    seed = draw(st.integers(0, 2**16))
    data = random_stream(encoding, n_samples, seed)
    # Sometimes a trailing partial sample, which must be ignored consistently.
    data += draw(st.binary(max_size=BYTES_PER_SAMPLE[encoding] - 1)) if encoding != "pcm_f32le" else b""
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=12))
    return data, cuts


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("rate", [16000, 8000, 44100, 48000])
def test_any_split_gives_identical_output(encoding: str, rate: int) -> None:
    @FAST
    @given(stream_and_cuts(encoding))
    def check(case: tuple[bytes, list[int]]) -> None:
        data, cuts = case
        whole = decode_whole(encoding, rate, data)
        split = decode_split(encoding, rate, data, cuts)
        assert whole.dtype == split.dtype == np.float32
        np.testing.assert_array_equal(split, whole)

    check()


def test_byte_at_a_time_equals_single_frame() -> None:
    data = random_stream("pcm_s16le", 500, seed=3)
    whole = decode_whole("pcm_s16le", 22050, data)
    split = decode_split("pcm_s16le", 22050, data, list(range(len(data))))
    np.testing.assert_array_equal(split, whole)


# --- resampling --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 24000, 32000, 44100, 48000])
def test_resampled_length(rate: int) -> None:
    n_in = rate  # one second
    out = decode_whole("pcm_s16le", rate, random_stream("pcm_s16le", n_in, seed=rate))
    assert out.dtype == np.float32
    assert abs(out.size - n_in * SAMPLE_RATE_HZ / rate) <= 2


@pytest.mark.parametrize("rate", [8000, 44100, 48000])
def test_resampled_length_over_many_frames(rate: int) -> None:
    n_in = 3 * rate + 123
    data = random_stream("pcm_f32le", n_in, seed=1)
    frame = 4 * 317  # not a divisor of anything in particular
    decoder = AudioDecoder("pcm_f32le", rate)
    total = sum(decoder.decode(data[i : i + frame]).size for i in range(0, len(data), frame))
    total += decoder.flush().size
    assert abs(total - n_in * SAMPLE_RATE_HZ / rate) <= 2
    assert decoder.input_duration_s == pytest.approx(n_in / rate)


def sine(rate: int, freq: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize("rate", [48000, 44100, 8000])
def test_sine_keeps_its_frequency(rate: int) -> None:
    out = decode_whole("pcm_f32le", rate, sine(rate, 1000.0, 1.0).tobytes())
    assert abs(peak_hz(out, SAMPLE_RATE_HZ) - 1000.0) <= 2.0
    # Amplitude survives too (ignore the filter's edges).
    middle = out[2000:-2000]
    assert np.max(np.abs(middle)) == pytest.approx(0.5, abs=0.02)


def test_resampled_sine_matches_ideal_sine() -> None:
    out = decode_whole("pcm_f32le", 48000, sine(48000, 1000.0, 0.5).tobytes())
    ideal = sine(16000, 1000.0, 0.5)
    n = min(out.size, ideal.size)
    # soxr is linear phase with its delay removed, so samples line up with the ideal signal.
    error = np.abs(out[500 : n - 500] - ideal[500 : n - 500])
    assert error.max() < 0.01


def test_content_above_target_nyquist_is_filtered() -> None:
    out = decode_whole("pcm_f32le", 48000, sine(48000, 12000.0, 0.5).tobytes())
    # 12 kHz cannot exist at 16 kHz; it must be removed, not aliased to 4 kHz.
    assert np.sqrt(np.mean(out[500:-500] ** 2)) < 0.01


def test_s16le_upsampled_from_8k() -> None:
    tone = (sine(8000, 440.0, 1.0) * 32767).astype("<i2")
    out = decode_whole("pcm_s16le", 8000, tone.tobytes())
    assert abs(out.size - 16000) <= 2
    assert abs(peak_hz(out, SAMPLE_RATE_HZ) - 440.0) <= 2.0


def test_flush_emits_resampler_tail() -> None:
    data = sine(48000, 1000.0, 0.1).tobytes()
    decoder = AudioDecoder("pcm_f32le", 48000)
    head = decoder.decode(data)
    tail = decoder.flush()
    assert tail.size > 0  # without flush the stream would lose its last samples
    assert abs(head.size + tail.size - 1600) <= 2
