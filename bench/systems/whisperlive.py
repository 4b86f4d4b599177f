"""Collabora WhisperLive (PyPI ``whisper-live``), faster_whisper backend, one shared model, its VAD on.

Installed into bench/.venvs/whisperlive with ``--no-deps`` and the server's
own imports listed below: its full dependency list is the client's too
(PyAudio needs portaudio headers, openai-whisper and an unpinned torchaudio
would pull a CUDA torch), and none of that runs in the server.

Protocol (whisper_live/client.py and server.py, 0.10.0): a JSON options
message, ``SERVER_READY``, then float32 frames, ``b"END_OF_AUDIO"`` at the end.
The server answers with the last ``send_last_n_segments`` segments each time;
``completed: true`` segments are its finals, the trailing incomplete one its
partial. The options are its client's defaults.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.audio import SAMPLE_RATE_HZ
from bench.systems.base import (
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
)

VERSION = "0.10.0"
INSTALL_STEPS = (
    (TORCH_PIN,),
    ("--no-deps", f"whisper-live=={VERSION}"),
    # what whisper_live.server and its faster_whisper backend import (faster-whisper as it pins it)
    (
        "faster-whisper==1.2.0",
        "requests",
        "fastapi",
        "uvicorn",
        "websockets",
        "scipy",
        "av",
        "numpy<2.5",
        "onnxruntime",
    ),
)
OPTIONS = {  # WhisperLive's client defaults (client.py)
    "language": "en",
    "task": "transcribe",
    "use_vad": True,
    "send_last_n_segments": 10,
    "no_speech_thresh": 0.45,
    "clip_audio": False,
    "same_output_threshold": 10,
}
_SERVER_SCRIPT = Path(__file__).with_name("whisperlive_server.py")
# Its client waits for 15 s without a message; 3 s is enough: it sends after every decode while it has text.
_QUIET_S = 3.0
_DRAIN_MAX_S = 60.0


class WhisperLive:
    name = "whisperlive"
    label = f"WhisperLive {VERSION}"
    max_streams: int | None = None
    # No end-of-utterance silence: a segment completes when Whisper starts a new
    # one after it, or after its text repeats same_output_threshold (10) times.
    endpoint_silence_s = None

    def __init__(self, model: ModelSpec, *, beam_size: int = 5) -> None:
        self.model = model
        self.beam_size = beam_size
        self.python: Path | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "server": "whisper_live.server.TranscriptionServer(backend=faster_whisper, single_model=True)",
            "options": OPTIONS,
            "vad": "faster-whisper's silero VAD filter on every decode (use_vad=True, threshold 0.5)",
            "beam_size": self.beam_size,
            "audio": "float32 frames, as its client sends",
        }

    def prepare(self, log: Any = print) -> None:
        self.python = ensure_venv("whisperlive", INSTALL_STEPS, log)

    @contextlib.contextmanager
    def start(self, log_path: Path, *, max_streams: int) -> Iterator[Server]:
        assert self.python is not None, "prepare() first"
        port = free_port()
        cmd = [
            str(self.python),
            str(_SERVER_SCRIPT),
            "--port",
            str(port),
            "--model",
            self.model.path,
            "--cpu-threads",
            str(self.model.cpu_threads),
            "--max-clients",
            str(max(max_streams, 1) + 2),
            "--device",
            self.model.device,
            "--beam-size",
            str(self.beam_size),
        ]
        with run_server(cmd, log_path, port) as server:
            server.extra["url"] = f"ws://{HOST}:{port}"
            yield server

    async def stream(
        self, server: Server, audio: np.ndarray, *, speed: float, frame_ms: int, timeout_s: float
    ) -> StreamRun:
        run = StreamRun()
        pacer = Pacer(speed)
        frame_samples = SAMPLE_RATE_HZ * frame_ms // 1000
        completed: set[tuple[str, str]] = set()
        pending: dict[str, Any] | None = None
        try:
            async with asyncio.timeout(timeout_s), connect(server.extra["url"], max_size=None) as websocket:
                await websocket.send(json.dumps({"uid": str(uuid.uuid4()), "model": self.model.path, **OPTIONS}))
                while True:  # the shared model loads on the first connection
                    hello = json.loads(await websocket.recv())
                    if hello.get("message") == "SERVER_READY":
                        break
                    if hello.get("status") in ("WAIT", "ERROR"):
                        run.error = f"{hello['status']}: {hello.get('message')}"
                        return run

                last_message_s = 0.0

                async def send() -> None:
                    with contextlib.suppress(ConnectionClosed):
                        async for chunk in pacer.frames(audio, frame_samples):
                            await websocket.send(chunk.astype(np.float32).tobytes())
                        # As its client does (wait_before_disconnect): let the server catch up
                        # before END_OF_AUDIO, which stops its transcription thread at once.
                        audio_end_s = pacer.now()
                        while pacer.now() - max(last_message_s, audio_end_s) < _QUIET_S:
                            if pacer.now() - audio_end_s > _DRAIN_MAX_S:
                                break
                            await asyncio.sleep(0.1)
                        await websocket.send(b"END_OF_AUDIO")

                sender = asyncio.create_task(send())
                try:
                    async for raw in websocket:
                        message = json.loads(raw)
                        now = last_message_s = pacer.now()
                        segments = message.get("segments")
                        if not segments:
                            continue
                        pending = None
                        for segment in segments:
                            key = (segment["start"], segment["end"])
                            start_s, end_s = float(segment["start"]), float(segment["end"])
                            if not segment.get("completed"):
                                pending = segment
                                run.events.append(Event(now, segment["text"].strip(), False, start_s, end_s))
                            elif key not in completed:
                                completed.add(key)
                                run.events.append(Event(now, segment["text"].strip(), True, start_s, end_s))
                finally:
                    sender.cancel()
                    await asyncio.gather(sender, return_exceptions=True)
        except TimeoutError:
            run.error = f"no end of session within {timeout_s:.0f}s"
        except (OSError, ConnectionClosed) as exc:
            run.error = f"{type(exc).__name__}: {exc}"
        run.closed_s = pacer.now()
        if pending is not None and pending["text"].strip():
            # Its client shows the last incomplete segment as the transcript's end: count it, flagged.
            run.events.append(
                Event(run.closed_s, pending["text"].strip(), True, float(pending["start"]), float(pending["end"]), True)
            )
        run.send_lag_max_s = pacer.lag_max_s
        return run
