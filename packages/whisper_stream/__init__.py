"""Streaming speech-to-text: Whisper gated by silero VAD, served over a WebSocket.

The package knows nothing of Truss. ``Session`` is the sans-I/O core;
``Engine`` shares one Whisper model between sessions; ``serve_session`` runs a
session over any WebSocket that looks like Starlette's.
"""

from __future__ import annotations

from whisper_stream.protocol.config import SessionConfig, parse_session_config
from whisper_stream.protocol.errors import CloseCode, StreamingError

__all__ = [
    "CloseCode",
    "SessionConfig",
    "StreamingError",
    "parse_session_config",
]
