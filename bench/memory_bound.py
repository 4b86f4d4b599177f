"""The server's RSS with ``MAX_SESSIONS`` worst-case sessions, against the bound ``memory_bound`` computes.

One local server (``scripts/serve_local.py``, tiny.en on the CPU, ``MAX_SESSIONS`` 8, ``FINAL_CONTEXT_S`` 29).
For ``--duration-s``, every slot is held by a session built to hold the most audio the limits allow: 8 kHz
mu-law (one byte a sample, the most audio per byte), a VAD threshold of 0 (every frame is speech, so each
utterance runs to the 30 s cap and its final is decoded with 29 s of context), real speech sent in 1 MiB
frames (131 s of audio each) as fast as the socket takes them, so that audio waits for Whisper up to the
60 s limit; when the limit ends a session, its client reconnects. Beside them, ``max_awaiting_config``
connections each pipeline, with their handshake, the start of a message as large as the WebSocket layer
takes (so the layer buffers it before any of our code runs) and never finish it. RSS is sampled every
0.2 s; the growth over the idle server's is set against the bound for the replica (the model, its decodes
and the Python heap are outside the bound; they are the idle server's RSS, or close).

    .venv/bin/python bench/memory_bound.py [--duration-s 60]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import sys
import time
from pathlib import Path

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "packages")]

from bench import server_watch  # noqa: E402
from bench.audio import build_stream, load_clips  # noqa: E402
from client.encoding import encode_float  # noqa: E402
from tests.local_server import start_server  # noqa: E402
from whisper_stream.server.limits import Limits  # noqa: E402
from whisper_stream.server.memory_bound import memory_bound  # noqa: E402
from whisper_stream.server.ws_layer import session_message_cap_bytes  # noqa: E402

MAX_SESSIONS = 8
WORST_CONFIG = json.dumps(
    {
        "vad_params": {"threshold": 0.0},
        "streaming_params": {"encoding": "pcm_mulaw", "sample_rate": 8000, "enable_partial_transcripts": True},
    }
)
FRAME_BYTES = 1 << 20


async def worst_session(url: str, data: bytes, deadline: float, closes: dict[object, int]) -> None:
    """Holds a slot with the most audio it can, again and again until ``deadline``."""
    while time.monotonic() < deadline:
        try:
            async with connect(url, max_size=None) as ws:
                await ws.send(WORST_CONFIG)

                async def drain() -> None:
                    with contextlib.suppress(ConnectionClosed):
                        async for _ in ws:
                            pass

                reader = asyncio.create_task(drain())
                with contextlib.suppress(ConnectionClosed):
                    offset = 0
                    while not reader.done() and time.monotonic() < deadline:
                        await ws.send(data[offset : offset + FRAME_BYTES])
                        offset = (offset + FRAME_BYTES) % (len(data) - FRAME_BYTES)
                        await asyncio.sleep(0.05)
                await asyncio.wait_for(reader, max(deadline - time.monotonic(), 0) + 30)
            outcome: int | str | None = ws.close_code
        except TimeoutError:
            outcome = "still finishing at the end"
        except (OSError, ConnectionClosed) as exc:
            outcome = type(exc).__name__
            await asyncio.sleep(0.5)
        closes[outcome] = closes.get(outcome, 0) + 1


def pipelined_half_message(port: int, message_bytes: int) -> socket.socket:
    """A socket that sent its upgrade request and, at once, all but the last bytes of one binary message."""
    sock = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /v1/websocket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    header = bytes([0x82, 127]) + struct.pack("!Q", message_bytes) + b"\x00\x00\x00\x00"  # masked with zeros
    sock.sendall(request + header + b"\x01" * (message_bytes - 100))
    return sock


async def run(duration_s: float) -> dict:
    limits = Limits()
    message_cap = session_message_cap_bytes(limits)  # the local server's ws_max_size, too
    bound = memory_bound(limits, message_bytes=message_cap)
    speech = build_stream(load_clips(), 300.0, seed=3).audio[::2]  # 8 kHz, near enough for the VAD
    data = encode_float(np.ascontiguousarray(speech), "pcm_mulaw")
    env = {"WHISPER_MODEL": "bundled", "WHISPER_DEVICE": "cpu", "MAX_SESSIONS": str(MAX_SESSIONS)}
    with start_server(REPO, env=env, ready_timeout=300) as server:
        pid = server.process.pid
        await asyncio.sleep(2.0)
        idle = server_watch.rss_bytes(pid)
        sampler = server_watch.RssSampler(pid, interval_s=0.2)
        sampling = asyncio.create_task(sampler.run())
        deadline = time.monotonic() + duration_s
        closes: dict[object, int] = {}
        before = server_watch.scrape(f"{server.http_url}/metrics")
        # the sessions' own connections wait for their config too (briefly): leave them room in that pool
        held = [
            await asyncio.to_thread(pipelined_half_message, server.port, message_cap)
            for _ in range(limits.max_awaiting_config - MAX_SESSIONS)
        ]
        sessions = [worst_session(server.ws_url, data, deadline, closes) for _ in range(MAX_SESSIONS)]
        await asyncio.gather(*sessions)
        for sock in held:
            sock.close()
        sampling.cancel()
        after = server_watch.delta(server_watch.scrape(f"{server.http_url}/metrics"), before)
    replica_bound = bound.replica_bytes(MAX_SESSIONS, limits.max_awaiting_config)
    return {
        "idle_rss_mb": round(idle / 1e6, 1),
        "peak_rss_mb": round(sampler.peak_bytes / 1e6, 1),
        "growth_mb": round((sampler.peak_bytes - idle) / 1e6, 1),
        "bound_mb": round(replica_bound / 1e6, 1),
        "bound_per_session_mb": {k: round(v / 1e6, 2) for k, v in bound.per_session.items()},
        "bound_per_config_wait_mb": round(bound.per_config_wait / 1e6, 2),
        "rss_every_10_s_mb": sampler.timeline(10.0),
        "pipelined_half_messages_held": len(held),
        "session_closes": closes,
        "server_sessions": server_watch.labelled(after, "whisper_stream_sessions", "outcome"),
        "server_errors": server_watch.labelled(after, "whisper_stream_errors", "code"),
        "audio_received_s": round(server_watch.value(after, "whisper_stream_audio_received_seconds_total")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration-s", type=float, default=60.0)
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()}")
    report = asyncio.run(run(args.duration_s))
    print(f"load average after: {os.getloadavg()}")
    for key, value in report.items():
        print(f"{key}: {value}")
    within = report["growth_mb"] <= report["bound_mb"]
    print("WITHIN THE BOUND" if within else "OVER THE BOUND")
    return 0 if within else 1


if __name__ == "__main__":
    raise SystemExit(main())
