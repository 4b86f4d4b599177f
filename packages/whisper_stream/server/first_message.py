"""A connection's first message, the session config: read within ``config_timeout_s``, or given up on.

A connection waiting for its config holds no session slot (``admission``); it can be evicted meanwhile, when
too many others wait for theirs, which ends the wait at once with ``limit_exceeded``.
"""

from __future__ import annotations

import asyncio
import contextlib

from whisper_stream.inference.transcriber import Transcriber
from whisper_stream.protocol.config import SessionConfig, parse_session_config
from whisper_stream.protocol.errors import ConfigError, LimitExceededError
from whisper_stream.server.limits import Limits
from whisper_stream.server.socket_events import EventKind, WebSocketLike, disconnected, unpack


async def receive_config(websocket: WebSocketLike, limits: Limits, evicted: asyncio.Event) -> SessionConfig:
    """The parsed config; ``evicted`` set while waiting ends the wait with ``LimitExceededError``."""
    receiving = asyncio.ensure_future(websocket.receive())
    evicting = asyncio.ensure_future(evicted.wait())
    try:
        await asyncio.wait({receiving, evicting}, timeout=limits.config_timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (receiving, evicting):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    if not receiving.done() or receiving.cancelled():
        if evicted.is_set():
            raise LimitExceededError(
                f"no config yet, and {limits.max_awaiting_config} newer connections wait for theirs: "
                "send the config as the first message, at once"
            )
        raise LimitExceededError(f"no config received within {limits.config_timeout_s:g} s")
    kind, payload = unpack(receiving.result())
    if kind is EventKind.DISCONNECT:
        raise disconnected(payload, "before the config")
    if kind is EventKind.AUDIO:
        raise ConfigError("config", "the first message must be the JSON config as text; audio came first")
    return parse_session_config(payload)


def check_model_supports(config: SessionConfig, transcriber: Transcriber) -> None:
    """An English-only model takes only ``en`` (or ``auto``) as the language and among the options."""
    if transcriber.is_multilingual:
        return
    language = config.whisper.audio_language
    if language not in ("en", "auto"):
        raise ConfigError(config.field_path("whisper.audio_language"), f"this model is English-only, got {language!r}")
    others = [code for code in config.whisper.language_options if code != "en"]
    if others:
        raise ConfigError(config.field_path("whisper.language_options"), f"this model is English-only, got {others!r}")
