"""The real local server (``scripts/serve_local.py``, truss's own server) as a subprocess, for end-to-end runs.

``start_server(truss_dir, ...)`` runs ``serve_local.py`` on a free port (or the one
given), waits until the model is ready and stops the server when its ``with`` block
ends; ``LocalServer`` is the running process, its URLs, readiness and log. The
end-to-end tests, ``make demo``, the load and soak scripts and the benchmarks run
the product through it; the in-process server of the fast tests is ``tests/harness.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

from scripts.local_truss.ports import HOST, PortBusyError, port_is_free

SERVE_LOCAL = Path(__file__).resolve().parents[1] / "scripts" / "serve_local.py"
_LISTENING_RE = re.compile(r"listening on http://127\.0\.0\.1:(\d+);")
# uvicorn's bind failure, or serve_local's own check of the port
_ADDRESS_IN_USE_RE = re.compile(r"\[Errno 98\]|address already in use|port \d+ on 127\.0\.0\.1 is busy", re.IGNORECASE)


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
            str(SERVE_LOCAL),
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
