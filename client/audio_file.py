"""Audio files to mono float32 blocks at a chosen sample rate.

WAV and FLAC are read with soundfile, everything else (mp3, m4a, ogg, video
containers) with PyAV. Both are read block by block, never whole.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from client.errors import AudioSourceError
from client.resample import Resampler

if TYPE_CHECKING:  # PyAV is imported when a file needs it
    from av.container import InputContainer

SOUNDFILE_SUFFIXES = (".wav", ".flac")
NOT_AUDIO = "not an audio file we can decode (wav, flac, mp3, m4a, ogg, opus, webm, mp4, ...)"
READ_BLOCK_SAMPLES = 8192


def check_readable(path: Path) -> None:
    """Open ``path`` once so an unreadable file fails before any connection is made."""
    if not path.exists():
        raise AudioSourceError(f"no such audio file: {path}")
    if path.is_dir():
        raise AudioSourceError(f"{path} is a folder; --file takes an audio file")
    if not path.is_file():
        raise AudioSourceError(f"{path} is not a regular file (a device or a pipe); save the audio to a file first")
    if path.stat().st_size == 0:
        raise AudioSourceError(f"{path} is empty")
    if _use_soundfile(path):
        return
    container = _open_av(path)
    container.close()


def read_blocks(path: Path, sample_rate: int) -> Generator[np.ndarray, None, None]:
    """Mono float32 blocks of ``path`` resampled to ``sample_rate``."""
    if _use_soundfile(path):
        return _soundfile_blocks(path, sample_rate)
    return _av_blocks(path, sample_rate)


def reframe(blocks: Iterable[np.ndarray], frame_samples: int) -> Iterator[np.ndarray]:
    """Blocks of any length to frames of ``frame_samples``; the last one may be shorter."""
    pending = np.zeros(0, dtype=np.float32)
    for block in blocks:
        pending = np.concatenate([pending, block]) if len(pending) else block
        whole = len(pending) - len(pending) % frame_samples
        for start in range(0, whole, frame_samples):
            yield pending[start : start + frame_samples]
        pending = pending[whole:]
    if len(pending):
        yield pending


def _use_soundfile(path: Path) -> bool:
    if path.suffix.lower() not in SOUNDFILE_SUFFIXES:
        return False
    import soundfile

    try:
        soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError):
        return False  # e.g. a WAV in a codec libsndfile lacks: let PyAV try
    return True


def _soundfile_blocks(path: Path, sample_rate: int) -> Generator[np.ndarray, None, None]:
    import soundfile

    with soundfile.SoundFile(str(path)) as sound:
        resampler = Resampler(sound.samplerate, sample_rate)
        for block in sound.blocks(blocksize=READ_BLOCK_SAMPLES, dtype="float32", always_2d=True):
            out = resampler.process(block.mean(axis=1))
            if len(out):
                yield out
        tail = resampler.process(np.zeros(0, dtype=np.float32), last=True)
        if len(tail):
            yield tail


def _av_blocks(path: Path, sample_rate: int) -> Generator[np.ndarray, None, None]:
    import av

    container = _open_av(path)
    try:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1)
    finally:
        container.close()


def _open_av(path: Path) -> InputContainer:
    import av

    try:
        container = av.open(str(path))
    except av.InvalidDataError as exc:
        raise AudioSourceError(f"cannot decode {path}: {NOT_AUDIO}") from exc
    except av.FFmpegError as exc:  # its str() leads with FFmpeg's error number
        raise AudioSourceError(f"cannot decode {path}: {exc.strerror}") from exc
    except OSError as exc:
        raise AudioSourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not container.streams.audio:
        container.close()
        raise AudioSourceError(f"no audio stream in {path}")
    return container
