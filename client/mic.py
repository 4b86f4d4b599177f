"""The microphone as an ``AudioSource``, through sounddevice (PortAudio).

PortAudio calls ``_on_audio`` on its own thread; the block goes to the event
loop with ``call_soon_threadsafe`` and into a bounded queue. Capture never waits
for the network: when the queue is full the block is dropped and counted, and a
warning says how many milliseconds were lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from client.encoding import encode_int16
from client.errors import AudioSourceError

logger = logging.getLogger(__name__)

InputStreamFactory = Callable[..., Any]


def list_devices() -> str:
    return str(_sounddevice().query_devices())


def check_input(*, device: int | str | None, sample_rate: int) -> None:
    """Fail before connecting if the microphone cannot be opened as the session needs it."""
    sounddevice = _sounddevice()
    try:
        sounddevice.check_input_settings(device=device, channels=1, dtype="int16", samplerate=sample_rate)
    except Exception as exc:  # PortAudioError, ValueError for an unknown device
        raise AudioSourceError(f"cannot use the microphone: {exc}") from exc


def parse_device(value: str | None) -> int | str | None:
    """A device index (``3``) or a part of its name (``"USB"``), as sounddevice takes them."""
    if value is None or value == "":
        return None
    return int(value) if value.isdigit() else value


class MicSource:
    is_live = True

    def __init__(
        self,
        *,
        sample_rate: int = 16_000,
        frame_samples: int = 512,
        encoding: str = "pcm_s16le",
        device: int | str | None = None,
        max_buffer_ms: float = 2_000.0,
        warn_interval_s: float = 1.0,
        input_stream_factory: InputStreamFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sample_rate = sample_rate
        self.frame_samples = frame_samples
        self.encoding = encoding
        self.device = device
        self._queue_blocks = max(1, math.ceil(max_buffer_ms * sample_rate / 1000 / frame_samples))
        self._warn_interval_s = warn_interval_s
        self._factory = input_stream_factory
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[bytes | None] | None = None
        self._stream: Any = None
        self._closing = False  # after close(): late blocks are neither queued nor counted
        self.dropped_samples = 0
        self._unreported_samples = 0
        self._last_warning_s: float | None = None

    @property
    def dropped_ms(self) -> float:
        return self.dropped_samples * 1000 / self.sample_rate

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(maxsize=self._queue_blocks)
        factory = self._factory or _sounddevice().InputStream
        try:
            self._stream = factory(
                samplerate=self.sample_rate,
                blocksize=self.frame_samples,
                channels=1,
                dtype="int16",
                device=self.device,
                callback=self._on_audio,
                finished_callback=self._on_finished,
            )
            self._stream.start()
        except Exception as exc:  # PortAudioError, ValueError for an unknown device
            raise AudioSourceError(f"cannot open the microphone: {exc}") from exc

    async def read_frame(self) -> bytes | None:
        if self._queue is None:
            raise RuntimeError("MicSource.read_frame() before start()")
        block = await self._queue.get()
        if block is None:
            return None
        return encode_int16(np.frombuffer(block, dtype="<i2"), self.encoding)

    async def close(self) -> None:
        self._closing = True
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()
        if self._unreported_samples:
            self._warn_dropped()

    def _on_audio(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's thread: copy the block out and hand it to the loop."""
        block = np.ascontiguousarray(indata, dtype="<i2").tobytes()
        self._call_in_loop(self._enqueue, block, str(status) if status else "")

    def _on_finished(self) -> None:
        self._call_in_loop(self._end)

    def _call_in_loop(self, callback: Callable[..., None], *args: Any) -> None:
        if self._loop is None:
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is reading any more
            self._loop.call_soon_threadsafe(callback, *args)

    def _enqueue(self, block: bytes, status: str) -> None:
        if self._closing:
            return
        if status:
            logger.warning("microphone: %s", status)
        assert self._queue is not None
        try:
            self._queue.put_nowait(block)
        except asyncio.QueueFull:
            self._count_dropped(len(block) // 2)

    def _count_dropped(self, samples: int) -> None:
        self.dropped_samples += samples
        self._unreported_samples += samples
        now_s = self._clock()
        if self._last_warning_s is None or now_s - self._last_warning_s >= self._warn_interval_s:
            self._last_warning_s = now_s
            self._warn_dropped()

    def _warn_dropped(self) -> None:
        logger.warning(
            "microphone: dropped %.0f ms of audio (%.0f ms in all): the connection is not keeping up",
            self._unreported_samples * 1000 / self.sample_rate,
            self.dropped_ms,
        )
        self._unreported_samples = 0

    def _end(self) -> None:
        if self._closing:
            return
        assert self._queue is not None
        if self._queue.full():  # the end matters more than the oldest block
            oldest = self._queue.get_nowait()
            self._count_dropped(len(oldest or b"") // 2)
        self._queue.put_nowait(None)


def _sounddevice() -> Any:
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # not installed, or PortAudio missing (OSError)
        raise AudioSourceError(
            f"no microphone support: {exc} (install PortAudio: libportaudio2 on Debian/Ubuntu; or use --file)"
        ) from exc
    return sounddevice
