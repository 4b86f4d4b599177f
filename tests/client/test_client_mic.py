"""MicSource with a stand-in sound device: blocks in order, overflow counted and warned."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from typing import Any

import numpy as np
import pytest

from client.encoding import decode, linear_to_ulaw
from client.errors import AudioSourceError
from client.mic import MicSource, check_input, parse_device


class FakeInputStream:
    """Calls the callback from its own thread, as PortAudio does, with ``blocks`` then stops."""

    instances: list[FakeInputStream] = []

    def __init__(self, *, blocks: list[np.ndarray], statuses: list[str] | None = None, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.blocks = blocks
        self.statuses = statuses or [""] * len(blocks)
        self.started = self.stopped = self.closed = False
        self.thread: threading.Thread | None = None
        FakeInputStream.instances.append(self)

    def start(self) -> None:
        self.started = True
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        callback = self.kwargs["callback"]
        for block, status in zip(self.blocks, self.statuses, strict=True):
            callback(block.reshape(-1, 1), len(block), None, status)

    def stop(self) -> None:
        self.stopped = True
        if self.thread is not None:
            self.thread.join()

    def close(self) -> None:
        self.closed = True


def ramp_blocks(count: int, size: int = 512) -> list[np.ndarray]:
    return [np.arange(size, dtype=np.int16) + 1000 * index for index in range(count)]


def factory(blocks: list[np.ndarray], statuses: list[str] | None = None):
    def make(**kwargs: Any) -> FakeInputStream:
        return FakeInputStream(blocks=blocks, statuses=statuses, **kwargs)

    return make


async def wait_for_thread() -> None:
    stream = FakeInputStream.instances[-1]
    while stream.thread is None or stream.thread.is_alive():
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.01)  # let the loop run the call_soon_threadsafe callbacks


def test_blocks_arrive_in_order_as_s16le_frames() -> None:
    blocks = ramp_blocks(6)

    async def main():
        mic = MicSource(input_stream_factory=factory(blocks))
        await mic.start()
        frames = [await mic.read_frame() for _ in blocks]
        await mic.close()
        return mic, frames

    mic, frames = asyncio.run(main())
    stream = FakeInputStream.instances[-1]
    assert stream.kwargs["samplerate"] == 16_000
    assert stream.kwargs["blocksize"] == 512
    assert stream.kwargs["channels"] == 1
    assert stream.kwargs["dtype"] == "int16"
    assert stream.kwargs["device"] is None
    assert stream.started and stream.stopped and stream.closed
    assert frames == [block.astype("<i2").tobytes() for block in blocks]
    assert all(len(frame) == 1024 for frame in frames)
    assert mic.dropped_samples == 0


def test_mic_frames_use_the_wire_encoding() -> None:
    blocks = ramp_blocks(2, size=160)

    async def main():
        mic = MicSource(sample_rate=8000, frame_samples=160, encoding="pcm_mulaw", input_stream_factory=factory(blocks))
        await mic.start()
        frames = [await mic.read_frame(), await mic.read_frame()]
        await mic.close()
        return frames

    frames = asyncio.run(main())
    assert frames == [linear_to_ulaw(block).tobytes() for block in blocks]
    assert FakeInputStream.instances[-1].kwargs["samplerate"] == 8000


def test_overflow_drops_blocks_counts_the_ms_and_warns(caplog) -> None:
    blocks = ramp_blocks(10)

    async def main():
        # room for 2 blocks of 32 ms; nobody reads while the device delivers 10
        mic = MicSource(max_buffer_ms=64, warn_interval_s=60, input_stream_factory=factory(blocks))
        await mic.start()
        await wait_for_thread()
        kept = [await mic.read_frame(), await mic.read_frame()]
        await mic.close()
        return mic, kept

    with caplog.at_level(logging.WARNING, logger="client.mic"):
        mic, kept = asyncio.run(main())
    assert mic.dropped_samples == 8 * 512
    assert mic.dropped_ms == pytest.approx(256)
    assert kept == [blocks[0].tobytes(), blocks[1].tobytes()]  # the oldest audio is kept, the newest dropped
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings[0] == "microphone: dropped 32 ms of audio (32 ms in all): the connection is not keeping up"
    # rate-limited to one warning a minute here; close() reports the rest
    assert warnings[-1] == "microphone: dropped 224 ms of audio (256 ms in all): the connection is not keeping up"
    assert len(warnings) == 2


def test_device_status_is_warned(caplog) -> None:
    blocks = ramp_blocks(2)

    async def main():
        mic = MicSource(input_stream_factory=factory(blocks, ["input overflow", ""]))
        await mic.start()
        frames = [await mic.read_frame(), await mic.read_frame()]
        await mic.close()
        return frames

    with caplog.at_level(logging.WARNING, logger="client.mic"):
        frames = asyncio.run(main())
    assert len(frames) == 2
    assert "microphone: input overflow" in caplog.text


def test_end_of_the_device_stream_ends_the_source() -> None:
    async def main():
        mic = MicSource(input_stream_factory=factory(ramp_blocks(1)))
        await mic.start()
        first = await mic.read_frame()
        mic._on_finished()  # PortAudio's finished_callback, e.g. the device went away
        end = await asyncio.wait_for(mic.read_frame(), 1)
        await mic.close()
        return first, end

    first, end = asyncio.run(main())
    assert decode(first, "pcm_s16le").size == 512
    assert end is None


def test_a_device_that_cannot_open_is_an_audio_source_error() -> None:
    def broken(**kwargs: Any) -> Any:
        raise ValueError("No input device matching 'nope'")

    async def main():
        await MicSource(device="nope", input_stream_factory=broken).start()

    with pytest.raises(AudioSourceError, match="cannot open the microphone: No input device matching"):
        asyncio.run(main())


def test_parse_device() -> None:
    assert parse_device(None) is None
    assert parse_device("3") == 3
    assert parse_device("USB") == "USB"


def test_check_input_asks_portaudio_for_the_session_settings(monkeypatch) -> None:
    calls = []

    class FakeSoundDevice:
        @staticmethod
        def check_input_settings(**kwargs: Any) -> None:
            calls.append(kwargs)
            if kwargs["device"] == "nope":
                raise ValueError("No input device matching 'nope'")

    monkeypatch.setitem(sys.modules, "sounddevice", FakeSoundDevice)
    check_input(device=2, sample_rate=8000)
    assert calls == [{"device": 2, "channels": 1, "dtype": "int16", "samplerate": 8000}]
    with pytest.raises(AudioSourceError, match="cannot use the microphone: No input device matching 'nope'"):
        check_input(device="nope", sample_rate=16_000)


def test_blocks_after_close_are_ignored(caplog) -> None:
    async def main():
        mic = MicSource(max_buffer_ms=32, input_stream_factory=factory([]))
        await mic.start()
        await mic.close()
        mic._on_audio(np.zeros((512, 1), dtype=np.int16), 512, None, "")  # a late PortAudio callback
        mic._on_finished()
        await asyncio.sleep(0.01)
        return mic

    with caplog.at_level(logging.WARNING, logger="client.mic"):
        mic = asyncio.run(main())
    assert mic.dropped_samples == 0
    assert caplog.text == ""
