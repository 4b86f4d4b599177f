"""Our server: the Truss model under truss's own server (scripts/serve_local.py), wire protocol v1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.audio import SAMPLE_RATE_HZ
from bench.systems.base import (
    CACHE_DIR,
    HOST,
    Event,
    ModelSpec,
    Pacer,
    Server,
    StreamRun,
    free_port,
    run_server,
    to_pcm16,
)

REPO = Path(__file__).resolve().parents[2]


class Ours:
    name = "ours"
    label = "ours (whisper_stream)"
    max_streams: int | None = None  # no limit of its own in the benchmark (MAX_SESSIONS is raised)

    def __init__(
        self,
        model: ModelSpec,
        *,
        min_silence_ms: int = 300,
        beam_size: int = 0,
        env: dict[str, str] | None = None,
        diarize: bool = False,
    ) -> None:
        self.model = model
        self.min_silence_ms = min_silence_ms
        self.beam_size = beam_size
        self.env = dict(env or {})  # its own: diarize adds to it
        self.diarize = diarize
        """Every session asks for speaker labels (``enable_diarization``); the server needs a speaker model."""
        if diarize:
            self.env.setdefault("DIARIZATION_MODEL", "bundled")

    @property
    def endpoint_silence_s(self) -> float:
        return self.min_silence_ms / 1000

    def describe(self) -> dict[str, Any]:
        return {
            "server": "scripts/serve_local.py (truss's TrussServer), model/model.py",
            "vad": f"silero, min_silence_duration_ms={self.min_silence_ms}, speech_pad_ms=30",
            "final_beam_size": self.beam_size
            or ("5 (cuda default)" if self.model.device == "cuda" else "1 (cpu default)"),
            "partials": "every 0.5 s, greedy",
            "env": self.env,
        }

    def prepare(self, log: Any = print) -> None:
        """Nothing to install: the project's own .venv runs it."""

    @contextlib.contextmanager
    def start(self, log_path: Path, *, max_streams: int) -> Iterator[Server]:
        port = free_port()
        env = {
            "WHISPER_MODEL": self.model.path,
            "WHISPER_DEVICE": self.model.device,
            "WHISPER_COMPUTE_TYPE": self.model.compute_type,
            "WHISPER_CPU_THREADS": str(self.model.cpu_threads),
            # the sweep measures where latency breaks, not where admission says no
            "MAX_SESSIONS": str(max(max_streams, 1) + 2),
            "IDLE_TIMEOUT_S": "600",
        }
        if self.beam_size:
            env["WHISPER_BEAM_SIZE"] = str(self.beam_size)
        env.update(self.env)
        cmd = [
            sys.executable,
            str(REPO / "scripts" / "serve_local.py"),
            "--port",
            str(port),
            "--truss-dir",
            str(REPO),
            "--build-dir",
            str(CACHE_DIR / "ours-build"),
        ]
        with run_server(cmd, log_path, port, env=env, ready=_ready) as server:
            server.extra["url"] = f"ws://{HOST}:{port}/v1/websocket"
            yield server

    async def stream(
        self,
        server: Server,
        audio: np.ndarray,
        *,
        speed: float,
        frame_ms: int,
        timeout_s: float,
        finalize_at_s: Sequence[float] = (),
    ) -> StreamRun:
        return await stream_to_ours(
            server.extra["url"], audio, speed=speed, frame_ms=frame_ms, timeout_s=timeout_s,
            min_silence_ms=self.min_silence_ms, diarize=self.diarize, finalize_at_s=finalize_at_s,
        )  # fmt: skip


async def stream_to_ours(
    url: str,
    audio: np.ndarray,
    *,
    speed: float,
    frame_ms: int,
    timeout_s: float,
    min_silence_ms: int = 300,
    language: str = "en",
    word_timestamps: bool = False,
    diarize: bool = False,
    on_transcription: Callable[[dict[str, Any]], None] | None = None,
    finalize_at_s: Sequence[float] = (),
) -> StreamRun:
    """Stream ``audio`` to our server paced at ``speed`` with the seed's config, then terminate; every
    transcript is an ``Event`` (``on_transcription`` sees each raw message too). ``finalize_at_s``: stream
    times at which the client sends ``finalize``, as a voice agent does at its own VAD's stop (each sent once
    the audio up to it has been). The one client of every bench that talks to our server."""
    run = StreamRun()
    pacer = Pacer(speed)
    config = {
        "vad_params": {"threshold": 0.5, "min_silence_duration_ms": min_silence_ms, "speech_pad_ms": 30},
        "streaming_whisper_params": {
            "encoding": "pcm_s16le",
            "sample_rate": SAMPLE_RATE_HZ,
            "enable_partial_transcripts": True,
            "audio_language": language,
            "show_word_timestamps": word_timestamps,
            **({"enable_diarization": True} if diarize else {}),
        },
    }
    frame_samples = SAMPLE_RATE_HZ * frame_ms // 1000
    try:
        async with asyncio.timeout(timeout_s), connect(url, max_size=None) as websocket:
            await websocket.send(json.dumps(config))

            async def send() -> None:
                finalizes = iter(sorted(finalize_at_s))
                due_s = next(finalizes, None)
                with contextlib.suppress(ConnectionClosed):
                    async for chunk in pacer.frames(audio, frame_samples):
                        await websocket.send(to_pcm16(chunk))
                        while due_s is not None and due_s / speed <= pacer.now():
                            await websocket.send(json.dumps({"type": "finalize"}))
                            run.finalizes_sent_s.append(pacer.now())
                            due_s = next(finalizes, None)
                    await websocket.send(json.dumps({"terminate_session": True}))

            sender = asyncio.create_task(send())
            try:
                async for raw in websocket:
                    message = json.loads(raw)
                    kind = message.get("type")
                    if kind == "error":
                        run.error = f"{message.get('code')}: {message.get('message')}"
                    if kind != "transcription":
                        continue
                    start_s, end_s = _span(message)
                    run.events.append(
                        Event(
                            pacer.now(), message["transcript"], message["is_final"], start_s, end_s,
                            from_finalize=bool(message.get("from_finalize")),
                        )
                    )  # fmt: skip
                    if on_transcription is not None:
                        on_transcription(message)
            finally:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)
            if websocket.close_code not in (1000, None) and run.error is None:
                run.error = f"closed {websocket.close_code} {websocket.close_reason}"
    except TimeoutError:
        run.error = f"no end of session within {timeout_s:.0f}s"
    except (OSError, ConnectionClosed) as exc:
        run.error = f"{type(exc).__name__}: {exc}"
    run.closed_s = pacer.now()
    run.send_lag_max_s = pacer.lag_max_s
    return run


def _span(message: dict[str, Any]) -> tuple[float | None, float | None]:
    segments = message.get("segments") or []
    if not segments:
        return None, None
    return min(s["start_time"] for s in segments), max(s["end_time"] for s in segments)


def _ready(server: Server) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{server.port}/v1/models/model", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False
