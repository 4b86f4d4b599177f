"""Streamer for the streaming Whisper WebSocket server: microphone or file in, transcripts out.

Run it as ``python -m client --help``. From code::

    result = await stream(StreamerOptions(url=...), FileSource("speech.wav"))

The public names are imported on first use, so ``python -m client`` can say in
one line that the project's packages are missing (``client/__main__.py``)
instead of failing inside this import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from client.errors import StreamError
    from client.messages import Final, Segment, StreamResult
    from client.mic import MicSource
    from client.options import SessionConfig, StreamerOptions
    from client.sources import AudioSource, FileSource
    from client.streamer import stream

_WHERE = {
    "AudioSource": "client.sources",
    "FileSource": "client.sources",
    "Final": "client.messages",
    "MicSource": "client.mic",
    "Segment": "client.messages",
    "SessionConfig": "client.options",
    "StreamError": "client.errors",
    "StreamResult": "client.messages",
    "StreamerOptions": "client.options",
    "stream": "client.streamer",
}
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


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'client' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
