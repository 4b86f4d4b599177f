"""scripts/demo.py (`make demo`): a busy port, and Ctrl-C through a real terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from scripts.serve_local import port_is_free
from tests.speech import REPO

DEMO = REPO / "scripts" / "demo.py"
FINAL_LINE = re.compile(r"\[\d\d:\d\d\.\d\d → \d\d:\d\d\.\d\d\] \S")
SPEECH_STARTED = re.compile(r"\[speech started \d\d:\d\d\.\d\d\]")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_busy_port_is_one_line_and_no_streaming(busy_port: int) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(DEMO), "--port", str(busy_port)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert re.fullmatch(rf"demo: port {busy_port} is busy \(another server\?\); try `make demo PORT=\d+`", line), line
    assert time.monotonic() - started < 30  # no server was built or started


class Terminal:
    """A command on a real pseudo-terminal: what it printed, and keys typed at it."""

    def __init__(self, argv: list[str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: exec at once
            os.chdir(REPO)
            os.execvp(argv[0], argv)
        self.output = ""
        self.exit_code: int | None = None

    def read_until(self, pattern: re.Pattern[str], *, start: int = 0, timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while not (match := pattern.search(self.output, start)):
            assert time.monotonic() < deadline, f"no {pattern.pattern!r} within {timeout_s} s:\n{self.output}"
            self._read(0.2)
        return match

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def wait(self, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while True:
            self._read(0.2)
            if self._reaped():
                self._read(0.2)
                assert self.exit_code is not None
                return self.exit_code
            if time.monotonic() > deadline:
                os.kill(self.pid, 9)
                self.exit_code = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
                raise AssertionError(f"still running after {timeout_s} s:\n{self.output}")

    def close(self) -> None:
        """After a failed check: Ctrl-C twice (the demo then stops its server), SIGKILL as the last resort."""
        if self._reaped():
            return
        for _ in range(2):
            self.type(b"\x03")
            time.sleep(0.5)
        deadline = time.monotonic() + 30
        while not self._reaped():
            if time.monotonic() > deadline:
                os.kill(self.pid, 9)
                self.exit_code = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
                return
            self._read(0.2)

    def _reaped(self) -> bool:
        if self.exit_code is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.exit_code = os.waitstatus_to_exitcode(status)
        return self.exit_code is not None

    def _read(self, timeout_s: float) -> None:
        if select.select([self.fd], [], [], timeout_s)[0]:
            try:
                self.output += os.read(self.fd, 65536).decode(errors="replace")
            except OSError:  # the terminal closed: the command ended
                time.sleep(timeout_s)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_ctrl_c_in_make_demo_prints_the_last_final_stops_the_server_and_exits_0() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # -o: the venv running these tests is set up already; PY: that venv's Python. The VAD
    # events say when someone is speaking; a loaded machine may need long for the last final.
    args = "ARGS=--vad-events --finish-timeout-s 120"
    terminal = Terminal(["make", "-s", "-o", ".venv/.installed", "demo", f"PORT={port}", f"PY={sys.executable}", args])
    try:
        first_final = terminal.read_until(FINAL_LINE, timeout_s=240)
        terminal.read_until(SPEECH_STARTED, start=first_final.end(), timeout_s=60)
        time.sleep(1.0)  # a second into the sentence: words to lose (a 60 ms blip is no word, and gets no final)
        terminal.type(b"\x03")  # mid-utterance
        stopping = terminal.read_until(re.compile("stopping: waiting for the last transcripts"), timeout_s=30)
        code = terminal.wait(timeout_s=150)
    finally:
        terminal.close()
    after = terminal.output[stopping.end() :]
    assert code == 0, terminal.output
    assert FINAL_LINE.search(after), terminal.output  # the utterance in progress was not lost
    assert "demo: stopping the server" in after
    assert "1012" not in terminal.output and "error" not in terminal.output.lower(), terminal.output
    assert port_is_free(port)  # the demo's own server is gone


@pytest.mark.slow
def test_sigterm_stops_the_demo_and_its_server() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo = subprocess.Popen(
        [sys.executable, str(DEMO), "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert demo.stdout is not None
        for line in demo.stdout:  # the first line of the transcript: the server is up and streaming
            if FINAL_LINE.search(line):
                break
        demo.terminate()
        assert demo.wait(timeout=60) == 143
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert port_is_free(port)  # the server did not outlive the demo
