"""ufal whisper_streaming: its ``whisper_online_server.py``, faster-whisper backend, VAC on.

It is not on PyPI (``whisper-streaming`` there is a different fork), so its
source is taken, in this order, from ``--whisper-streaming-src DIR``,
bench/.cache/whisper_streaming/, a local bare mirror named by ``$WHISPER_STREAMING_GIT_DIR``
(exported with ``git archive``), or
``git clone`` of github.com/ufal/whisper_streaming. Nothing of it is committed.

Protocol: raw pcm_s16le 16 kHz over TCP; the server sends lines
``"beg_ms end_ms text"`` of committed (LocalAgreement-2) text. They are never
revised, so each is a final; it has no partials. It serves one client at a
time (a serial accept loop), so its capacity is one stream per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from bench.audio import SAMPLE_RATE_HZ
from bench.systems.base import (
    CACHE_DIR,
    HOST,
    TORCH_PIN,
    Event,
    ModelSpec,
    Pacer,
    Server,
    StreamRun,
    ensure_venv,
    free_port,
    run_server,
    to_pcm16,
)

REPO_URL = "https://github.com/ufal/whisper_streaming"
INSTALL_STEPS = (
    (TORCH_PIN,),
    # its README: faster-whisper backend, librosa and soundfile; silero for --vac
    ("faster-whisper==1.2.1", "librosa", "soundfile", "silero-vad==6.2.3", "numpy<2.5"),
)
MIN_CHUNK_S = 1.0  # its default --min-chunk-size
_THEIR_SIZES = ("tiny.en", "tiny", "base.en", "base", "small.en", "small", "medium.en", "medium", "large-v3")
_SERVER_SCRIPT = Path(__file__).with_name("whisper_streaming_server.py")


class WhisperStreaming:
    name = "whisper_streaming"
    label = "whisper_streaming (ufal)"
    max_streams: int | None = 1
    endpoint_silence_s = 0.5  # VAC: silero VADIterator's default min_silence_duration_ms=500

    def __init__(self, model: ModelSpec, *, src: Path | None = None, vac: bool = True, beam_size: int = 5) -> None:
        self.model = model
        self.beam_size = beam_size
        self.src = src
        self.vac = vac
        self.python: Path | None = None
        self.commit = ""

    def describe(self) -> dict[str, Any]:
        return {
            "server": f"whisper_online_server.py @ {self.commit or '?'}",
            "args": self._server_args(),
            "beam_size": self.beam_size,
            "policy": "LocalAgreement-2 over a re-decoded buffer; VAC ends an utterance after 500 ms of silence",
            "concurrency": "one client at a time (serial accept loop)",
        }

    def _server_args(self) -> list[str]:
        args = ["--backend", "faster-whisper", "--lan", "en", "--min-chunk-size", str(MIN_CHUNK_S)]
        args += ["--log-level", "INFO"]
        if self.model.name in _THEIR_SIZES:  # only names its log line; --model_dir is what it loads
            args += ["--model", self.model.name]
        return [*args, "--vac"] if self.vac else args

    def prepare(self, log: Any = print) -> None:
        self.src = fetch_source(self.src, log)
        commit_file = self.src / "COMMIT"
        self.commit = commit_file.read_text().strip() if commit_file.exists() else ""
        self.python = ensure_venv("whisper_streaming", INSTALL_STEPS, log)

    @contextlib.contextmanager
    def start(self, log_path: Path, *, max_streams: int) -> Iterator[Server]:
        assert self.python is not None and self.src is not None, "prepare() first"
        port = free_port()
        warmup = CACHE_DIR / "warmup.wav"
        if not warmup.exists():
            warmup.parent.mkdir(parents=True, exist_ok=True)
            t = np.arange(SAMPLE_RATE_HZ) / SAMPLE_RATE_HZ
            soundfile.write(warmup, (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SAMPLE_RATE_HZ)
        cmd = [
            str(self.python),
            str(_SERVER_SCRIPT),
            "--src",
            str(self.src),
            "--device",
            self.model.device,
            "--compute-type",
            self.model.compute_type,
            "--cpu-threads",
            str(self.model.cpu_threads),
            "--beam-size",
            str(self.beam_size),
            "--host",
            HOST,
            "--port",
            str(port),
            "--model_dir",
            self.model.path,
            "--warmup-file",
            str(warmup),
            *self._server_args(),
        ]
        with run_server(
            cmd, log_path, port, cwd=self.src, ready=lambda s: "Listening on" in s.log_tail(100_000)
        ) as server:
            yield server

    async def stream(
        self, server: Server, audio: np.ndarray, *, speed: float, frame_ms: int, timeout_s: float
    ) -> StreamRun:
        run = StreamRun()
        pacer = Pacer(speed)
        frame_samples = SAMPLE_RATE_HZ * frame_ms // 1000
        try:
            async with asyncio.timeout(timeout_s):
                reader, writer = await asyncio.open_connection(HOST, server.port)

                async def send() -> None:
                    with contextlib.suppress(ConnectionError):
                        async for chunk in pacer.frames(audio, frame_samples):
                            writer.write(to_pcm16(chunk))
                            await writer.drain()
                        writer.write_eof()

                sender = asyncio.create_task(send())
                try:
                    while line := await reader.readline():
                        text = line.decode(errors="replace").strip("\0\r\n ")
                        parts = text.split(" ", 2)
                        if len(parts) < 3:
                            continue
                        beg_ms, end_ms, words = parts
                        run.events.append(
                            Event(pacer.now(), words.strip(), True, float(beg_ms) / 1000, float(end_ms) / 1000)
                        )
                finally:
                    sender.cancel()
                    await asyncio.gather(sender, return_exceptions=True)
                    writer.close()
                    with contextlib.suppress(ConnectionError):
                        await writer.wait_closed()
        except TimeoutError:
            run.error = f"no end of session within {timeout_s:.0f}s"
        except OSError as exc:
            run.error = f"{type(exc).__name__}: {exc}"
        run.closed_s = pacer.now()
        run.send_lag_max_s = pacer.lag_max_s
        return run


def fetch_source(explicit: Path | None, log: Any = print) -> Path:
    """Its source tree (whisper_online_server.py and friends), exported once into bench/.cache."""
    if explicit is not None:
        return explicit.resolve()
    target = CACHE_DIR / "whisper_streaming"
    if (target / "whisper_online_server.py").exists():
        return target
    tmp = target.with_name("whisper_streaming.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    mirror = os.environ.get("WHISPER_STREAMING_GIT_DIR")
    if mirror and (git_dir := Path(mirror)).joinpath("HEAD").exists():
        log(f"[whisper_streaming] exporting its source from the mirror {git_dir}")
        commit = _git("--git-dir", str(git_dir), "rev-parse", "HEAD")
        archive = subprocess.run(["git", "--git-dir", str(git_dir), "archive", "HEAD"], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
    else:
        log(f"[whisper_streaming] cloning {REPO_URL}")
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", REPO_URL, str(tmp)], check=True)
        commit = _git("-C", str(tmp), "rev-parse", "HEAD")
    (tmp / "COMMIT").write_text(commit + "\n")
    tmp.rename(target)
    return target


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout.strip()
