#!/usr/bin/env python
"""Serve a Truss model locally with truss's own production inference server.

No Docker is needed. This mirrors what the Baseten image does:

1. Stage the parts of the truss that end up in the image (config.yaml, the model
   dir, the bundled packages dir, the data dir, a requirements file,
   .truss_ignore) into ``<build-dir>/truss``. Packages from
   ``external_package_dirs`` are merged into the staged packages dir the way
   ``truss push`` does (truss_gatherer). Staging keeps truss from copying the
   whole repo, and keeps it from copying the build dir into itself. The staged
   config.yaml drops ``model_cache`` and the GPU request (see
   ``_localize_config``).
2. Render the Docker build context with truss's
   ``ServingImageBuilderContext(...).prepare_image_build_dir`` into
   ``<build-dir>/context``.
3. Replay that Dockerfile with truss's ``DockerBuildEmulator`` into the emulated
   root ``<build-dir>/fs``. It handles COPY, ENV and WORKDIR and skips RUN, so
   nothing is pip-installed: the venv running this script already has truss's
   server requirements. The result is ``fs/app`` (server code, ``model/``,
   ``config.yaml``, ``data/``) and ``fs/packages`` (the bundled packages dir).
4. exec a fresh interpreter that serves the app the way ``/app/main.py`` does
   in the container: cwd ``fs/app``, ``sys.path[0]`` ``fs/app``,
   ``fs/packages`` appended to ``sys.path``, and ``TrussServer`` run with the
   same uvicorn settings as ``TrussServer.start()``, except that it listens on
   127.0.0.1 and not 0.0.0.0, and that WebSocket messages are capped at twice the
   model's ``MAX_FRAME_BYTES`` (2 MiB) instead of truss's 100 MiB (the model
   lowers the cap of each connection to that in production too, but only after
   the handshake: see ``whisper_stream.server.ws_layer``). And since it checks no
   API key, it refuses requests from web pages of other origins (403, unless
   ``ALLOWED_ORIGINS`` allows them: ``whisper_stream.server.origin``); clients
   that send no ``Origin`` header are unaffected.

CLI::

    python scripts/serve_local.py [--port 8080] [--truss-dir .] [--build-dir .build/truss]

``--port`` defaults to ``$PORT``, or 8080 when that is unset. ``--port 0`` picks
a free port. A busy port, or a build dir another ``serve_local`` is serving
from, fails at once with one line, before anything is rebuilt. The server prints
``listening on http://127.0.0.1:PORT; loading the model…`` once it is
listening, and ``serving on ws://127.0.0.1:PORT/v1/websocket`` once ``load()``
has finished (truss's ``Completed model.load()``). ``GET /v1/models/model``
returns 503 until then and 200 after it. Ctrl-C or SIGTERM shuts it down
gracefully and it exits with status 0.

One addition to truss's app: ``GET /metrics`` answers directly (truss mounts
the Prometheus app at ``/metrics/``, and ``/metrics`` is a redirect to it).

For tests, ``start_server(truss_dir, ...)`` runs this script as a subprocess
on a free port and waits until the model is ready. See its docstring.
"""

import argparse
import contextlib
import dataclasses
import errno
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NoReturn

HOST = "127.0.0.1"
DEFAULT_PORT = 8080
SCRIPT_PATH = Path(__file__).resolve()
LISTENING_LINE = "listening on http://{host}:{port}; loading the model…"
SERVING_LINE = "serving on ws://{host}:{port}/v1/websocket"
_LISTENING_RE = re.compile(r"listening on http://127\.0\.0\.1:(\d+);")
# uvicorn's bind failure, or main()'s own check of the port
_ADDRESS_IN_USE_RE = re.compile(r"\[Errno 98\]|address already in use|port \d+ on 127\.0\.0\.1 is busy", re.IGNORECASE)
LOCK_NAME = "serve.lock"
_CHILD_FLAG = "--_serve-built"

# Dockerfile ENV entries that make no sense outside the image, or that the
# emulator can't resolve (it leaves `${HOME:-/root}` and similar as is).
_IMAGE_ENV_SKIP = frozenset({"HOME", "PATH", "SERVER_START_CMD"})


