"""SIGTERM to truss's real server while a client is mid-utterance: the words said so far arrive."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import REPO, SERVER_ENV
from tests.local_server import start_server
from tests.speech import SPEECH_DIR, load_16k, normalize
from tests.stream_client import SEED_CONFIG, StreamResult, to_pcm16

pytestmark = pytest.mark.slow

SR = 16_000
JFK = SPEECH_DIR / "jfk.flac"


def test_sigterm_mid_utterance_sends_the_final_and_session_end_then_1012(tmp_path: Path) -> None:
    audio = load_16k(JFK)[: int(2.4 * SR)]  # "And so my fellow Americans" cut mid-sentence: no pause yet

    with start_server(REPO, port=0, build_dir=tmp_path, env=SERVER_ENV, ready_timeout=180.0) as server:

        async def speak_and_get_terminated() -> StreamResult:
            result = StreamResult()
            async with connect(server.ws_url) as websocket:
                await websocket.send(json.dumps(SEED_CONFIG))
                for offset in range(0, audio.size, 512):  # real time: the server is mid-utterance
                    await websocket.send(to_pcm16(audio[offset : offset + 512]))
                    await asyncio.sleep(512 / SR)
                server.process.send_signal(signal.SIGTERM)
                started = time.monotonic()
                with contextlib.suppress(ConnectionClosed):
                    async for raw in websocket:
                        result.messages.append((time.monotonic() - started, json.loads(raw)))
            result.close_code = websocket.close_code
            return result

        result = asyncio.run(asyncio.wait_for(speak_and_get_terminated(), timeout=120))
        assert server.process.wait(timeout=30) == 0
        log = server.log_text()
    assert result.close_code == 1012, log
    words = normalize(result.text).split()
    assert "fellow" in words, result.text  # the utterance in progress was transcribed
    types = [m["type"] for _, m in result.messages]
    assert "session_end" in types and types.index("session_end") > max(
        i for i, (_, m) in enumerate(result.messages) if m.get("is_final")
    )
    assert "draining 1 open session" in log
