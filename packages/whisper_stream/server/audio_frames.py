"""Audio frames into a session: decoded, VAD-scored, handed over; a large frame a piece at a time.

A frame up to ``INLINE_FRAME_BYTES`` is decoded on the event loop and its VAD frames are scored with every
other session's in the loop's next batch (``vad_batch``). A larger one is decoded, scored and handed to the
session in a worker thread, so that it cannot hold the other sessions up, and in pieces of ``PIECE_BYTES``:
a 1 MiB frame of 8 kHz mu-law is 131 s of audio, 8 MiB once decoded to 16 kHz float32, and the session may
not take all of it (``stop``: its pending audio or its duration reached a limit). In pieces, what one frame
adds to a session's memory is one piece's samples, and the audio a limit refuses is never decoded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

from whisper_stream import metrics
from whisper_stream.audio import vad_batch
from whisper_stream.audio.decoding import AudioDecoder
from whisper_stream.audio.vad import SpeechScorer
from whisper_stream.core.session import Session
from whisper_stream.samples import SAMPLE_RATE_HZ

INLINE_FRAME_BYTES = 16_384
"""Frames up to this size (0.5 s of 16 kHz pcm_s16le) are decoded on the loop, their VAD batched with others'."""
PIECE_BYTES = 16_384
"""A larger frame is taken this many bytes at a time (a multiple of every sample width)."""


class AudioFrames:
    """One stream's decoder and VAD scorer, and how its frames reach its session."""

    def __init__(self, decoder: AudioDecoder, scorer: SpeechScorer) -> None:
        self.decoder = decoder
        self.scorer = scorer

    async def ingest(self, session: Session, frame: bytes, arrived_s: float, stop: Callable[[], bool]) -> None:
        """Hand ``frame`` to ``session``; a large one stops early, between pieces, once ``stop()`` is true."""
        if len(frame) <= INLINE_FRAME_BYTES:
            samples = self._decode(frame)
            await vad_batch.batcher().score_ahead(self.scorer, samples)
            session.receive_audio(samples, arrived_s)
        else:
            await asyncio.to_thread(self._ingest_in_pieces, session, frame, arrived_s, stop)

    def _ingest_in_pieces(self, session: Session, frame: bytes, arrived_s: float, stop: Callable[[], bool]) -> None:
        """In a worker thread: the runner awaits it, so nothing else touches the session meanwhile."""
        view = memoryview(frame)
        for offset in range(0, len(view), PIECE_BYTES):
            samples = self._decode(bytes(view[offset : offset + PIECE_BYTES]))
            vad_batch.score_alone(self.scorer, samples)
            session.receive_audio(samples, arrived_s)
            if stop():
                return

    def _decode(self, frame: bytes) -> np.ndarray:
        samples = self.decoder.decode(frame)
        metrics.AUDIO_RECEIVED_SECONDS.inc(samples.size / SAMPLE_RATE_HZ)
        return samples