# --------------------------------------------------------------------------
# Build: stage -> docker context -> emulated filesystem
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BuiltTruss:
    """Paths and env of an emulated truss image under ``build_dir``."""

    build_dir: Path
    fs_root: Path  # the image's "/"
    app_dir: Path  # /app: WORKDIR, server code, model/, config.yaml, data/
    packages_dir: Path  # /packages: the truss's bundled_packages_dir
    home_dir: Path  # /root: $HOME in the image (only the crash marker goes here)
    image_env: dict[str, str]  # Dockerfile ENV, absolute paths mapped into fs_root
    config_env: dict[str, str]  # config.yaml `environment_variables`


def default_build_dir(truss_dir: Path) -> Path:
    return Path(truss_dir) / ".build" / "truss"


def _copy_filtered(src_root: Path, dest_root: Path, patterns: list[str]) -> None:
    from truss.util.path import walk_filtered

    dest_root.mkdir(parents=True, exist_ok=True)
    for dirpath, dirs, filenames in walk_filtered(src_root, patterns):
        rel = Path(dirpath).relative_to(src_root)
        for d in dirs:
            (dest_root / rel / d).mkdir(parents=True, exist_ok=True)
        for name in filenames:
            src = Path(dirpath) / name
            if src.is_symlink() and not src.exists():
                print(f"serve_local: skipping broken symlink {rel / name}", file=sys.stderr)
                continue
            shutil.copy2(src, dest_root / rel / name)


def _stage_truss(truss_dir: Path, stage_dir: Path, build_dir: Path) -> None:
    """Copy only what the serving image uses from ``truss_dir`` to ``stage_dir``."""
    from truss.base.truss_config import TrussConfig
    from truss.util.path import load_trussignore_patterns

    config = TrussConfig.from_yaml(truss_dir / "config.yaml")
    if config.docker_server is not None or config.live_reload:
        raise SystemExit(
            "serve_local: only the default TrussServer image is supported (no docker_server, no live_reload)"
        )
    tops = {"config.yaml", ".truss_ignore"}
    for rel in (config.model_module_dir, config.bundled_packages_dir, config.data_dir):
        tops.add(Path(rel).parts[0])
    if config.requirements_file:
        tops.add(Path(config.requirements_file).parts[0])
        if Path(config.requirements_file).name == "uv.lock":
            tops.add("pyproject.toml")
    for top in sorted(tops):
        top_path = (truss_dir / top).resolve()
        if build_dir == top_path or top_path in build_dir.parents:
            raise SystemExit(f"serve_local: build dir {build_dir} is inside {top_path}")
    # "/*" drops every top-level entry, the negations take back the ones the
    # image uses, then truss's default .truss_ignore drops caches etc. inside
    # them. The user's .truss_ignore is applied later by truss's image builder.
    patterns = ["/*", *(f"!/{top}" for top in sorted(tops)), *load_trussignore_patterns()]
    _copy_filtered(truss_dir, stage_dir, patterns)

    # Like truss_gatherer.gather(): the *contents* of each external package dir
    # go into the bundled packages dir.
    packages = stage_dir / config.bundled_packages_dir
    for ext in config.external_package_dirs:
        ext_path = Path(ext) if Path(ext).is_absolute() else truss_dir / ext
        if not ext_path.is_dir():
            raise SystemExit(f"serve_local: external package dir {ext_path} is not a directory")
        _copy_filtered(ext_path, packages, load_trussignore_patterns())

    dropped = _localize_config(stage_dir / "config.yaml")
    if dropped:
        print(
            "serve_local: the local run (the bundled tiny.en on the CPU, unless WHISPER_MODEL or WHISPER_DEVICE"
            f" say otherwise) ignores these production settings: {', '.join(dropped)}",
            file=sys.stderr,
        )


