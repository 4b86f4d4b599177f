"""Streamer for the streaming Whisper WebSocket server: microphone or file in, transcripts out.

Run it as ``python -m client --help``. From code::

    result = await stream(StreamerOptions(url=...), FileSource("speech.wav"))
"""

from __future__ import annotations

from client.errors import StreamError
from client.messages import Final, Segment, StreamResult
from client.mic import MicSource
from client.options import SessionConfig, StreamerOptions
from client.sources import AudioSource, FileSource
from client.streamer import stream

__all__ = [
    "AudioSource",
    "FileSource",
    "Final",
    "MicSource",
    "Segment",
    "SessionConfig",
    "StreamError",
    "StreamResult",
    "StreamerOptions",
    "stream",
]
