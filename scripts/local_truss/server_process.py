"""The server process: serves an emulated image's app the way ``/app/main.py`` does in the container.

``launch.serve`` execs this file as a script, so it imports only what ``/app/main.py``
would (and the standard library): cwd ``fs/app``, ``sys.path[0]`` ``fs/app``,
``fs/packages`` appended to ``sys.path``, and ``TrussServer`` run with the same
uvicorn settings as ``TrussServer.start()``, except that it listens on 127.0.0.1 and
not 0.0.0.0, and that WebSocket messages are capped at twice the model's ``MAX_FRAME_BYTES``
(2 MiB) instead of truss's 100 MiB (the model lowers the cap of each connection to that in
production too, but only after the handshake: see ``whisper_stream.server.ws_layer``). And
since it checks no API key, it refuses requests from web pages of other origins (403, unless
``ALLOWED_ORIGINS`` allows them: ``whisper_stream.server.origin``); clients that send no
``Origin`` header are unaffected. It prints ``LISTENING_LINE`` once bound and ``SERVING_LINE`` once
``load()`` has finished.

One addition to truss's app: ``GET /metrics`` answers directly (truss mounts the
Prometheus app at ``/metrics/``, and ``/metrics`` is a redirect to it).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn

LISTENING_LINE = "listening on http://{host}:{port}; loading the model…"
SERVING_LINE = "serving on ws://{host}:{port}/v1/websocket"


def _run_built(
    app_dir: Path,
    packages_dir: Path,
    home_dir: Path,
    host: str,
    port: int,
    graceful_timeout: float | None,
) -> int:
    # Same layout as `python3 /app/main.py` with WORKDIR /app.
    os.chdir(app_dir)
    sys.path[0] = str(app_dir)
    # model_wrapper appends the hard-coded "/packages" to sys.path at load time
    # (when config has bundled_packages_dir). Put the emulated one in the same
    # place, at the end, behind site-packages.
    if packages_dir.is_dir():
        sys.path.append(str(packages_dir))

    import asyncio

    import truss_server  # fs/app/truss_server.py
    import uvicorn
    from _truss_shared import log_config

    # On a failed load, the readiness probe touches ~/inference_server_crashed.txt
    # and then SIGKILLs the server. Point that marker at the emulated $HOME.
    truss_server.INFERENCE_SERVER_FAILED_FILE = home_dir / "inference_server_crashed.txt"

    server = truss_server.TrussServer(port, "config.yaml")
    app = server.create_application()
    _answer_metrics_without_redirect(app)
    runtime = server._config.get("runtime") or {}
    transport = runtime.get("transport") or {}
    extra_kwargs = {}
    if transport.get("ping_interval_seconds"):
        extra_kwargs["ws_ping_interval"] = transport["ping_interval_seconds"]
    if transport.get("ping_timeout_seconds"):
        extra_kwargs["ws_ping_timeout"] = transport["ping_timeout_seconds"]
    log_level = "DEBUG" if runtime.get("enable_debug_logs", False) else "INFO"
    settings = _model_settings(server._config)
    max_message_bytes = truss_server.WS_MAX_MSG_SZ_BYTES
    if settings is not None:
        from whisper_stream.server.ws_layer import session_message_cap_bytes

        max_message_bytes = session_message_cap_bytes(settings.limits)
    served = app if settings is None else _refusing_other_origins(app, settings.allowed_origins)
    cfg = uvicorn.Config(
        served,
        http="h11",
        host=host,
        port=port,
        workers=1,
        timeout_graceful_shutdown=(
            truss_server.TIMEOUT_GRACEFUL_SHUTDOWN if graceful_timeout is None else graceful_timeout
        ),
        log_config=log_config.make_log_config(log_level),
        # truss: WS_MAX_MSG_SZ_BYTES (100 MiB). Here no message over twice MAX_FRAME_BYTES is ever buffered, not
        # even one pipelined with the handshake, before the model's own cap applies (whisper_stream.server.ws_layer).
        ws_max_size=max_message_bytes,
        loop="uvloop",
        **extra_kwargs,
    )
    uv_server = uvicorn.Server(config=cfg)
    server._server = uv_server  # what start() does; _shutdown_if_load_fails needs it

    # uvicorn re-raises the signal that stopped it to the handler it replaced.
    # Record it here instead of dying by it, so a clean stop exits with 0.
    stop_signals: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: stop_signals.append(signum))

    async def _serve() -> None:
        task = asyncio.create_task(uv_server.serve())
        await _announce(uv_server, server._model, task, host)
        await task

    try:
        # Like start(): plain asyncio.run, so uvicorn's loop="uvloop" isn't used
        # there either (only Server.run() applies the loop factory).
        asyncio.run(_serve())
    except SystemExit as exc:  # uvicorn exits with 1 when it can't bind
        return exc.code if isinstance(exc.code, int) else 1
    if server._model.load_failed:
        return 1
    return 0


def _model_settings(config):  # Mapping -> whisper_stream.server.settings.Settings | None
    """The model's settings, read as its ``load()`` will read them (its packages are on sys.path), for a
    truss of whisper_stream; None for any other truss."""
    try:
        from whisper_stream.server.settings import Settings
    except ImportError:
        return None
    metadata = config.get("model_metadata")
    return Settings.from_env(metadata=metadata if isinstance(metadata, dict) else None)


def _refusing_other_origins(app, allowed_origins: tuple[str, ...]):  # ASGI app in, ASGI app out
    """No API key is checked here: pages of other web origins are refused (whisper_stream.server.origin)."""
    from whisper_stream.server.origin import OriginCheck

    return OriginCheck(app, allowed_origins=allowed_origins)


async def _announce(uv_server, model, task, host: str) -> None:  # uvicorn.Server, truss's ModelWrapper, asyncio.Task
    """Print the listening line once bound, and the serving line once ``load()`` is done.

    Polls: neither uvicorn's ``started`` nor truss's model status offers an event to await.
    """
    import asyncio

    while not uv_server.started and not task.done():
        await asyncio.sleep(0.02)
    if not uv_server.started:
        return
    bound = uv_server.servers[0].sockets[0].getsockname()[1]
    print(LISTENING_LINE.format(host=host, port=bound), flush=True)
    while not model.ready and not model.load_failed and not task.done():
        await asyncio.sleep(0.05)
    if model.ready:
        print(SERVING_LINE.format(host=host, port=bound), flush=True)


class _AsgiApp:
    """Wraps an ASGI function so Starlette's ``Route`` calls it as an app, not as a request handler."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


def _answer_metrics_without_redirect(app) -> None:
    """``GET /metrics`` serves the Prometheus text itself; truss only mounts it at ``/metrics/``."""
    from prometheus_client import make_asgi_app
    from starlette.routing import Route

    app.router.routes.append(Route("/metrics", endpoint=_AsgiApp(make_asgi_app()), methods=["GET"]))


def main(argv: list[str]) -> NoReturn:
    parser = argparse.ArgumentParser(prog="server_process.py")
    parser.add_argument("--app-dir", type=Path, required=True)
    parser.add_argument("--packages-dir", type=Path, required=True)
    parser.add_argument("--home-dir", type=Path, required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--graceful-timeout", type=float)
    args = parser.parse_args(argv)
    try:
        code = _run_built(args.app_dir, args.packages_dir, args.home_dir, args.host, args.port, args.graceful_timeout)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Don't wait for non-daemon threads: the container dies with its signal too,
    # and model_wrapper's load thread may still be running.
    os._exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