# The production weights live in /app/model_cache and want a GPU; a local run uses
# the bundled tiny.en on the CPU with the library's CPU defaults (beam size,
# workers, session cap, finals in context). Environment variables still win over these.
_LOCAL_METADATA = {"whisper_model": "bundled", "whisper_device": "cpu"}
_GPU_ONLY_METADATA = (
    "whisper_model",
    "whisper_device",
    "whisper_beam_size",
    "decode_workers",
    "max_batch_size",
    "max_sessions",
    "final_context_s",
)


def _localize_config(config_path: Path) -> list[str]:
    """Drop the config parts that only make sense on Baseten, in the staged copy.

    ``model_cache`` makes truss's image builder fetch repo metadata from
    Hugging Face (for the bptr manifest), and the weights would go to
    ``/app/model_cache`` at runtime, which a local run doesn't have. The GPU
    request (``resources.accelerator``/``use_gpu``/``instance_type``) only picks
    the base image and the instance. The model settings in ``model_metadata``
    switch to the bundled tiny.en on the CPU, and the container's
    ``LD_LIBRARY_PATH`` is dropped. Returns what was dropped.
    """
    import yaml

    raw = yaml.safe_load(config_path.read_text()) or {}
    dropped = []
    if raw.get("model_cache"):
        dropped.append("model_cache")
    raw.pop("model_cache", None)
    resources = raw.get("resources") or {}
    for key in ("accelerator", "use_gpu", "instance_type"):
        if resources.get(key):
            dropped.append(f"resources.{key}")
        resources.pop(key, None)
    metadata = raw.get("model_metadata") or {}
    for key in _GPU_ONLY_METADATA:
        if key in metadata:
            dropped.append(f"model_metadata.{key}")
            metadata.pop(key)
    metadata.update(_LOCAL_METADATA)
    raw["model_metadata"] = metadata
    environment = raw.get("environment_variables") or {}
    if environment.pop("LD_LIBRARY_PATH", None) is not None:
        dropped.append("environment_variables.LD_LIBRARY_PATH")
    if raw.get("external_data"):
        print("serve_local: warning: external_data is not downloaded locally", file=sys.stderr)
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return dropped


