"""Tests for whisper_stream.server.memory_bound, and the facts about truss's server it rests on.

The bound is measured against the real server's RSS by ``bench/memory_bound.py`` (docs/performance.md).
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest
import truss
import uvicorn

from tests.fakes import EnergyScorer
from whisper_stream.core.buffer import SampleBuffer
from whisper_stream.core.session import Session
from whisper_stream.protocol.config import SessionConfig, StreamingOptions
from whisper_stream.server.limits import Limits
from whisper_stream.server.memory_bound import (
    BYTES_PER_SECOND,
    buffer_storage_samples,
    memory_bound,
    websocket_layer_bytes,
)
from whisper_stream.server.ws_layer import READ_BYTES, session_message_cap_bytes

MiB = 1 << 20
TRUSS_SERVER = Path(truss.__file__).parent / "templates" / "server" / "truss_server.py"


def test_the_default_bound_term_by_term() -> None:
    session_bytes = session_message_cap_bytes(Limits())
    assert session_bytes == 2 * MiB
    bound = memory_bound(Limits(), message_bytes=session_bytes)
    terms = bound.per_session
    assert terms["websocket_layer"] == 4 * MiB + READ_BYTES
    assert terms["read_ahead"] == 3 * MiB
    assert terms["sample_buffer"] == (128 + 64) * 16_000 * 4  # 61 s held: storage of 128 s, and the 64 s before
    # a partial (30 s), a speculative final (30 s), finals waiting (60 + 30 + 2.05 s) and the first one's 29 s
    assert terms["requests"] == pytest.approx((30 + 30 + 92.048 + 29) * BYTES_PER_SECOND, rel=1e-4)
    assert 32e6 < bound.session_bytes < 33e6
    assert bound.per_config_wait == terms["websocket_layer"]  # the layer's cap is one from the start (ws_layer)
    assert 400e6 < bound.replica_bytes(8, 32) < 410e6


def test_without_context_the_bound_is_smaller() -> None:
    with_context = memory_bound(Limits(), message_bytes=MiB)
    alone = memory_bound(Limits(final_context_s=0), message_bytes=MiB)
    assert alone.session_bytes <= with_context.session_bytes - 29 * BYTES_PER_SECOND


@pytest.mark.parametrize("held_s", [0.5, 10, 31.9, 32.1, 61.05, 63.9])
def test_buffer_storage_is_what_sample_buffer_grows_to(held_s: float) -> None:
    """Drive a real SampleBuffer through every append/trim pattern a session makes, never holding more than
    ``held_s``: its storage never passes the computed bound."""
    held = int(held_s * 16_000)
    buffer = SampleBuffer()
    rng = np.random.default_rng(0)
    for _ in range(3000):
        buffer.append(np.zeros(int(rng.integers(1, 32_768)), dtype=np.float32))
        if len(buffer) > held:
            buffer.drop_before(buffer.end - held + int(rng.integers(0, held // 2 + 1)))
        assert len(buffer) <= held + 32_768
    assert buffer._data.size <= buffer_storage_samples(held + 32_768)


def test_a_session_fed_endlessly_holds_no_more_than_the_bound_says() -> None:
    """Ten minutes of 'speech' with short pauses, nothing ever answered: the session's buffer stays within
    the utterance plus the context (its requests hold the rest, counted apart)."""
    config = SessionConfig(streaming=StreamingOptions(enable_partial_transcripts=False))
    session = Session(config, EnergyScorer(), context_s=29.0)
    tone = (0.3 * np.sin(np.arange(16_000 * 4) / 16_000 * 2 * np.pi * 220)).astype(np.float32)
    audio = np.concatenate([tone, np.zeros(8_000, dtype=np.float32)])
    for i in range(150):
        session.receive_audio(audio, now_s=i * 4.5)
        assert session.buffered_samples <= (30 + 29 + 2.05) * 16_000


# ------------------------------------------------------------------ what truss's server does (its own source)


def _truss_constant(name: str) -> int:
    tree = ast.parse(TRUSS_SERVER.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return int(eval(compile(ast.Expression(node.value), str(TRUSS_SERVER), "eval")))  # a constant expression
    raise AssertionError(f"{name} not in {TRUSS_SERVER}")


def test_truss_caps_websocket_messages_at_100_mib_and_passes_no_queue_setting() -> None:
    """What ws_layer and memory_bound assume of the production server: truss_server.TrussServer.start()."""
    assert _truss_constant("WS_MAX_MSG_SZ_BYTES") == 100 * MiB
    start = TRUSS_SERVER.read_text().split("def start(self)")[1].split("\n    def ")[0]
    assert "ws_max_size=WS_MAX_MSG_SZ_BYTES" in start
    assert "ws_max_queue" not in start and "ws=" not in start  # uvicorn's default protocol, default queue


def test_uvicorns_default_websocket_protocol_pauses_reading_once_a_message_waits() -> None:
    """uvicorn's "auto" protocol is websockets' sans-I/O one, which holds what one read completed and then
    stops reading until the app takes a message (and never looks at ws_max_queue)."""
    from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    assert AutoWebSocketsProtocol is WebSocketsSansIOProtocol
    source = inspect.getsource(WebSocketsSansIOProtocol)
    queued = source.split("def send_receive_event_to_app")[1].split("\n    def ")[0]
    assert "self.transport.pause_reading()" in queued
    assert "max_queue" not in source
    assert tuple(int(p) for p in uvicorn.__version__.split(".")[:2]) >= (0, 35)


def test_the_websocket_layer_term() -> None:
    assert websocket_layer_bytes(100 * MiB) == 200 * MiB + READ_BYTES
