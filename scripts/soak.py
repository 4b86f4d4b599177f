#!/usr/bin/env python
"""One long stream, faster than real time, against a local server: is memory flat, is latency steady?

The stream is the tests' five LibriSpeech clips (``tests/speech.py``) with a pause after
each, over and over, for ``--duration-s`` of audio (rounded up to a whole clip), sent at ``--speed`` times
real time. Every ``--report-every-s`` of audio it prints a row: stream time,
wall time, the server's RSS and thread count, finals so far, and the final
latency of that window (from the moment the end of an utterance's audio was sent
to the moment its final arrived; that includes the min-silence wait, 0.3 s of
audio). The summary gives RSS growth after the first window, latency drift
(last window's median minus the first's), and the word error rate of the whole
stream (every word must come back, once; an utterance may be split into several
finals at pauses inside it).

A machine slower than ``--speed`` (a loaded CI machine) would let audio pile up until the
server ends the session (``max_pending_audio_s``) and the latency grow with the queue. With
``--max-ahead-s`` the client waits, between clips, until no more than that much audio is
ahead of the last final (sending keepalives meanwhile): never faster than the server
transcribes. Latency then includes the wait in that queue, so each window also gives each
final's service time, its latency less the time it waited behind the final before it (FIFO:
``arrival - max(end sent, previous final's arrival)``), and, with the server's ``/metrics``,
the mean time the server took to decode a final in that window (how fast the machine is now).
Their difference, the excess, is what neither the queue nor the decoder speed explains; its
drift is the soak's latency check on any machine.

    python scripts/soak.py                         # starts truss's server (bundled tiny.en, CPU), 1 hour of audio
    python scripts/soak.py --duration-s 120 --speed 8 --max-ahead-s 20
    python scripts/soak.py --url ws://127.0.0.1:8080/v1/websocket --pid 12345
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scripts.load_test import (  # noqa: E402
    CONFIG,
    SAMPLE_RATE_HZ,
    Clip,
    final_latency_s,
    load_clips,
    word_error_rate,
)


@dataclass
class Window:
    stream_s: float
    wall_s: float
    rss_mb: float | None
    threads: int | None
    finals: int
    latencies_s: list[float]
    service_s: list[float] = field(default_factory=list)
    """Each final's latency less its wait behind the final before it."""
    decode_s: float | None = None
    """The server's mean decode time of a final in this window (its ``/metrics``), if known."""

    def row(self) -> str:
        lat = sorted(self.latencies_s)
        p50 = f"{statistics.median(lat):6.2f}" if lat else "     -"
        p95 = f"{lat[min(len(lat) - 1, int(0.95 * len(lat)))]:6.2f}" if lat else "     -"
        top = f"{lat[-1]:6.2f}" if lat else "     -"
        rss = f"{self.rss_mb:8.1f}" if self.rss_mb is not None else "       -"
        threads = f"{self.threads:7d}" if self.threads is not None else "      -"
        service = f"{statistics.median(self.service_s):6.2f}" if self.service_s else "     -"
        decode = f"{self.decode_s:6.2f}" if self.decode_s is not None else "     -"
        return (
            f"{self.stream_s:9.0f} {self.wall_s:8.1f} {rss} {threads} {self.finals:7d} {p50} {p95} {top}"
            f" {service} {decode}"
        )

    @property
    def excess_s(self) -> float | None:
        """Median service time less the mean decode: what neither the queue nor the machine's speed explains."""
        if not self.service_s or self.decode_s is None:
            return None
        return statistics.median(self.service_s) - self.decode_s


HEADER = (
    f"{'stream_s':>9} {'wall_s':>8} {'rss_mb':>8} {'threads':>7} {'finals':>7} {'p50_s':>6} {'p95_s':>6} {'max_s':>6}"
    f" {'svc_s':>6} {'dec_s':>6}"
)