def _clean_image_env(raw: Mapping[str, str], fs_root: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for key, value in raw.items():
        if key in _IMAGE_ENV_SKIP or "$" in value:
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if '"' in value:  # the emulator split a quoted value with spaces
            continue
        if value.startswith("/") and (fs_root / value.lstrip("/")).exists():
            value = str(fs_root / value.lstrip("/"))
        env[key] = value
    return env


def build(truss_dir: Path | str, build_dir: Path | str | None = None) -> BuiltTruss:
    """Build the emulated image fs for ``truss_dir`` under ``build_dir``.

    ``build_dir`` defaults to ``<truss_dir>/.build/truss``. Its ``truss/``,
    ``context/`` and ``fs/`` subdirs are wiped and written again. Nothing else
    in it is touched.
    """
    import yaml
    from truss.contexts.image_builder.serving_image_builder import (
        ServingImageBuilderContext,
    )
    from truss.contexts.local_loader.docker_build_emulator import DockerBuildEmulator

    truss_dir = Path(truss_dir).resolve()
    build_dir = (Path(build_dir) if build_dir else default_build_dir(truss_dir)).resolve()
    if not (truss_dir / "config.yaml").is_file():
        raise SystemExit(f"serve_local: no config.yaml in {truss_dir}")
    stage_dir, context_dir, fs_root = (build_dir / n for n in ("truss", "context", "fs"))
    for d in (stage_dir, context_dir, fs_root):
        if d.exists():
            shutil.rmtree(d)
    build_dir.mkdir(parents=True, exist_ok=True)

    _stage_truss(truss_dir, stage_dir, build_dir)
    context_dir.mkdir()
    ServingImageBuilderContext.run(stage_dir).prepare_image_build_dir(context_dir)
    fs_root.mkdir()
    # The emulator strips the leading "/" of every COPY destination, so all of
    # its writes (/app, /packages, ...) land inside fs_root.
    result = DockerBuildEmulator(context_dir / "Dockerfile", context_dir).run(fs_root)

    app_dir = fs_root / result.workdir.relative_to("/")
    if not (app_dir / "truss_server.py").is_file():
        raise SystemExit(f"serve_local: emulated image has no {app_dir}/truss_server.py")
    home_dir = fs_root / "root"
    home_dir.mkdir(exist_ok=True)
    config = yaml.safe_load((app_dir / "config.yaml").read_text()) or {}
    config_env = {str(k): str(v) for k, v in (config.get("environment_variables") or {}).items() if v is not None}
    return BuiltTruss(
        build_dir=build_dir,
        fs_root=fs_root,
        app_dir=app_dir,
        packages_dir=fs_root / "packages",
        home_dir=home_dir,
        image_env=_clean_image_env(result.env, fs_root),
        config_env=config_env,
    )


def server_env(built: BuiltTruss, port: int, base_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for the server process.

    Precedence, lowest first: local defaults (``PYTHONUNBUFFERED=1``,
    ``DISABLE_JSON_LOGGING=true``), the image's Dockerfile ENV, config.yaml
    ``environment_variables`` (set on the pod by Baseten, and set on the
    container by ``truss``'s own docker run), and then ``base_env`` (default
    ``os.environ``), so a caller's explicit ``WHISPER_MODEL=...`` wins.
    ``PYTHONPATH`` is dropped because the image doesn't set one. Otherwise the
    source tree could hide a broken ``packages/`` bundle.
    """
    env = {"PYTHONUNBUFFERED": "1", "DISABLE_JSON_LOGGING": "true"}
    env.update(built.image_env)
    env.update(built.config_env)
    env.update(os.environ if base_env is None else base_env)
    env.pop("PYTHONPATH", None)
    env["INFERENCE_SERVER_PORT"] = str(port)
    return env


def serve(built: BuiltTruss, port: int, graceful_timeout: float | None = None) -> NoReturn:
    """Replace this process with the server for ``built`` (does not return)."""
    argv = [
        sys.executable,
        str(SCRIPT_PATH),
        _CHILD_FLAG,
        "--app-dir", str(built.app_dir),
        "--packages-dir", str(built.packages_dir),
        "--home-dir", str(built.home_dir),
        "--port", str(port),
    ]  # fmt: skip
    if graceful_timeout is not None:
        argv += ["--graceful-timeout", str(graceful_timeout)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, server_env(built, port))


# --------------------------------------------------------------------------
# Server process (runs after exec, imports only what /app/main.py would)
# --------------------------------------------------------------------------


def _run_built(
    app_dir: Path,
    packages_dir: Path,
    home_dir: Path,
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
    settings = _model_settings(server._config)
    max_message_bytes = truss_server.WS_MAX_MSG_SZ_BYTES
    if settings is not None:
        from whisper_stream.server.ws_layer import session_message_cap_bytes

        max_message_bytes = session_message_cap_bytes(settings.limits)
    served = app if settings is None else _refusing_other_origins(app, settings.allowed_origins)
    runtime = server._config.get("runtime") or {}
    transport = runtime.get("transport") or {}
    extra_kwargs = {}
    if transport.get("ping_interval_seconds"):
        extra_kwargs["ws_ping_interval"] = transport["ping_interval_seconds"]
    if transport.get("ping_timeout_seconds"):
        extra_kwargs["ws_ping_timeout"] = transport["ping_timeout_seconds"]
    log_level = "DEBUG" if runtime.get("enable_debug_logs", False) else "INFO"
    cfg = uvicorn.Config(
        served,
        http="h11",
        host=HOST,
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
        await _announce(uv_server, server._model, task)
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


def _model_settings(config: Mapping[str, object]):  # -> whisper_stream.server.settings.Settings | None
    """The model's settings, read as its ``load()`` will read them (its packages are on sys.path), for a
    truss of whisper_stream; None for any other truss."""
    try:
        from whisper_stream.server.settings import Settings
    except ImportError:
        return None
    metadata = config.get("model_metadata")
    return Settings.from_env(metadata=metadata if isinstance(metadata, Mapping) else None)


def _refusing_other_origins(app, allowed_origins: tuple[str, ...]):  # ASGI app in, ASGI app out
    """No API key is checked here: pages of other web origins are refused (whisper_stream.server.origin)."""
    from whisper_stream.server.origin import OriginCheck

    return OriginCheck(app, allowed_origins=allowed_origins)


async def _announce(uv_server, model, task) -> None:  # uvicorn.Server, truss's ModelWrapper, asyncio.Task
    """Print the listening line once bound, and the serving line once ``load()`` is done.

    Polls: neither uvicorn's ``started`` nor truss's model status offers an event to await.
    """
    import asyncio

    while not uv_server.started and not task.done():
        await asyncio.sleep(0.02)
    if not uv_server.started:
        return
    bound = uv_server.servers[0].sockets[0].getsockname()[1]
    print(LISTENING_LINE.format(host=HOST, port=bound), flush=True)
    while not model.ready and not model.load_failed and not task.done():
        await asyncio.sleep(0.05)
    if model.ready:
        print(SERVING_LINE.format(host=HOST, port=bound), flush=True)


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


def _child_main(argv: list[str]) -> NoReturn:
    parser = argparse.ArgumentParser(prog="serve_local.py " + _CHILD_FLAG)
    parser.add_argument("--app-dir", type=Path, required=True)
    parser.add_argument("--packages-dir", type=Path, required=True)
    parser.add_argument("--home-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--graceful-timeout", type=float)
    args = parser.parse_args(argv)
    try:
        code = _run_built(args.app_dir, args.packages_dir, args.home_dir, args.port, args.graceful_timeout)
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


# --------------------------------------------------------------------------
# Test helper
# --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether the server could bind ``port`` on 127.0.0.1 now (with SO_REUSEADDR, as uvicorn does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def next_free_port(after: int) -> int:
    """The first free port above ``after`` (a suggestion for the user; another process may take it)."""
    for port in range(after + 1, min(after + 100, 65536)):
        if port_is_free(port):
            return port
    return free_port()


class PortBusyError(RuntimeError):
    """The port is taken by another process; nothing of ours was started on it."""

    def __init__(self, port: int) -> None:
        super().__init__(f"port {port} on {HOST} is busy")
        self.port = port


def lock_build_dir(build_dir: Path) -> int:
    """Hold ``<build_dir>/serve.lock`` for this process and the server it execs; returns the fd.

    Raises ``SystemExit`` with one line when another ``serve_local`` holds it, so
    a second server never rebuilds ``fs/`` under a running one.
    """
    build_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(build_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SystemExit(
            f"serve_local: another server is running from {build_dir}; stop it first or give --build-dir"
        ) from None
    os.set_inheritable(fd, True)  # kept across the exec into the server
    return fd


@dataclasses.dataclass
class LocalServer:
    """A running ``serve_local.py`` subprocess (see ``start_server``)."""

    process: subprocess.Popen
    build_dir: Path
    log_path: Path
    requested_port: int = 0
    port: int | None = None  # known once the server prints its listening line

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}/v1/websocket"

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ready_url(self) -> str:
        return f"{self.http_url}/v1/models/model"

    @property
    def fs_root(self) -> Path:
        return self.build_dir / "fs"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def readiness(self) -> int | None:
        """HTTP status of GET /v1/models/model, None when there's no answer.

        Only our own server counts: the port is the one it printed as listening
        on, so a foreign server on a busy port never looks ready.
        """
        if self.port is None:
            match = _LISTENING_RE.search(self.log_text())
            if not match:
                return None
            self.port = int(match.group(1))
        try:
            with urllib.request.urlopen(self.ready_url, timeout=2) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (urllib.error.URLError, OSError):
            return None

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Block until readiness is 200. Raises RuntimeError (with the log) if
        the process exits or ``timeout`` runs out first; ``PortBusyError`` if
        it exited because its port was taken."""
        deadline = time.monotonic() + timeout
        while True:
            if self.readiness() == 200:
                return
            rc = self.process.poll()
            if rc is not None:
                if self.requested_port and _ADDRESS_IN_USE_RE.search(self.log_text()):
                    raise PortBusyError(self.requested_port)
                raise RuntimeError(f"truss server exited with {rc} before it was ready; log:\n{self.log_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"truss server not ready after {timeout:.0f}s; log:\n{self.log_text()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> int:
        """Send ``sig``, wait up to ``timeout`` s, then SIGKILL. Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@contextlib.contextmanager
def start_server(
    truss_dir: Path | str,
    port: int = 0,
    *,
    build_dir: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    wait_ready: bool = True,
    ready_timeout: float = 120.0,
    stop_timeout: float = 15.0,
    graceful_timeout: float | None = None,
    own_process_group: bool = True,
) -> Iterator[LocalServer]:
    """Run ``serve_local.py`` on ``truss_dir`` as a subprocess.

    ``port=0`` lets the server pick a free port (no race). ``server.port`` holds
    the port it printed as listening on. A busy ``port`` raises ``PortBusyError``
    at once, and again if the server fails to bind it later (a race): another
    process's server is never taken for ours. With ``own_process_group`` (the
    default) the server does not get the terminal's Ctrl-C: the caller stops it
    when the ``with`` block ends. ``env`` is laid over ``os.environ`` and wins
    over config.yaml ``environment_variables``. ``build_dir`` defaults to a
    temp dir that is removed afterwards. Output goes to
    ``<build_dir>/server.log`` (``server.log_text()``). With ``wait_ready``
    (the default) it blocks until ``GET /v1/models/model`` returns 200, and
    raises RuntimeError, after stopping the process, if the server dies or
    ``ready_timeout`` runs out. On exit it sends SIGTERM, waits
    ``stop_timeout`` s, then SIGKILLs. ``server.process.returncode`` is 0
    after a clean stop.
    """
    if port and not port_is_free(port):
        raise PortBusyError(port)
    with contextlib.ExitStack() as stack:
        if build_dir is None:
            build_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="truss-serve-"))
        build_dir = Path(build_dir).resolve()
        build_dir.mkdir(parents=True, exist_ok=True)
        log_path = build_dir / "server.log"
        log_file = stack.enter_context(log_path.open("wb"))
        cmd = [
            sys.executable,
            str(SCRIPT_PATH),
            "--port", str(port),
            "--truss-dir", str(Path(truss_dir).resolve()),
            "--build-dir", str(build_dir),
        ]  # fmt: skip
        if graceful_timeout is not None:
            cmd += ["--graceful-timeout", str(graceful_timeout)]
        proc = subprocess.Popen(
            cmd,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=own_process_group,
        )
        server = LocalServer(process=proc, build_dir=build_dir, log_path=log_path, requested_port=port)
        try:
            if wait_ready:
                server.wait_ready(ready_timeout)
            yield server
        finally:
            server.stop(stop_timeout)


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == _CHILD_FLAG:
        _child_main(argv[1:])
    parser = argparse.ArgumentParser(
        description="Serve a truss on 127.0.0.1 with truss's production server, no Docker."
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT") or DEFAULT_PORT),
        help="port to listen on; 0 picks a free one (default: $PORT or 8080)",
    )
    parser.add_argument("--truss-dir", type=Path, default=Path("."), help="default: .")
    parser.add_argument("--build-dir", type=Path, help="default: <truss-dir>/.build/truss")
    parser.add_argument(
        "--graceful-timeout",
        type=float,
        help="seconds uvicorn waits for open connections on shutdown "
        "(default: truss's TIMEOUT_GRACEFUL_SHUTDOWN, 3600; a second Ctrl-C forces)",
    )
    args = parser.parse_args(argv)
    if args.port and not port_is_free(args.port):
        raise SystemExit(
            f"serve_local: port {args.port} on {HOST} is busy (another server?); "
            f"stop it or pick another, e.g. `make serve PORT={next_free_port(args.port)}`"
        )
    build_dir = (args.build_dir or default_build_dir(args.truss_dir)).resolve()
    lock_build_dir(build_dir)
    start = time.monotonic()
    built = build(args.truss_dir, build_dir)
    print(
        f"serve_local: built {built.fs_root} in {time.monotonic() - start:.1f}s",
        file=sys.stderr,
        flush=True,
    )
    serve(built, args.port, args.graceful_timeout)


if __name__ == "__main__":
    main()
