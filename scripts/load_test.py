#!/usr/bin/env python
"""N clients against a replica's session cap, on loopback: who is admitted, who is refused, how well.

Every client connects first; once all handshakes are done they stream at once,
so exactly ``min(clients, cap)`` sessions hold a slot and the rest must be
refused with close code 1013 and an ``error`` message. Each admitted client
streams one real utterance (the five LibriSpeech clips the tests stream,
``tests/speech.py``'s, in turn) and ends it with ``terminate_session``.

Reports: admitted / refused / other outcomes, how fast a refusal came, the word
error rate of every admitted session, and final latency (from sending the frame
that holds the end of an utterance's audio to receiving its final; that includes
the 300 ms min-silence wait, in audio time).

    python scripts/load_test.py                     # starts truss's server with MAX_SESSIONS=8, 32 clients
    python scripts/load_test.py --url ws://127.0.0.1:8080/v1/websocket --clients 32 --cap 8

Exits 1 when the outcome is not exactly ``cap`` admitted (all finished with
1000) and ``clients - cap`` refused with 1013.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.wer import wer  # noqa: E402  (the project's one normaliser and WER)
from tests.speech import load_16k, manifest  # noqa: E402

SAMPLE_RATE_HZ = 16_000
CONFIG: dict[str, Any] = {
    "vad_params": {"threshold": 0.5, "min_silence_duration_ms": 300, "speech_pad_ms": 30},
    "streaming_whisper_params": {
        "encoding": "pcm_s16le",
        "sample_rate": SAMPLE_RATE_HZ,
        "enable_partial_transcripts": True,
        "audio_language": "en",
    },
}


@dataclass(frozen=True)
class Clip:
    audio: np.ndarray  # float32, 16 kHz
    reference: str | None = None


@dataclass
class ClientOutcome:
    index: int
    close_code: int | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    refused_after_s: float | None = None
    closed_after_s: float | None = None
    """When the connection ended, like ``refused_after_s`` counted from the moment every client was connected."""
    final_latencies_s: list[float] = field(default_factory=list)
    wer: float | None = None
    error: str = ""

    @property
    def kind(self) -> str:
        if self.close_code == 1013 and any(m.get("code") == "server_busy" for m in self.messages):
            return "refused"
        if self.close_code == 1000 and any(m.get("type") == "session_end" for m in self.messages):
            return "admitted"
        return "other"

    @property
    def text(self) -> str:
        finals = [m for m in self.messages if m.get("type") == "transcription" and m["is_final"]]
        return " ".join(m["transcript"] for m in finals if m["transcript"])


@dataclass
class LoadReport:
    clients: int
    cap: int
    outcomes: list[ClientOutcome]
    wall_s: float

    def of_kind(self, kind: str) -> list[ClientOutcome]:
        return [o for o in self.outcomes if o.kind == kind]

    @property
    def ok(self) -> bool:
        admitted = min(self.clients, self.cap)
        return len(self.of_kind("admitted")) == admitted and len(self.of_kind("refused")) == self.clients - admitted

    def table(self) -> str:
        admitted, refused, other = self.of_kind("admitted"), self.of_kind("refused"), self.of_kind("other")
        lines = [
            f"clients {self.clients}, cap {self.cap}, wall {self.wall_s:.1f} s",
            f"admitted {len(admitted)}  refused (1013) {len(refused)}  other {len(other)}",
        ]
        if refused:
            waits = [o.refused_after_s or 0.0 for o in refused]
            lines.append(
                f"refusal after: median {statistics.median(waits) * 1000:.0f} ms, max {max(waits) * 1000:.0f} ms"
            )
            lines.append(f"refusal message: {refused[0].messages[-1].get('message')!r}")
        wers = [o.wer for o in admitted if o.wer is not None]
        if wers:
            lines.append(f"WER of admitted sessions: mean {statistics.fmean(wers):.3f}, max {max(wers):.3f}")
        latencies = sorted(latency for o in admitted for latency in o.final_latencies_s)
        if latencies:
            p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
            lines.append(
                f"final latency (end of the utterance's audio sent -> final received) over {len(latencies)} finals: "
                f"median {statistics.median(latencies):.2f} s, p95 {p95:.2f} s, max {latencies[-1]:.2f} s"
            )
        for o in other:
            lines.append(f"  client {o.index}: close {o.close_code} {o.error} {o.messages[-1:]}")
        return "\n".join(lines)


# ------------------------------------------------------------------ the clients


async def run_load(
    url: str,
    clips: Sequence[Clip],
    *,
    clients: int,
    cap: int,
    speed: float | None = 1.0,
    frame_samples: int = 1_600,
    timeout_s: float = 300.0,
    config: dict[str, Any] | None = None,
) -> LoadReport:
    """Connect ``clients`` at once, then stream ``clips`` (in turn) from every admitted one."""
    from websockets.asyncio.client import connect

    started = time.monotonic()
    connections = await asyncio.gather(*(connect(url, max_size=None, open_timeout=60) for _ in range(clients)))
    connected_at = time.monotonic()
    try:
        outcomes = await asyncio.wait_for(
            asyncio.gather(
                *(
                    _client(i, ws, clips[i % len(clips)], config or CONFIG, speed, frame_samples, connected_at)
                    for i, ws in enumerate(connections)
                )
            ),
            timeout_s,
        )
    finally:
        await asyncio.gather(*(ws.close() for ws in connections), return_exceptions=True)
    return LoadReport(clients, cap, list(outcomes), time.monotonic() - started)


async def _client(
    index: int,
    websocket: Any,
    clip: Clip,
    config: dict[str, Any],
    speed: float | None,
    frame_samples: int,
    connected_at: float,
) -> ClientOutcome:
    from websockets.exceptions import ConnectionClosed

    outcome = ClientOutcome(index)
    pcm = (np.clip(clip.audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    sent_marks: list[tuple[float, float]] = []  # (stream seconds sent, wall time) after each frame

    async def send() -> None:
        try:
            await websocket.send(json.dumps(config))
            start = time.monotonic()
            step = frame_samples * 2
            for offset in range(0, len(pcm), step):
                await websocket.send(pcm[offset : offset + step])
                sent_s = min(offset + step, len(pcm)) / 2 / SAMPLE_RATE_HZ
                sent_marks.append((sent_s, time.monotonic()))
                if speed:
                    await asyncio.sleep(max(0.0, start + sent_s / speed - time.monotonic()))
            await websocket.send(json.dumps({"terminate_session": True}))
        except ConnectionClosed:
            pass

    sender = asyncio.create_task(send())
    try:
        async for raw in websocket:
            message = json.loads(raw)
            outcome.messages.append(message)
            if message.get("type") == "error" and outcome.refused_after_s is None:
                outcome.refused_after_s = time.monotonic() - connected_at
            if message.get("type") == "transcription" and message["is_final"]:
                latency = final_latency_s(message, sent_marks)
                if latency is not None:
                    outcome.final_latencies_s.append(latency)
    except ConnectionClosed as exc:
        outcome.error = type(exc).__name__
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
    outcome.close_code = websocket.close_code
    outcome.closed_after_s = time.monotonic() - connected_at
    if clip.reference is not None and outcome.kind == "admitted":
        outcome.wer = word_error_rate(clip.reference, outcome.text)
    return outcome


def final_latency_s(final: dict[str, Any], sent_marks: list[tuple[float, float]]) -> float | None:
    """Seconds from sending the frame that holds the final's last audio to now."""
    if not final["segments"]:
        return None
    index = bisect.bisect_left(sent_marks, (final["segments"][-1]["end_time"], 0.0))
    return time.monotonic() - sent_marks[index][1] if index < len(sent_marks) else None