@dataclass
class SoakReport:
    windows: list[Window] = field(default_factory=list)
    wer: float = 0.0
    utterances: int = 0
    finals: int = 0
    close_code: int | None = None
    session_end: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    @property
    def rss_growth_mb(self) -> float | None:
        rss = [w.rss_mb for w in self.windows[1:] if w.rss_mb is not None]
        return rss[-1] - rss[0] if len(rss) >= 2 else None

    def p50(self, window: Window) -> float | None:
        return statistics.median(window.latencies_s) if window.latencies_s else None

    @property
    def latency_drift_s(self) -> float | None:
        medians = [m for m in (self.p50(w) for w in self.windows) if m is not None]
        return medians[-1] - medians[0] if len(medians) >= 2 else None

    @property
    def excess_drift_s(self) -> float | None:
        """The last window's ``excess_s`` minus the first's: latency growth not explained by queue or machine."""
        excess = [e for e in (w.excess_s for w in self.windows) if e is not None]
        return excess[-1] - excess[0] if len(excess) >= 2 else None

    @property
    def slowest_decode_s(self) -> float | None:
        decodes = [w.decode_s for w in self.windows if w.decode_s is not None]
        return max(decodes) if decodes else None

    def table(self) -> str:
        lines = [HEADER, *(w.row() for w in self.windows)]
        summary = f"utterances {self.utterances}, finals {self.finals}, WER {self.wer:.3f}, close {self.close_code}"
        if self.error is not None:
            summary += f" ({self.error['code']}: {self.error['message']})"
        if self.rss_growth_mb is not None:
            summary += f"; RSS growth after the first window {self.rss_growth_mb:+.1f} MB"
        if self.latency_drift_s is not None:
            summary += f"; latency drift (last p50 - first p50) {self.latency_drift_s:+.2f} s"
        if self.excess_drift_s is not None:
            summary += f"; excess drift (service less decode) {self.excess_drift_s:+.2f} s"
        return "\n".join([*lines, summary])


def sample_process(pid: int | None) -> tuple[float | None, int | None]:
    """RSS in MB and thread count of ``pid``, from /proc (Linux); None where unknown."""
    if pid is None:
        return None, None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None, None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss_kb = float(fields["VmRSS"].split()[0]) if "VmRSS" in fields else None
    threads = int(fields["Threads"]) if "Threads" in fields else None
    return (rss_kb / 1024 if rss_kb is not None else None), threads


