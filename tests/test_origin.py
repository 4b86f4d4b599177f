"""Tests for whisper_stream.server.origin: pages of other origins are refused, clients without Origin are not.

In-process: a Starlette app (a WebSocket route and /metrics) wrapped in ``OriginCheck``, served by uvicorn on
127.0.0.1. The real local server (truss's app, wrapped by scripts/serve_local.py) is checked by the slow test.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from whisper_stream.server.origin import OriginCheck


async def _echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(await websocket.receive_text())
    await websocket.close()


async def _metrics(request) -> PlainTextResponse:  # type: ignore[no-untyped-def]
    return PlainTextResponse("whisper_stream_sessions_open 0\n")


@contextlib.contextmanager
def serving(allowed_origins: tuple[str, ...] = ()) -> Iterator[int]:
    app = Starlette(routes=[WebSocketRoute("/v1/websocket", _echo), Route("/metrics", _metrics)])
    server = uvicorn.Server(
        uvicorn.Config(OriginCheck(app, allowed_origins=allowed_origins), log_config=None, lifespan="off")
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)


async def _echo_through(port: int, *, origin: str | None = None, host: str = "127.0.0.1") -> str:
    """A WebSocket echo; ``host`` is the name in the URL (and so in ``Host``), the socket goes to 127.0.0.1."""
    url = f"ws://{host}:{port}/v1/websocket"
    async with connect(url, origin=origin, host="127.0.0.1", port=port) as ws:  # type: ignore[arg-type]
        await ws.send("hello")
        return str(await ws.recv())


def _get(port: int, **headers: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _refused(port: int, *, origin: str | None = None, host: str = "127.0.0.1") -> int:
    with pytest.raises(InvalidStatus) as info:
        asyncio.run(_echo_through(port, origin=origin, host=host))
    return info.value.response.status_code


def test_clients_that_send_no_origin_are_unaffected() -> None:
    with serving() as port:
        assert asyncio.run(_echo_through(port)) == "hello"
        assert asyncio.run(_echo_through(port, host="localhost")) == "hello"
        assert _get(port) == 200


@pytest.mark.parametrize("origin", ["https://evil.example", "http://127.0.0.1:9999", "null", "http://localhost"])
def test_a_page_of_another_origin_is_refused_403(origin: str) -> None:
    with serving() as port:
        assert _refused(port, origin=origin) == 403
        assert _get(port, Origin=origin) == 403


def test_a_rebound_host_name_is_refused_403() -> None:
    """DNS rebinding: same-origin to the browser, so no Origin on a GET, but the attacker's name as Host."""
    with serving() as port:
        assert _get(port, Host=f"rebind.evil.example:{port}") == 403
        assert _refused(port, host="rebind.evil.example") == 403


def test_allowed_origins_may_connect_and_others_still_not() -> None:
    with serving(("http://localhost:3000", "https://app.example.com/")) as port:
        assert asyncio.run(_echo_through(port, origin="http://localhost:3000")) == "hello"
        assert asyncio.run(_echo_through(port, origin="https://APP.example.com")) == "hello"
        assert _get(port, Origin="https://app.example.com", Host="app.example.com") == 200
        assert _refused(port, origin="https://evil.example") == 403


def test_a_star_allows_every_origin_and_host() -> None:
    with serving(("*",)) as port:
        assert asyncio.run(_echo_through(port, origin="https://anything.example")) == "hello"
        assert _get(port, Host="rebind.example") == 200


@pytest.mark.parametrize(
    ("host", "ok"),
    [("127.0.0.1:8080", True), ("localhost", True), ("[::1]:8080", True), ("LOCALHOST:1", True), ("evil:80", False)],
)
def test_host_names(host: str, ok: bool) -> None:
    check = OriginCheck(lambda *a: None)  # type: ignore[arg-type,return-value]
    assert (check.refusal(None, host) is None) is ok


@pytest.mark.slow
def test_the_local_server_refuses_other_origins_and_serves_clients_without_one(server) -> None:  # type: ignore[no-untyped-def]
    port = server.port
    assert _refused(port, origin="https://evil.example") == 403
    assert _get(port, Origin="https://evil.example") == 403
    assert _get(port) == 200
    assert _get(port, Host=f"rebind.evil.example:{port}") == 403