# ------------------------------------------------------------------ audio and scoring


def load_clips(pause_s: float = 0.5) -> list[Clip]:
    """The tests' LibriSpeech utterances (``tests.speech.manifest``), 16 kHz, each with a pause after."""
    pause = np.zeros(int(pause_s * SAMPLE_RATE_HZ), np.float32)
    return [Clip(np.concatenate([load_16k(u.path), pause]), u.reference) for u in manifest("librispeech_clean")]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """The project's one WER (``bench.wer``: Whisper's English normaliser, jiwer)."""
    return wer(reference, hypothesis)


# ------------------------------------------------------------------ CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server's websocket URL (default: start truss's server locally)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--cap", type=int, default=8, help="the server's MAX_SESSIONS (set when we start it)")
    parser.add_argument("--speed", type=float, default=1.0, help="times real time; 0 = as fast as possible")
    parser.add_argument("--timeout-s", type=float, default=600.0)
    args = parser.parse_args(argv)
    clips = load_clips()

    def run(url: str) -> LoadReport:
        return asyncio.run(
            run_load(url, clips, clients=args.clients, cap=args.cap, speed=args.speed or None, timeout_s=args.timeout_s)
        )

    if args.url:
        report = run(args.url)
    else:
        from tests.local_server import start_server

        env = {"WHISPER_MODEL": "bundled", "WHISPER_DEVICE": "cpu", "MAX_SESSIONS": str(args.cap)}
        with start_server(REPO, port=0, env=env, ready_timeout=300) as server:
            report = run(server.ws_url)
    print(report.table())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
