"""Start the server of a built image: one lock per build dir, then an exec into ``server_process.py``."""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path
from typing import NoReturn

from scripts.local_truss.image import BuiltTruss, server_env
from scripts.local_truss.ports import HOST

LOCK_NAME = "serve.lock"
SERVER_PROCESS = Path(__file__).resolve().with_name("server_process.py")


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


def serve(built: BuiltTruss, port: int, graceful_timeout: float | None = None) -> NoReturn:
    """Replace this process with the server for ``built`` (does not return)."""
    argv = [
        sys.executable,
        str(SERVER_PROCESS),
        "--app-dir", str(built.app_dir),
        "--packages-dir", str(built.packages_dir),
        "--home-dir", str(built.home_dir),
        "--host", HOST,
        "--port", str(port),
    ]  # fmt: skip
    if graceful_timeout is not None:
        argv += ["--graceful-timeout", str(graceful_timeout)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, server_env(built, port))