def final_decode_totals(metrics_url: str | None) -> tuple[float, float] | None:
    """The server's total seconds spent decoding finals, and how many (``whisper_stream_decode_seconds``)."""
    if metrics_url is None:
        return None
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(metrics_url, timeout=30) as response:
        text = response.read().decode()
    totals = {"_sum": 0.0, "_count": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            suffix = sample.name.removeprefix("whisper_stream_decode_seconds")
            if suffix in totals and sample.labels.get("kind") == "final":
                totals[suffix] = sample.value
    return totals["_sum"], totals["_count"]


def stream_pieces(clips: list[Clip], duration_s: float) -> Iterator[Clip]:
    """Whole clips in turn until at least ``duration_s`` of audio (so every reference is complete)."""
    sent, i = 0, 0
    while sent < duration_s * SAMPLE_RATE_HZ:
        clip = clips[i % len(clips)]
        yield clip
        sent += clip.audio.size
        i += 1


async def soak(
    url: str,
    *,
    duration_s: float,
    speed: float,
    pid: int | None = None,
    report_every_s: float = 300.0,
    clips: list[Clip] | None = None,
    frame_samples: int = 1_600,
    echo: bool = False,
    max_ahead_s: float | None = None,
    metrics_url: str | None = None,
    keepalive_every_s: float = 5.0,
) -> SoakReport:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    clips = clips or load_clips(pause_s=1.0)
    report = SoakReport()
    references: list[str] = []
    sent_marks: list[tuple[float, float]] = []  # (stream seconds sent, wall time) after each frame
    finals: list[dict[str, Any]] = []
    latencies: list[float] = []
    services: list[float] = []
    transcribed = {"s": 0.0, "previous_arrival": 0.0}  # stream seconds with their finals back; last final's arrival
    progress = asyncio.Event()  # set on every final
    decode_totals = [final_decode_totals(metrics_url)]
    start = time.monotonic()

    def close_window(stream_s: float) -> None:
        rss, threads = sample_process(pid)
        window = Window(
            stream_s, time.monotonic() - start, rss, threads, len(finals), latencies.copy(), services.copy()
        )
        totals, before = final_decode_totals(metrics_url), decode_totals[-1]
        if totals is not None and before is not None and totals[1] > before[1]:
            window.decode_s = (totals[0] - before[0]) / (totals[1] - before[1])
        decode_totals.append(totals)
        latencies.clear()
        services.clear()
        report.windows.append(window)
        if echo:
            print(window.row(), flush=True)

    async with connect(url, max_size=None) as websocket:
        await websocket.send(json.dumps(CONFIG))

        async def wait_for_room(sent_s: float) -> None:
            """Between clips (no utterance open): until at most ``max_ahead_s`` is ahead of the last final."""
            while max_ahead_s is not None and sent_s - transcribed["s"] > max_ahead_s:
                progress.clear()
                try:
                    await asyncio.wait_for(progress.wait(), timeout=keepalive_every_s)
                except TimeoutError:  # the idle timeout counts client messages: say we are still here
                    await websocket.send(json.dumps({"type": "keepalive"}))

        async def send() -> None:
            sent = 0
            paused_s = 0.0  # time spent waiting for room: the pacing resumes from where it stopped
            next_report = report_every_s
            for clip in stream_pieces(clips, duration_s):
                waited_from = time.monotonic()
                await wait_for_room(sent / SAMPLE_RATE_HZ)
                paused_s += time.monotonic() - waited_from
                references.append(clip.reference or "")
                pcm = (np.clip(clip.audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
                for offset in range(0, len(pcm), frame_samples * 2):
                    frame = pcm[offset : offset + frame_samples * 2]
                    await websocket.send(frame)
                    sent += len(frame) // 2
                    sent_marks.append((sent / SAMPLE_RATE_HZ, time.monotonic()))
                    due = start + paused_s + sent / SAMPLE_RATE_HZ / speed
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    if sent / SAMPLE_RATE_HZ >= next_report:
                        close_window(next_report)
                        next_report += report_every_s
            await websocket.send(json.dumps({"terminate_session": True}))

        if echo:
            print(HEADER, flush=True)
        sender = asyncio.create_task(send())
        try:
            async for raw in websocket:
                message = json.loads(raw)
                if message.get("type") == "transcription" and message["is_final"]:
                    arrival = time.monotonic()
                    finals.append(message)
                    latency = final_latency_s(message, sent_marks)
                    if latency is not None:
                        latencies.append(latency)
                        services.append(arrival - max(arrival - latency, transcribed["previous_arrival"]))
                    if message["segments"]:
                        transcribed["s"] = max(transcribed["s"], message["segments"][-1]["end_time"])
                    transcribed["previous_arrival"] = arrival
                    progress.set()
                elif message.get("type") == "session_end":
                    report.session_end = message
                elif message.get("type") == "error":
                    report.error = message
        except ConnectionClosed:
            pass
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        report.close_code = websocket.close_code
    if latencies or not report.windows:
        close_window(duration_s)
    report.utterances = len(references)
    report.finals = len(finals)
    text = " ".join(m["transcript"] for m in finals if m["transcript"])
    report.wer = word_error_rate(" ".join(references), text) if references else 0.0
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server's websocket URL (default: start truss's server locally)")
    parser.add_argument("--pid", type=int, help="the server's process id, for RSS (with --url)")
    parser.add_argument("--duration-s", type=float, default=3600.0, help="seconds of audio (default: one hour)")
    parser.add_argument("--speed", type=float, default=8.0, help="times real time")
    parser.add_argument("--report-every-s", type=float, default=300.0, help="seconds of audio per table row")
    parser.add_argument("--max-ahead-s", type=float, help="never more audio than this ahead of the last final")
    parser.add_argument("--metrics-url", help="the server's /metrics (with --url), for its decode time per window")
    args = parser.parse_args(argv)

    def run(url: str, pid: int | None, metrics_url: str | None) -> SoakReport:
        return asyncio.run(
            soak(
                url,
                duration_s=args.duration_s,
                speed=args.speed,
                pid=pid,
                report_every_s=args.report_every_s,
                echo=True,
                max_ahead_s=args.max_ahead_s,
                metrics_url=metrics_url,
            )
        )

    if args.url:
        report = run(args.url, args.pid, args.metrics_url)
    else:
        from tests.local_server import start_server

        env = {"WHISPER_MODEL": "bundled", "WHISPER_DEVICE": "cpu"}
        with start_server(REPO, port=0, env=env, ready_timeout=300) as server:
            report = run(server.ws_url, server.process.pid, f"{server.http_url}/metrics")
    print(report.table())
    return 0 if report.close_code == 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
