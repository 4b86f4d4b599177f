"""Tests for whisper_stream.server.ws_layer: finding the WebSocket layer's message cap, and lowering it.

End to end (a frame over the cap refused by the layer with 1009 before it is buffered): tests/test_server_bad_input.py.
"""

from __future__ import annotations

from types import SimpleNamespace

import uvicorn
from websockets.server import ServerProtocol

from whisper_stream.server.ws_layer import MessageCap


def _starlette_like(protocol: object, config: object = None) -> SimpleNamespace:
    """Starlette's WebSocket keeps uvicorn's bound ``receive``; uvicorn's protocol keeps websockets' in ``conn``
    and the server's Config, from which it was built, in ``config``."""

    class UvicornProtocol:
        conn = protocol

        async def receive(self) -> dict:
            return {}

    UvicornProtocol.config = config  # type: ignore[attr-defined]
    return SimpleNamespace(_receive=UvicornProtocol().receive)


def test_the_cap_of_a_websockets_server_protocol_is_found_and_lowered() -> None:
    protocol = ServerProtocol(max_size=100 << 20)
    cap = MessageCap.of(_starlette_like(protocol))
    assert cap is not None and cap.max_bytes == 100 << 20
    cap.lower_to(65_536)
    assert protocol.max_message_size == 65_536 and cap.max_bytes == 65_536
    cap.lower_to(1 << 20)
    assert protocol.max_message_size == 65_536  # never raised


def test_a_layer_it_does_not_know_is_left_alone() -> None:
    assert MessageCap.of(object()) is None
    assert MessageCap.of(SimpleNamespace(_receive=lambda: None)) is None
    assert MessageCap.of(_starlette_like(SimpleNamespace(max_message_size=None))) is None


def test_the_servers_own_cap_is_lowered_for_new_connections_never_raised() -> None:
    """uvicorn builds each new connection's protocol from Config.ws_max_size as its upgrade arrives."""
    config = uvicorn.Config(app=None, ws_max_size=100 << 20)
    cap = MessageCap.of(_starlette_like(ServerProtocol(max_size=100 << 20), config))
    assert cap is not None
    cap.lower_to(2 << 20)
    assert config.ws_max_size == 2 << 20
    cap.lower_to(4 << 20)
    assert config.ws_max_size == 2 << 20


def test_a_server_without_that_setting_is_left_alone() -> None:
    server = SimpleNamespace(ws_max_size=None)
    cap = MessageCap.of(_starlette_like(ServerProtocol(max_size=100 << 20), server))
    assert cap is not None
    cap.lower_to(2 << 20)  # the connection's cap only, and no error
    assert cap.max_bytes == 2 << 20 and server.ws_max_size is None
