#!/usr/bin/env python
"""`make serve`: serve a truss locally with truss's own production inference server, no Docker.

The work is done by ``scripts/local_truss`` (stage the truss, build the emulated
image, exec the server process); this is its command line::

    python scripts/serve_local.py [--port 8080] [--truss-dir .] [--build-dir .build/truss]

``--port`` defaults to ``$PORT``, or 8080 when that is unset. ``--port 0`` picks
a free port. A busy port, or a build dir another ``serve_local`` is serving
from, fails at once with one line, before anything is rebuilt. The server prints
``listening on http://127.0.0.1:PORT; loading the model…`` once it is
listening, and ``serving on ws://127.0.0.1:PORT/v1/websocket`` once ``load()``
has finished (truss's ``Completed model.load()``). ``GET /v1/models/model``
returns 503 until then and 200 after it; ``GET /metrics`` answers without a
redirect. Ctrl-C or SIGTERM shuts it down gracefully and it exits with status 0.

For tests and scripts, ``tests/local_server.py``'s ``start_server(truss_dir, ...)``
runs this as a subprocess on a free port and waits until the model is ready.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]  # the repository, for scripts.local_truss

from scripts.local_truss import (  # noqa: E402
    HOST,
    build,
    default_build_dir,
    lock_build_dir,
    next_free_port,
    port_is_free,
    serve,
)

DEFAULT_PORT = 8080


def main(argv: list[str] | None = None) -> None:
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
