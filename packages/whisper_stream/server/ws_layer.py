"""The WebSocket layer under ``serve_session``: what it holds before a message reaches us, and a cap on it.

truss's server (``TrussServer.start`` in truss's ``templates/server/truss_server.py``, which the image runs)
starts uvicorn with ``ws_max_size=WS_MAX_MSG_SZ_BYTES``, hard-coded to 100 MiB, and uvicorn's default
WebSocket protocol, which is websockets' sans-I/O ``ServerProtocol`` (``websockets_sansio_impl``, uvicorn's
``auto`` since websockets is installed; uvicorn 0.55 in ``requirements.lock.txt``). That protocol ignores
``ws_max_queue``: it stops reading the socket as soon as one read (at most 256 KiB: asyncio's and uvloop's
read size) completed a message, until the app takes it. So per connection it holds at most one message
being assembled (up to the size cap), the messages the last read completed, and while a message is
unmasked two copies of it. With truss's cap that is some 300 MiB a connection, before our limits apply.

``MessageCap`` lowers the cap of one connection as soon as it is ours, before its config, to twice
``max_frame_bytes`` (``session_message_cap_bytes``). A larger message is refused by the layer itself as its
header arrives, before it is buffered: close 1009, the reason ``frame exceeds limit of M bytes``. The layer
then closes the socket at once, so a client that keeps sending may see a reset (1006) rather than that
close; frames up to twice the limit therefore still reach us and get ``frame_too_large`` with a clean close.
The cap is one from the start, not a lower one until the config: the layer parses every frame of a read as
it arrives, before our code has taken the config, so a frame sent right behind the config would meet the
lower cap or the higher one by timing alone. A frame a client sends right behind its handshake, before
the server's response, can be parsed before any of our code runs, under the cap its connection's protocol
was built with from uvicorn's ``ws_max_size`` (uvicorn's h11 protocol drops what came in the same read as
the upgrade request itself). The first session therefore lowers the server's own cap as well
(``lower_to``): only connections opened before it are bounded by truss's 100 MiB alone.
Where the layer is not one this module knows, ``MessageCap.of`` returns None and the layer's own cap
applies (``memory_bound`` counts either).
"""

from __future__ import annotations

from typing import Any

from whisper_stream.server.limits import Limits

SESSION_HEADROOM = 2
"""The layer takes messages, the config as well, up to this many times ``max_frame_bytes``."""
READ_BYTES = 256 * 1024
"""The most one read of the socket takes (asyncio's ``max_size``; uvloop reads 256,000 bytes)."""


class MessageCap:
    """The message-size cap of one connection's WebSocket protocol (websockets >= 14, sans-I/O)."""

    def __init__(self, protocol: Any, server_config: Any = None) -> None:
        self._protocol = protocol
        self._server_config = server_config  # uvicorn's Config, which every new connection's protocol reads

    @classmethod
    def of(cls, websocket: Any) -> MessageCap | None:
        """The cap of ``websocket`` (Starlette's, as truss hands it over), or None for a layer we do not know."""
        receive = getattr(websocket, "_receive", None)  # Starlette keeps the ASGI receive callable here
        server = getattr(receive, "__self__", None)  # uvicorn's protocol object, whose method it is
        protocol = getattr(server, "conn", None)  # uvicorn's websockets_sansio_impl: websockets' ServerProtocol
        if protocol is None or not isinstance(getattr(protocol, "max_message_size", None), int):
            return None
        config = getattr(server, "config", None)
        return cls(protocol, config if isinstance(getattr(config, "ws_max_size", None), int) else None)

    @property
    def max_bytes(self) -> int:
        return int(self._protocol.max_message_size)

    def lower_to(self, max_bytes: int) -> None:
        """From the next frame on, this connection's messages over ``max_bytes`` are refused by the layer with close
        1009; and so are those of connections opened from now on, from their first frame: the server's own cap
        (uvicorn's ``ws_max_size``, truss's 100 MiB), from which uvicorn builds each connection's protocol as its
        upgrade arrives, is lowered too (where the layer has that setting). Neither cap is ever raised."""
        self._protocol.max_message_size = min(self.max_bytes, max_bytes)
        if self._server_config is not None:
            self._server_config.ws_max_size = min(self._server_config.ws_max_size, max_bytes)


def session_message_cap_bytes(limits: Limits) -> int:
    """The layer's cap on a session's messages: frames over ``max_frame_bytes`` but not over this get our own
    ``frame_too_large`` error and a clean close; larger ones are cut off by the layer."""
    return SESSION_HEADROOM * limits.max_frame_bytes
