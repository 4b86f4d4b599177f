"""Tests for whisper_stream.server.audio_frames: a large frame is taken in pieces, and stops at a limit."""

from __future__ import annotations

import asyncio

import numpy as np

from client.encoding import encode_float
from tests.fakes import EnergyScorer, silence_s, tone_s
from whisper_stream.audio.decoding import AudioDecoder
from whisper_stream.core.session import Session
from whisper_stream.protocol.config import SessionConfig, StreamingOptions
from whisper_stream.server.audio_frames import PIECE_BYTES, AudioFrames

AUDIO = np.concatenate([silence_s(0.3), tone_s(1.0), silence_s(0.6), tone_s(2.0), silence_s(0.6)] * 8)


def _session(encoding: str, rate: int) -> tuple[Session, AudioFrames]:
    config = SessionConfig(
        streaming=StreamingOptions(encoding=encoding, sample_rate_hz=rate, enable_partial_transcripts=False)
    )
    return Session(config, EnergyScorer()), AudioFrames(AudioDecoder(encoding, rate), EnergyScorer())


def _ingest(frames: AudioFrames, session: Session, frame: bytes, stop=lambda: False) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(frames.ingest(session, frame, 0.0, stop))


def test_a_large_frame_in_pieces_gives_what_small_frames_give() -> None:
    data = encode_float(AUDIO, "pcm_s16le")
    whole, whole_frames = _session("pcm_s16le", 16_000)
    _ingest(whole_frames, whole, data)
    small, small_frames = _session("pcm_s16le", 16_000)
    for offset in range(0, len(data), 4096):
        _ingest(small_frames, small, data[offset : offset + 4096])
    assert whole.audio_duration_s == small.audio_duration_s == AUDIO.size / 16_000
    assert [r.end_sample for r in whole.requests_to_run()] == [r.end_sample for r in small.requests_to_run()]


def test_a_large_frame_stops_taking_audio_at_the_piece_where_a_limit_is_reached() -> None:
    """1 MiB of 8 kHz mu-law is 131 s of audio: the session takes it only up to where stop() says so."""
    data = (encode_float(np.tile(AUDIO, 5)[::2], "pcm_mulaw") * 4)[: 1 << 20]
    session, frames = _session("pcm_mulaw", 8_000)
    _ingest(frames, session, data, stop=lambda: session.audio_duration_s >= 10.0)
    piece_s = PIECE_BYTES / 8_000
    assert 10.0 <= session.audio_duration_s < 10.0 + piece_s + 0.01
