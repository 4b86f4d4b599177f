"""The Truss model: one shared engine per replica, one streaming session per WebSocket."""

from __future__ import annotations

import logging
import time
from typing import Any

from whisper_stream.inference.engine import Engine
from whisper_stream.server.drain import Drain, install_signal_handlers
from whisper_stream.server.factory import build_engine
from whisper_stream.server.limits import Limits
from whisper_stream.server.settings import Settings
from whisper_stream.server.websocket import WebSocketLike, serve_session

logger = logging.getLogger(__name__)


class Model:
    def __init__(self, **kwargs: Any) -> None:
        self._config: dict[str, Any] = kwargs.get("config") or {}
        self._lazy_data_resolver = kwargs.get("lazy_data_resolver")
        self._engine: Engine | None = None
        self._limits = Limits()
        self._drain: Drain | None = None

    def load(self) -> None:
        """Ready when it returns: weights present, model loaded and warmed up, or an error raised."""
        if self._lazy_data_resolver is not None:
            # model_cache with use_volume: the weights may still be arriving.
            started = time.perf_counter()
            self._lazy_data_resolver.block_until_download_complete()
            logger.info("model_cache weights present after %.1f s", time.perf_counter() - started)
        settings = Settings.from_env(metadata=self._config.get("model_metadata"))
        self._limits = settings.limits
        self._engine = build_engine(settings)

    async def websocket(self, websocket: WebSocketLike) -> None:
        assert self._engine is not None, "load() has not run"
        if self._drain is None:  # on the server's event loop: on SIGTERM, finish open sessions first
            self._drain = Drain()
            install_signal_handlers(self._drain, timeout_s=self._limits.drain_timeout_s)
        await serve_session(websocket, self._engine, limits=self._limits, drain=self._drain)
