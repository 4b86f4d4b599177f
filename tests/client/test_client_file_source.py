"""client.resample, client.audio_file and FileSource: decode, downmix, resample, frame, pace."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import soundfile
from client_fakes import write_tone

from client.audio_file import check_readable, read_blocks, reframe
from client.encoding import decode
from client.errors import AudioSourceError
from client.resample import Resampler, soxr
from client.sources import FileSource


def dominant_hz(samples: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / sample_rate)[spectrum.argmax()])


def read_all(source: FileSource) -> list[bytes]:
    async def main():
        await source.start()
        frames = []
        while (frame := await source.read_frame()) is not None:
            frames.append(frame)
        await source.close()
        return frames

    return asyncio.run(main())


@pytest.mark.parametrize("use_soxr", [True, False])
def test_resampler_keeps_length_and_pitch_in_chunks(use_soxr: bool) -> None:
    if use_soxr and soxr is None:
        pytest.skip("soxr is not installed")
    t = np.arange(44_100) / 44_100
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    resampler = Resampler(44_100, 16_000, use_soxr=use_soxr)
    chunks = [resampler.process(tone[i : i + 1000]) for i in range(0, len(tone), 1000)]
    chunks.append(resampler.process(np.zeros(0, dtype=np.float32), last=True))
    out = np.concatenate(chunks)
    assert abs(len(out) - 16_000) <= 2
    assert dominant_hz(out, 16_000) == pytest.approx(440, abs=2)


def test_linear_resampler_matches_interpolation_of_the_whole_signal() -> None:
    signal = np.random.default_rng(0).standard_normal(5000).astype(np.float32)
    resampler = Resampler(48_000, 16_000, use_soxr=False)
    out = np.concatenate([resampler.process(signal[i : i + 333]) for i in range(0, len(signal), 333)])
    positions = np.arange(len(out)) * 3.0
    assert np.allclose(out, np.interp(positions, np.arange(len(signal)), signal), atol=1e-6)


def test_same_rate_passes_through() -> None:
    chunk = np.arange(10, dtype=np.float32)
    assert np.array_equal(Resampler(16_000, 16_000).process(chunk), chunk)


def test_reframe_cuts_any_blocks_into_frames() -> None:
    blocks = [np.arange(700, dtype=np.float32), np.arange(700, 1000, dtype=np.float32), np.arange(1000, 1100)]
    frames = list(reframe(blocks, 512))
    assert [len(f) for f in frames] == [512, 512, 76]
    assert np.array_equal(np.concatenate(frames), np.arange(1100))


def test_wav_stereo_44k_is_downmixed_resampled_and_framed(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    t = np.arange(44_100) / 44_100
    left = 0.4 * np.sin(2 * np.pi * 440 * t)
    soundfile.write(str(path), np.stack([left, np.zeros_like(left)], axis=1), 44_100, subtype="PCM_16")
    frames = read_all(FileSource(path, speed=None))
    assert all(len(frame) == 1024 for frame in frames[:-1])
    audio = np.concatenate([decode(frame, "pcm_s16le") for frame in frames])
    assert abs(len(audio) - 16_000) <= 2
    assert np.abs(audio[2000:-2000]).max() == pytest.approx(0.2, abs=0.01)  # mean of the channels
    assert dominant_hz(audio, 16_000) == pytest.approx(440, abs=2)


@pytest.mark.parametrize(("encoding", "frame_bytes"), [("pcm_mulaw", 160), ("pcm_f32le", 640), ("pcm_alaw", 160)])
def test_encoding_rate_and_frame_size_follow_the_options(tmp_path: Path, encoding: str, frame_bytes: int) -> None:
    write_tone(tmp_path / "tone.flac", 0.5)
    source = FileSource(tmp_path / "tone.flac", sample_rate=8000, frame_samples=160, encoding=encoding, speed=None)
    frames = read_all(source)
    assert {len(frame) for frame in frames[:-1]} == {frame_bytes}
    assert sum(len(f) for f in frames) == pytest.approx(4000 * frame_bytes / 160, abs=2 * frame_bytes / 160)


def test_mp3_goes_through_pyav(tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    path = tmp_path / "tone.mp3"
    try:
        _write_with_av(av, path, "libmp3lame")
    except Exception as exc:  # an FFmpeg build without an mp3 encoder
        pytest.skip(f"cannot write mp3 here: {exc}")
    check_readable(path)
    audio = np.concatenate(list(read_blocks(path, 16_000)))
    assert abs(len(audio) - 16_000) < 2000  # mp3 adds encoder delay and padding
    assert dominant_hz(audio, 16_000) == pytest.approx(440, abs=3)


def _write_with_av(av, path: Path, codec: str) -> None:
    rate = 44_100
    t = np.arange(rate) / rate
    stereo = np.stack([0.4 * np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout="stereo")
        size = stream.codec_context.frame_size or 1152
        for start in range(0, stereo.shape[1], size):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(stereo[:, start : start + size]), format="fltp", layout="stereo"
            )
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def test_unreadable_files_fail_early(tmp_path: Path) -> None:
    with pytest.raises(AudioSourceError, match="no such audio file"):
        check_readable(tmp_path / "missing.wav")
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"this is not audio" * 10)
    with pytest.raises(AudioSourceError, match="cannot decode|no audio stream"):
        check_readable(junk)


def test_pacing_follows_speed(tmp_path: Path) -> None:
    write_tone(tmp_path / "tone.wav", 0.256)  # 8 frames of 512
    now = [100.0]
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    for speed, frame_s in [(1.0, 0.032), (4.0, 0.008)]:
        sleeps.clear()
        source = FileSource(tmp_path / "tone.wav", speed=speed, clock=lambda: now[0], sleep=fake_sleep)
        frames = read_all(source)
        assert len(frames) == 8
        assert sleeps == pytest.approx([frame_s] * 7)


def test_read_before_start_is_a_bug(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="before start"):
        asyncio.run(FileSource(tmp_path / "x.wav").read_frame())
    with pytest.raises(ValueError, match="speed"):
        FileSource(tmp_path / "x.wav", speed=0)


def test_a_cancelled_read_loses_no_frame(tmp_path: Path) -> None:
    write_tone(tmp_path / "tone.wav", 0.2)
    expected = read_all(FileSource(tmp_path / "tone.wav", speed=None))

    async def main():
        source = FileSource(tmp_path / "tone.wav", speed=1.0)
        await source.start()
        frames = [await source.read_frame()]
        pending = asyncio.ensure_future(source.read_frame())  # waits ~32 ms for its due time
        await asyncio.sleep(0.005)
        pending.cancel()
        await asyncio.gather(pending, return_exceptions=True)
        while (frame := await source.read_frame()) is not None:
            frames.append(frame)
        await source.close()
        return frames

    assert asyncio.run(main()) == expected
