"""Where audio frames come from: the ``AudioSource`` protocol and ``FileSource``.

A source hands out wire-encoded frames, one ``read_frame()`` at a time, ``None``
at the end. ``read_frame`` must be cancel-safe: a cancelled call loses no audio,
so the streamer can race it against Ctrl-C and reuse the source after a reconnect.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from client.audio_file import read_blocks, reframe
from client.encoding import bytes_per_sample, encode_float
from client.errors import AudioSourceError


class AudioSource(Protocol):
    is_live: bool  # a microphone: it can go on after a reconnect

    async def start(self) -> None: ...

    async def read_frame(self) -> bytes | None: ...

    async def close(self) -> None: ...


class FileSource:
    """An audio file, downmixed, resampled, encoded and paced at ``speed`` x real time.

    ``speed=None`` sends as fast as the connection takes it.
    """

    is_live = False

    def __init__(
        self,
        path: str | Path,
        *,
        sample_rate: int = 16_000,
        frame_samples: int = 512,
        encoding: str = "pcm_s16le",
        speed: float | None = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive")
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.frame_samples = frame_samples
        self.encoding = encoding
        self.speed = speed
        self._clock = clock
        self._sleep = sleep
        self._blocks: Generator[np.ndarray, None, None] | None = None
        self._frames: Iterator[bytes] | None = None
        self._pending: bytes | None = None
        self._started_at_s: float | None = None
        self._sent_samples = 0

    async def start(self) -> None:
        self._blocks = read_blocks(self.path, self.sample_rate)
        frames = reframe(self._blocks, self.frame_samples)
        self._frames = (encode_float(frame, self.encoding) for frame in frames)

    async def read_frame(self) -> bytes | None:
        if self._frames is None:
            raise RuntimeError("FileSource.read_frame() before start()")
        if self._pending is None:
            self._pending = self._next_frame()
            if self._pending is None:
                return None
        await self._pace()
        frame, self._pending = self._pending, None
        self._sent_samples += len(frame) // bytes_per_sample(self.encoding)
        return frame

    async def close(self) -> None:
        if self._blocks is not None:
            self._blocks.close()  # closes the decoder's file

    def _next_frame(self) -> bytes | None:
        assert self._frames is not None
        try:
            return next(self._frames, None)
        except AudioSourceError:
            raise
        except Exception as exc:  # a decoder failing mid-file; FFmpeg's str() leads with its error number
            raise AudioSourceError(f"cannot decode {self.path}: {getattr(exc, 'strerror', None) or exc}") from exc

    async def _pace(self) -> None:
        if self.speed is None:
            await asyncio.sleep(0)  # let the receiver run between frames
            return
        now_s = self._clock()
        if self._started_at_s is None:
            self._started_at_s = now_s
        due_s = self._started_at_s + self._sent_samples / self.sample_rate / self.speed
        if due_s > now_s:
            await self._sleep(due_s - now_s)
