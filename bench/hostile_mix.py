"""Hostile mix: well-behaved real-time speech sessions at a replica held at its session cap by hostile clients.

Two runs, each on a fresh local server (``scripts/serve_local.py``: truss's server, tiny.en on the CPU,
``MAX_SESSIONS`` 8): the well-behaved sessions alone, then the same sessions beside hostile clients:

- ``holder``: a config, then a keepalive a second, never audio; reconnects at once when ended (with
  ``fast`` and ``deaf``, they fill every slot);
- ``config_less``: sockets that never send their config, reopened at once;
- ``fast``: real speech at 20x real time, reconnecting at once when it ends or is refused;
- ``deaf``: real speech in real time from a client that never reads a reply;
- ``oversized``: a config, then a frame of 1 MiB + 2 (over ``MAX_FRAME_BYTES``) or of 2 MiB + 2 (over the
  WebSocket layer's cap), again and again;
- ``malformed``: configs that are not JSON, nested 5000 deep, a prompt of ``"\\ud800"``, a 5000-digit number;
  and after a valid config odd-length frames, NaN ``pcm_f32le`` samples, nested control messages;
- ``storm``: a config and an immediate close, 20 times a second.

The well-behaved sessions arrive after the holders have filled the replica, retry on 1013 (once a second,
as a client should) and stream real speech (``data/speech``) in real time, then terminate. So does a
``newcomer`` every 10 s with 4 s of speech. Reported: for the well-behaved sessions, that every one ended
1000 with every utterance's words back, their WER and p95 final latency against the run without hostile
clients, and how long they waited for a slot; for the server, the closes by code (client side, per kind;
server side, its own counters), its RSS over time and its event-loop lag. Bounded: each run lasts the
streams' length plus a margin, then every client stops.

    .venv/bin/python bench/hostile_mix.py                  # 2 well-behaved streams of 60 s
    .venv/bin/python bench/hostile_mix.py --good 3 --duration-s 90 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "packages")]

from bench import server_watch  # noqa: E402
from bench.audio import build_stream, load_clips, reference_text  # noqa: E402
from bench.metrics import corpus_wer, coverage_summary, hypothesis, latency_summary, score_utterances  # noqa: E402
from bench.systems.base import StreamRun, to_pcm16  # noqa: E402
from bench.systems.ours import stream_to_ours  # noqa: E402
from tests.local_server import start_server  # noqa: E402

SEED = {"streaming_whisper_params": {"encoding": "pcm_s16le", "sample_rate": 16_000}}
KEEPALIVE = json.dumps({"type": "keepalive"})


@dataclass
class Tally:
    """What each kind of client saw: close codes, and how many connections it opened."""

    closes: dict[str, Counter[int | None]] = field(default_factory=dict)
    opened: Counter[str] = field(default_factory=Counter)

    def close(self, kind: str, code: int | None) -> None:
        self.closes.setdefault(kind, Counter())[code] += 1


@dataclass
class GoodResult:
    run: StreamRun
    attempts: int
    admitted_after_s: float  # from the first attempt to the start of the admitted one


async def _good_session(url: str, audio: np.ndarray, timeout_s: float) -> GoodResult:
    """A well-behaved client: real time, terminate, and a retry a second after a 1013."""
    started, attempts = time.monotonic(), 0
    while True:
        attempts += 1
        attempt_started = time.monotonic()
        run = await stream_to_ours(url, audio, speed=1.0, frame_ms=40, timeout_s=timeout_s)
        refused = "1013" in (run.error or "") and not run.events  # refused before anything was transcribed
        if not refused or attempts >= 60:
            return GoodResult(run, attempts, attempt_started - started)
        await asyncio.sleep(1.0)


async def _until(deadline: float, loop_body: Callable[[], Awaitable[None]], start_after_s: float = 0.0) -> None:
    """Run ``loop_body`` again and again until ``deadline`` (monotonic); errors end one round, not the loop."""
    await asyncio.sleep(start_after_s)
    while time.monotonic() < deadline:
        try:
            await asyncio.wait_for(loop_body(), max(deadline - time.monotonic(), 0.01))
        except (TimeoutError, OSError, ConnectionClosed):
            await asyncio.sleep(0.05)


async def _drain_replies(websocket: Any) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for _ in websocket:
            pass


def hostile_clients(
    url: str, deadline: float, tally: Tally, speech: np.ndarray, holders: int, leave_out: frozenset[str]
) -> list[Awaitable[None]]:
    pcm = to_pcm16(speech)

    async def holder() -> None:
        async with connect(url) as ws:
            tally.opened["holder"] += 1
            await ws.send(json.dumps(SEED))
            reader = asyncio.create_task(_drain_replies(ws))
            with contextlib.suppress(ConnectionClosed):
                while not reader.done():
                    await ws.send(KEEPALIVE)
                    await asyncio.sleep(1.0)
            await reader
        tally.close("holder", ws.close_code)

    async def config_less() -> None:
        async with connect(url) as ws:
            tally.opened["config_less"] += 1
            await _drain_replies(ws)
        tally.close("config_less", ws.close_code)

    async def fast() -> None:
        async with connect(url, max_size=None) as ws:
            tally.opened["fast"] += 1
            await ws.send(json.dumps(SEED))
            reader = asyncio.create_task(_drain_replies(ws))
            with contextlib.suppress(ConnectionClosed):
                for offset in range(0, len(pcm), 1280):  # 40 ms frames, 20x real time
                    if reader.done():
                        break
                    await ws.send(pcm[offset : offset + 1280])
                    await asyncio.sleep(0.002)
                await ws.send(json.dumps({"terminate_session": True}))
            await reader
        tally.close("fast", ws.close_code)

    async def deaf() -> None:
        async with connect(url, max_queue=1) as ws:  # never reads: websockets stops reading the socket
            tally.opened["deaf"] += 1
            await ws.send(json.dumps({**SEED, "whisper_params": {"prompt": "never read"}}))
            with contextlib.suppress(ConnectionClosed):
                for offset in range(0, len(pcm), 1280):
                    await ws.send(pcm[offset : offset + 1280])
                    await asyncio.sleep(0.04)
                await asyncio.sleep(3600)
        tally.close("deaf", ws.close_code)

    async def oversized() -> None:
        size = (1 << 20) + 2 if tally.opened["oversized"] % 2 else (2 << 20) + 2
        async with connect(url, max_size=None) as ws:
            tally.opened["oversized"] += 1
            await ws.send(json.dumps(SEED))
            with contextlib.suppress(ConnectionClosed):
                await ws.send(b"\x00" * size)
            await _drain_replies(ws)
        tally.close("oversized", ws.close_code)
        await asyncio.sleep(0.5)

    bad_first = [
        "{not json",
        "[" * 5000 + "]" * 5000,
        '{"whisper_params": {"prompt": "\\ud800"}}',
        '{"vad_params": {"threshold": ' + "9" * 5000 + "}}",
    ]
    f32 = json.dumps({"streaming_params": {"encoding": "pcm_f32le"}})
    bad_after = [
        (json.dumps(SEED), [b"\x01", b"\x02\x03\x04", pcm[:4097]]),
        (f32, [np.array([0.1, np.nan, 0.2], dtype="<f4").tobytes()]),
        (json.dumps(SEED), ["[" * 3000 + "]" * 3000]),
        (json.dumps(SEED), ['{"terminate_session": true, "type": []}']),
    ]

    async def malformed() -> None:
        index = tally.opened["malformed"]
        tally.opened["malformed"] += 1
        first, after = (bad_first[index // 2 % len(bad_first)], []) if index % 2 else bad_after[index // 2 % 4]
        async with connect(url, max_size=None) as ws:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(first)
                for message in after:
                    await ws.send(message)
            await _drain_replies(ws)
        tally.close("malformed", ws.close_code)
        await asyncio.sleep(0.3)

    async def storm() -> None:
        async with connect(url) as ws:
            tally.opened["storm"] += 1
            await ws.send(json.dumps(SEED))
        tally.close("storm", ws.close_code)
        await asyncio.sleep(0.05)

    # The audio senders take their slots first, the holders the rest; then the others come and go.
    kinds = [(fast, 0.0), (deaf, 0.0)] + [(holder, 0.5)] * holders
    kinds += [(config_less, 1.0)] * 8 + [(oversized, 1.0), (malformed, 1.0), (storm, 1.0)]
    return [_until(deadline, kind, start) for kind, start in kinds if kind.__name__ not in leave_out]


async def _phase(url: str, metrics_url: str, pid: int, args: argparse.Namespace, hostile: bool) -> dict[str, Any]:
    clips = load_clips()
    streams = [build_stream(clips, args.duration_s, rotate=7 * i, seed=i) for i in range(args.good)]
    newcomer_audio = build_stream(clips, 6.0, rotate=3, seed=99, lead_s=0.5, tail_s=1.5).audio
    sampler = server_watch.RssSampler(pid)
    sampling = asyncio.create_task(sampler.run())
    before = server_watch.scrape(metrics_url)
    deadline = time.monotonic() + args.duration_s + 15.0
    tally = Tally()
    hostiles = []
    if hostile:
        speech = build_stream(clips, 30.0, rotate=11, seed=5).audio
        clients = hostile_clients(url, deadline, tally, speech, args.holders, frozenset(args.leave_out))
        hostiles = [asyncio.ensure_future(client) for client in clients]
        await asyncio.sleep(3.0)  # the holders fill the replica first

    async def newcomers() -> list[GoodResult]:
        found = []
        while time.monotonic() + 20 < deadline:
            await asyncio.sleep(10.0)
            found.append(await _good_session(url, newcomer_audio, timeout_s=60))
        return found

    goods = [asyncio.ensure_future(_good_session(url, s.audio, args.duration_s + 180)) for s in streams]
    probes = asyncio.ensure_future(newcomers())
    results: list[GoodResult] = list(await asyncio.gather(*goods))
    newcomer_results = await probes
    for task in hostiles:
        task.cancel()
    await asyncio.gather(*hostiles, return_exceptions=True)
    await asyncio.sleep(1.0)
    sampling.cancel()
    after = server_watch.delta(server_watch.scrape(metrics_url), before)
    return _report(streams, results, newcomer_results, tally, sampler, after)


def _report(streams, results, newcomers, tally, sampler, after) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    scores = [score for s, r in zip(streams, results, strict=True) for score in score_utterances(s, r.run, 1.0)]
    lag = server_watch.histogram(after, "whisper_stream_event_loop_lag_seconds")
    slot_wait = server_watch.histogram(after, "whisper_stream_slot_wait_seconds")
    return {
        "good": {
            "sessions": len(results),
            "errors": [r.run.error for r in results if r.run.error],
            "coverage": coverage_summary(scores),
            "wer": corpus_wer([reference_text(s) for s in streams], [hypothesis(r.run) for r in results])["wer"],
            "final_latency": latency_summary([s.final_latency_s for s in scores]),
            "attempts": [r.attempts for r in results],
            "admitted_after_s": [round(r.admitted_after_s, 2) for r in results],
        },
        "newcomers": {
            "sessions": len(newcomers),
            "errors": [r.run.error for r in newcomers if r.run.error],
            "attempts": [r.attempts for r in newcomers],
            "admitted_after_s": [round(r.admitted_after_s, 2) for r in newcomers],
        },
        "slot_wait_s": {
            "sessions": server_watch.value(after, "whisper_stream_slot_wait_seconds_count"),
            "p50_at_most": server_watch.histogram_bound(slot_wait, 0.5),
            "max_at_most": server_watch.histogram_bound(slot_wait, 1.0),
        },
        "client_closes": {kind: dict(sorted(c.items(), key=str)) for kind, c in sorted(tally.closes.items())},
        "connections_opened": dict(tally.opened),
        "server_sessions": server_watch.labelled(after, "whisper_stream_sessions", "outcome"),
        "server_errors": server_watch.labelled(after, "whisper_stream_errors", "code"),
        "rss_mb": {"peak": round(sampler.peak_bytes / 1e6, 1), "every_10_s": sampler.timeline(10.0)},
        "loop_lag_s": {
            "p50_at_most": server_watch.histogram_bound(lag, 0.5),
            "p99_at_most": server_watch.histogram_bound(lag, 0.99),
            "max_at_most": server_watch.histogram_bound(lag, 1.0),
        },
    }


def _print(name: str, report: dict[str, Any]) -> None:
    good = report["good"]
    print(f"\n== {name}")
    print(
        f"well-behaved: {good['sessions']} sessions, errors {good['errors'] or 'none'}, coverage {good['coverage']}, "
        f"WER {good['wer']:.3f}, final latency p50 {good['final_latency']['p50_s']} s p95 "
        f"{good['final_latency']['p95_s']} s max {good['final_latency']['max_s']} s, attempts {good['attempts']}, "
        f"admitted after {good['admitted_after_s']} s"
    )
    newcomers = report["newcomers"]
    print(
        f"newcomers: {newcomers['sessions']}, errors {newcomers['errors'] or 'none'}, attempts "
        f"{newcomers['attempts']}, admitted after {newcomers['admitted_after_s']} s"
    )
    print(f"slot wait (server): {report['slot_wait_s']}")
    print(f"closes seen by clients, per kind: {report['client_closes']}")
    print(f"connections opened: {report['connections_opened']}")
    print(f"server: sessions {report['server_sessions']}, errors {report['server_errors']}")
    rss = report["rss_mb"]
    print(f"RSS peak {rss['peak']} MB; per 10 s: " + ", ".join(f"{t:.0f}s {mb:.0f}" for t, mb in rss["every_10_s"]))
    print(f"event-loop lag: {report['loop_lag_s']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--good", type=int, default=2, help="well-behaved real-time streams (default 2)")
    parser.add_argument("--duration-s", type=float, default=60.0, help="length of each such stream (default 60)")
    parser.add_argument("--max-sessions", type=int, default=8, help="the server's MAX_SESSIONS (default 8)")
    parser.add_argument(
        "--cpu-threads", type=int, default=0, help="WHISPER_CPU_THREADS (default: the server's, cores up to 8)"
    )
    parser.add_argument(
        "--leave-out",
        type=lambda text: [kind for kind in text.split(",") if kind],
        default=[],
        help="hostile kinds to leave out, comma-separated (fast,deaf: only those that send no real audio)",
    )
    parser.add_argument("--phases", default="alone,hostile", help="which runs (default: alone,hostile)")
    parser.add_argument("--json", type=Path, help="write both reports here")
    args = parser.parse_args(argv)
    args.holders = args.max_sessions - 2 + sum(kind in args.leave_out for kind in ("fast", "deaf"))  # every slot
    env = {"WHISPER_MODEL": "bundled", "WHISPER_DEVICE": "cpu", "MAX_SESSIONS": str(args.max_sessions)}
    if args.cpu_threads:
        env["WHISPER_CPU_THREADS"] = str(args.cpu_threads)
    reports = {}
    print(f"load average before: {os.getloadavg()}")
    for name, hostile in (("alone", False), ("hostile", True)):
        if name not in args.phases:
            continue
        with start_server(REPO, env=env, ready_timeout=300) as server:
            metrics_url = f"{server.http_url}/metrics"
            reports[name] = asyncio.run(_phase(server.ws_url, metrics_url, server.process.pid, args, hostile))
        _print(f"{name} (load average after: {os.getloadavg()})", reports[name])
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1, default=str))
    lost = [name for name, r in reports.items() if r["good"]["errors"] or r["good"]["coverage"]["missed"]]
    print("\nNOTHING LOST" if not lost else f"\nLOST in {lost}")
    return 1 if lost else 0


if __name__ == "__main__":
    raise SystemExit(main())
