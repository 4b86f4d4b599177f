"""What every system under test shares: events, the real-time pacer, server processes, throwaway venvs."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from bench.audio import SAMPLE_RATE_HZ

BENCH_DIR = Path(__file__).resolve().parents[1]
VENVS_DIR = BENCH_DIR / ".venvs"
CACHE_DIR = BENCH_DIR / ".cache"
HOST = "127.0.0.1"
# torch first, pinned: an unpinned torch pulled in by a dependency is a multi-GB CUDA build.
TORCH_PIN = "torch==2.13.0"


@dataclass(frozen=True)
class ModelSpec:
    """The one model every system loads, and how."""

    path: str
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 2
    name: str = "tiny.en"


def offline_whisper(path: str, *, device: str = "cpu", compute_type: str = "int8", cpu_threads: int = 2) -> Any:
    """faster-whisper's ``WhisperModel`` for an offline baseline, its tokenizer checked and repaired as the
    server's is at load (``tokenizer_check``): the multilingual test model ships without Whisper's first BPE
    merge, which garbles the previous text that ``transcribe`` conditions each window on."""
    from faster_whisper import WhisperModel

    from whisper_stream.inference.tokenizer_check import checked_tokenizer

    whisper = WhisperModel(path, device=device, compute_type=compute_type, cpu_threads=cpu_threads)
    whisper.hf_tokenizer, _ = checked_tokenizer(whisper.hf_tokenizer)
    return whisper


@dataclass(frozen=True)
class Event:
    """One transcript update as the client saw it."""

    wall_s: float  # client clock, seconds after the stream's first sample was captured
    text: str
    is_final: bool
    start_s: float | None = None  # stream time the text covers, when the system says
    end_s: float | None = None
    flushed: bool = False  # a final only because the stream ended (not a final of the system's own)
    from_finalize: bool = False  # the final that answers a client's finalize (ours only)


@dataclass
class StreamRun:
    events: list[Event] = field(default_factory=list)
    error: str | None = None
    send_lag_max_s: float = 0.0  # how far the sender fell behind the capture clock
    closed_s: float | None = None
    finalizes_sent_s: list[float] = field(default_factory=list)  # client clock, each finalize the client sent

    @property
    def finals(self) -> list[Event]:
        return [e for e in self.events if e.is_final]


class Pacer:
    """Sends audio as a microphone would: a frame leaves when its last sample has been captured."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.t0 = time.monotonic()
        self.lag_max_s = 0.0

    def now(self) -> float:
        return time.monotonic() - self.t0

    async def frames(self, audio: np.ndarray, frame_samples: int) -> AsyncIterator[np.ndarray]:
        self.t0 = time.monotonic()
        for offset in range(0, audio.size, frame_samples):
            chunk = audio[offset : offset + frame_samples]
            due = (offset + chunk.size) / SAMPLE_RATE_HZ / self.speed
            delay = due - self.now()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.lag_max_s = max(self.lag_max_s, -delay)
            yield chunk


def to_pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()


class ResourceMonitor:
    """CPU seconds and peak RSS of a server's process tree, sampled in a thread."""

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        self.process = psutil.Process(pid)
        self.interval_s = interval_s
        self.peak_rss_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)

    def _tree(self) -> list[psutil.Process]:
        try:
            return [self.process, *self.process.children(recursive=True)]
        except psutil.Error:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self._tree():
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
        return total

    def rss_bytes(self) -> int:
        total = 0
        for proc in self._tree():
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def reset_peak(self) -> None:
        self.peak_rss_bytes = self.rss_bytes()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak_rss_bytes = max(self.peak_rss_bytes, self.rss_bytes())

    def __enter__(self) -> ResourceMonitor:
        self.reset_peak()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Server:
    """A running server under test."""

    process: subprocess.Popen[bytes]
    log_path: Path
    port: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""


@contextlib.contextmanager
def run_server(
    cmd: Sequence[str],
    log_path: Path,
    port: int,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    ready: Any = None,
    ready_timeout_s: float = 300.0,
) -> Iterator[Server]:
    """Start ``cmd``, wait until ``ready(server)`` is true, stop it (SIGTERM, then SIGKILL) on exit."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            list(cmd),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
        server = Server(proc, log_path, port)
        try:
            deadline = time.monotonic() + ready_timeout_s
            while not (ready(server) if ready else port_open(port)):
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{cmd[0]} exited with {proc.returncode} before it was ready:\n{server.log_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not ready after {ready_timeout_s:.0f}s:\n{server.log_tail()}")
                time.sleep(0.2)
            yield server
        finally:
            stop_process(proc)


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def ensure_venv(name: str, steps: Sequence[Sequence[str]], log: Any = print) -> Path:
    """A throwaway venv under bench/.venvs/<name>, pip-installed with ``steps`` (each a pip argument list).

    A stamp file remembers the steps; the venv is rebuilt when they change.
    Returns its python.
    """
    venv = VENVS_DIR / name
    python = venv / "bin" / "python"
    spec = "\n".join(" ".join(step) for step in steps)
    stamp = venv / ".bench-installed"
    if python.exists() and stamp.exists() and stamp.read_text() == spec:
        return python
    log(f"[{name}] installing into {venv.relative_to(BENCH_DIR.parent)} (once; a few minutes)")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    install_log = venv / "install.log"
    with install_log.open("ab") as out:
        for step in steps:
            command = [str(python), "-m", "pip", "install", "--disable-pip-version-check", *step]
            out.write(f"$ {' '.join(command)}\n".encode())
            out.flush()
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT)
            if done.returncode != 0:
                raise RuntimeError(f"pip install {' '.join(step)} failed in {venv}; see {install_log}")
    stamp.write_text(spec)
    return python


def digest(*parts: object) -> str:
    return hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()[:16]
