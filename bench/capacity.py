#!/usr/bin/env python
"""How many real-time sessions the CPU side of one replica holds, with the GPU simulated.

``make bench-capacity``. The real server (truss's own, as ``make serve``) runs
with ``WHISPER_MODEL=simulated:<model>:<gpu>`` and ``WHISPER_TRANSCRIBER`` naming
``bench/simulated_accelerator.py`` (a transcriber that sleeps for
a GPU's decode time, see ``bench.simulated_accelerator``), pinned to
one core (``taskset -c 0``). This process, pinned to another core, is the load
generator: one asyncio loop, every frame pre-encoded, frames sent in real time
(a 512-sample frame leaves when its last sample has been "captured"), its own
lag recorded. Each step streams real speech (``data/speech``) as N
concurrent sessions with the seed's config (pcm_s16le 512-sample frames,
partials on) and measures:

- final latency: arrival of a final minus the moment the server could first
  know its utterance ended (the frame holding the end of speech plus
  ``min_silence_duration_ms`` was sent; the send time, so the generator's own
  lag is not counted against the server). ``excess`` is that minus the
  simulated device time: p95 excess = p95 latency - p95 device time of finals
  (``whisper_stream_simulated_device_seconds`` from ``/metrics``, set only by
  the simulated transcriber): a difference of percentiles, not the percentile
  of differences.
- partial latency: arrival of a partial minus the moment its last frame was sent.
- server CPU (psutil, process tree) per session, the server's event-loop lag
  (``whisper_stream_event_loop_lag_seconds``), the batch sizes formed
  (``whisper_stream_decode_batch_size``), sessions that errored.

A step holds when p95 excess <= 0.25 s, no session errored and the loop lag
p99 <= 50 ms. Writes ``bench/results/capacity.json`` (and ``capacity.png``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import profiling
from bench.audio import DEFAULT_DATA_DIR, build_stream, load_clips
from bench.metrics import covers_end
from bench.server_watch import Samples, delta, histogram, histogram_quantile, scrape, value
from bench.systems.base import HOST, free_port, run_server, to_pcm16
from tests.stream_client import SEED_CONFIG

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SIMULATED_ACCELERATOR = f"{REPO / 'bench' / 'simulated_accelerator.py'}:from_settings"
FRAME_SAMPLES = 512
FRAME_S = FRAME_SAMPLES / 16_000
SPEECH_PAD_S = 0.03
HOLD_EXCESS_P95_S = 0.25
HOLD_LOOP_LAG_P99_S = 0.05


@dataclass
class SessionLoad:
    frames: list[bytes]
    start_s: float  # offset from the step's start
    speech_ends_s: list[float]  # stream time where each clip's speech ends (silero on the clean clip)
    min_silence_s: float
    finals_latency_s: list[float] = field(default_factory=list)
    end_of_speech_latency_s: dict[int, float] = field(default_factory=dict)  # speech end index -> first final
    partials_latency_s: list[float] = field(default_factory=list)
    error: str | None = None
    sent: int = 0
    sent_at_s: list[float] = field(default_factory=list)  # when each frame left, from the session's start


@dataclass
class Step:
    sessions: int
    load_1min: float
    finals: int
    partials: int
    final_p50_s: float
    final_p95_s: float
    end_of_speech_p50_s: float
    end_of_speech_p95_s: float
    end_of_speech_max_s: float
    device_final_p50_s: float
    device_final_p95_s: float
    excess_p50_s: float
    excess_p95_s: float
    partial_p95_s: float
    partials_per_session_s: float
    server_cpu_cores: float
    server_cpu_ms_per_session_s: float
    loop_lag_p99_s: float
    client_lag_p99_s: float
    client_lag_max_s: float
    batch_sizes: dict[str, float]
    errors: list[str]
    held: bool
    finals_without_context: int = 0
    """Finals decoded alone because the finals before them were not sent yet (the decoder behind)."""
    final_calls: int = 0
    """Decode calls of finals, speculative ones included, a batch each (``whisper_stream_decode_seconds_count``):
    unbatched, those beyond ``finals`` are early finals a pause did not keep (or decodes done again)."""
    profile_top: list[str] = field(default_factory=list)


# --------------------------------------------------------------------- load


def prepare_sessions(count: int, duration_s: float, data_dir: Path, min_silence_ms: int = 300) -> list[SessionLoad]:
    clips = load_clips(data_dir)
    rng = np.random.default_rng(count)
    sessions = []
    for index in range(count):
        stream = build_stream(clips, duration_s, rotate=index * 7, seed=index, tail_s=2.0)
        audio = stream.audio
        frames = [to_pcm16(audio[i : i + FRAME_SAMPLES]) for i in range(0, audio.size, FRAME_SAMPLES)]
        ends_s = [u.silero_end_s if u.silero_end_s is not None else u.speech_end_s for u in stream.utterances]
        start_s = float(rng.uniform(0.0, 2.0))
        sessions.append(SessionLoad(frames, start_s, ends_s, min_silence_ms / 1000))
    return sessions


def session_config(min_silence_s: float) -> dict[str, Any]:
    """The seed's config, with the client's endpoint silence."""
    vad = {**SEED_CONFIG.get("vad_params", {}), "min_silence_duration_ms": round(min_silence_s * 1000)}
    return {**SEED_CONFIG, "vad_params": vad}


async def run_step(url: str, sessions: list[SessionLoad]) -> list[float]:
    """Stream every session in real time from one loop; returns the sender's lag samples."""
    sockets: list[ClientConnection | None] = [None] * len(sessions)
    t0 = time.monotonic() + 1.0
    receivers = [asyncio.create_task(_session(url, s, i, sockets, t0)) for i, s in enumerate(sessions)]
    lags = await _send_all(sessions, sockets, t0)
    for index, websocket in enumerate(sockets):
        if websocket is not None and sessions[index].error is None:
            with contextlib.suppress(ConnectionClosed):
                await websocket.send(json.dumps({"terminate_session": True}))
    await asyncio.wait(receivers, timeout=60)
    for task, load in zip(receivers, sessions, strict=True):
        if not task.done() and load.error is None:
            load.error = "no session_end within 60 s of the end of its audio"
        task.cancel()
    return lags


async def _session(url: str, load: SessionLoad, index: int, sockets: list[ClientConnection | None], t0: float) -> None:
    await asyncio.sleep(max(t0 + load.start_s - time.monotonic() - 0.5, 0))
    try:
        async with connect(url, max_size=None, open_timeout=30, ping_interval=None) as websocket:
            await websocket.send(json.dumps(session_config(load.min_silence_s)))
            sockets[index] = websocket
            start = t0 + load.start_s
            async for raw in websocket:
                _record(load, json.loads(raw), time.monotonic() - start)
            if websocket.close_code not in (1000, None):
                load.error = f"closed {websocket.close_code} {websocket.close_reason}"
    except (OSError, ConnectionClosed, TimeoutError) as exc:
        load.error = f"{type(exc).__name__}: {exc}"
    finally:
        sockets[index] = None


def _record(load: SessionLoad, message: dict[str, Any], now_s: float) -> None:
    """``now_s``: seconds since this session's first sample was captured."""
    if message.get("type") == "error":
        load.error = f"{message.get('code')}: {message.get('message')}"
        return
    if message.get("type") != "transcription" or not message.get("segments"):
        return
    end_s = max(s["end_time"] for s in message["segments"])
    if message["is_final"]:
        decided_s = end_s - SPEECH_PAD_S + load.min_silence_s  # the server could know speech ended here
        load.finals_latency_s.append(now_s - _sent_s(load, decided_s))
        start_s = min(s["start_time"] for s in message["segments"])
        for index, speech_end_s in enumerate(load.speech_ends_s):  # the field's figure: from the end of speech
            if index not in load.end_of_speech_latency_s and covers_end(start_s, end_s, speech_end_s):
                load.end_of_speech_latency_s[index] = now_s - _sent_s(load, speech_end_s)
    else:
        load.partials_latency_s.append(now_s - _sent_s(load, end_s))


def _sent_s(load: SessionLoad, stream_s: float) -> float:
    """When the frame holding stream time ``stream_s`` was sent: the generator's own lag is not the server's."""
    index = int(stream_s / FRAME_S)
    if index < len(load.sent_at_s):
        return load.sent_at_s[index]
    return (index + 1) * FRAME_S  # not sent (yet): when it was due


async def _send_all(sessions: list[SessionLoad], sockets: list[ClientConnection | None], t0: float) -> list[float]:
    lags: list[float] = []
    total_frames = max(len(s.frames) for s in sessions)
    end = t0 + max(s.start_s for s in sessions) + total_frames * FRAME_S
    while (now := time.monotonic()) < end + FRAME_S:
        for index, load in enumerate(sessions):
            websocket = sockets[index]
            if websocket is None or load.sent >= len(load.frames):
                continue
            due_count = min(int((now - t0 - load.start_s) / FRAME_S), len(load.frames))
            while load.sent < due_count:
                due_s = t0 + load.start_s + (load.sent + 1) * FRAME_S
                lags.append(now - due_s)
                load.sent_at_s.append(now - t0 - load.start_s)
                with contextlib.suppress(ConnectionClosed):
                    await websocket.send(load.frames[load.sent])
                load.sent += 1
        await asyncio.sleep(max(FRAME_S / 4 - (time.monotonic() - now), 0.001))
    return lags


# ------------------------------------------------------------------ measure


def measure_step(url: str, metrics_url: str, server_pid: int, sessions: list[SessionLoad], profile: bool) -> Step:
    tree = [psutil.Process(server_pid), *psutil.Process(server_pid).children(recursive=True)]
    cpu_before = sum(sum(p.cpu_times()[:2]) for p in tree)
    before = scrape(metrics_url)
    spy = _start_profiler(server_pid) if profile else None
    started = time.monotonic()
    lags = asyncio.run(run_step(url, sessions))
    wall_s = time.monotonic() - started
    top = _stop_profiler(spy) if spy else []
    cpu_s = sum(sum(p.cpu_times()[:2]) for p in tree) - cpu_before
    after = scrape(metrics_url)
    return summarise(sessions, before, after, cpu_s, wall_s, lags, top)


def summarise(
    sessions: list[SessionLoad],
    before: Samples,
    after: Samples,
    cpu_s: float,
    wall_s: float,
    lags: list[float],
    top: list[str],
) -> Step:
    finals = np.array([x for s in sessions for x in s.finals_latency_s]) if sessions else np.zeros(0)
    sent_ends = [(s, i) for s in sessions for i, e in enumerate(s.speech_ends_s) if e < len(s.sent_at_s) * FRAME_S]
    eos = np.array([s.end_of_speech_latency_s.get(i, np.inf) for s, i in sent_ends])  # inf: no final covered it
    partials = np.array([x for s in sessions for x in s.partials_latency_s])
    rose = delta(after, before)
    device = histogram(rose, "whisper_stream_simulated_device_seconds", kind="final")
    loop_lag = histogram(rose, "whisper_stream_event_loop_lag_seconds")
    batches = histogram(rose, "whisper_stream_decode_batch_size")
    errors = [s.error for s in sessions if s.error]
    final_p95 = _pct(finals, 95)
    device_p95 = histogram_quantile(device, 0.95)
    excess_p95 = final_p95 - device_p95
    loop_p99 = histogram_quantile(loop_lag, 0.99)
    n = len(sessions)
    return Step(
        sessions=n,
        load_1min=os.getloadavg()[0],
        finals=int(finals.size),
        partials=int(partials.size),
        final_p50_s=_pct(finals, 50),
        final_p95_s=final_p95,
        end_of_speech_p50_s=_pct(eos, 50),
        end_of_speech_p95_s=_pct(eos, 95),
        end_of_speech_max_s=float(eos.max()) if eos.size else float("nan"),
        device_final_p50_s=histogram_quantile(device, 0.5),
        device_final_p95_s=device_p95,
        excess_p50_s=_pct(finals, 50) - histogram_quantile(device, 0.5),
        excess_p95_s=excess_p95,
        partial_p95_s=_pct(partials, 95),
        partials_per_session_s=partials.size / max(n * wall_s, 1e-9),
        server_cpu_cores=cpu_s / wall_s,
        server_cpu_ms_per_session_s=1000 * cpu_s / wall_s / max(n, 1),
        loop_lag_p99_s=loop_p99,
        client_lag_p99_s=_pct(np.array(lags), 99),
        client_lag_max_s=float(max(lags, default=0.0)),
        batch_sizes={str(k): v for k, v in batches.items()},
        errors=errors[:5] + ([f"... {len(errors)} sessions errored"] if len(errors) > 5 else []),
        held=bool(finals.size) and excess_p95 <= HOLD_EXCESS_P95_S and not errors and loop_p99 <= HOLD_LOOP_LAG_P99_S,
        finals_without_context=round(value(rose, "whisper_stream_finals_without_context_total")),
        final_calls=round(value(rose, "whisper_stream_decode_seconds_count", kind="final")),
        profile_top=top,
    )


def _pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else float("nan")


def _start_profiler(pid: int) -> tuple[subprocess.Popen[bytes], Path] | None:
    spy = profiling.py_spy()
    if spy is None:
        print("capacity: py-spy is not installed in the venv; no profile", file=sys.stderr)
        return None
    out = RESULTS / f"profile-{pid}-{time.time_ns()}.txt"
    cmd = ["taskset", "-c", "1", spy, "record", "-p", str(pid), "-r", "50", "-f", "raw", "-o", str(out)]
    return subprocess.Popen(cmd + ["--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out


def _stop_profiler(spy: tuple[subprocess.Popen[bytes], Path]) -> list[str]:
    proc, out = spy
    proc.send_signal(2)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(30)
    return profiling.top_self_time(out) if out.exists() else []


# --------------------------------------------------------------------- main


def _ready(server: Any) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{server.port}/v1/models/model", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        default="simulated:large-v3-turbo:H100",
        help="WHISPER_MODEL: a simulated accelerator; the fastest one, so that the GPU side is not what limits",
    )
    parser.add_argument("--sessions", default="16,32,64,96,128,160,192,256", help="the sweep, comma-separated")
    parser.add_argument("--step-duration-s", type=float, default=40.0, help="audio per session per step")
    parser.add_argument("--full-sweep", action="store_true", help="go on past the first step that fails")
    parser.add_argument("--profile", action="store_true", help="py-spy the server during every step")
    parser.add_argument("--server-core", default="0")
    parser.add_argument("--client-core", default="1")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--out", type=Path, default=RESULTS / "capacity.json")
    parser.add_argument("--env", action="append", default=[], help="extra server env, NAME=VALUE")
    parser.add_argument("--min-silence-ms", type=int, default=300, help="the clients' min_silence_duration_ms")
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.sessions.split(",")]
    os.sched_setaffinity(0, {int(args.client_core)})
    port = free_port()
    env = {
        "WHISPER_TRANSCRIBER": SIMULATED_ACCELERATOR,
        "WHISPER_MODEL": args.model,
        "MAX_SESSIONS": str(max(counts) + 8),
        "IDLE_TIMEOUT_S": "600",
    }
    env.update(dict(item.split("=", 1) for item in args.env))
    cmd = ["taskset", "-c", args.server_core, sys.executable, str(REPO / "scripts" / "serve_local.py")]
    cmd += ["--port", str(port), "--truss-dir", str(REPO), "--build-dir", str(REPO / ".build" / "capacity")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    steps: list[Step] = []
    with run_server(cmd, RESULTS / "capacity-server.log", port, env=env, ready=_ready) as server:
        url, metrics_url = f"ws://{HOST}:{port}/v1/websocket", f"http://{HOST}:{port}/metrics"
        for count in counts:
            sessions = prepare_sessions(count, args.step_duration_s, args.data_dir, args.min_silence_ms)
            step = measure_step(url, metrics_url, server.pid, sessions, args.profile)
            steps.append(step)
            print(format_row(step), flush=True)
            result = write_result(args.out, args.model, args.step_duration_s, steps)  # after each step
            if not step.held and not args.full_sweep:
                break
    _plot(steps, args.out.with_suffix(".png"))
    print(f"sessions held on one core: {result['sessions_held']} ({args.model}); wrote {args.out}")
    return 0


def write_result(path: Path, model: str, step_duration_s: float, steps: list[Step]) -> dict[str, Any]:
    held = [s.sessions for s in steps if s.held]
    result = {
        "sessions_held": max(held, default=0),
        "cpu_cores": 1,
        "model": model,
        "step_duration_s": step_duration_s,
        "hold_rule": {"excess_p95_s": HOLD_EXCESS_P95_S, "loop_lag_p99_s": HOLD_LOOP_LAG_P99_S, "errors": 0},
        "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg()},
        "steps": [asdict(s) for s in steps],
    }
    path.write_text(json.dumps(result, indent=1) + "\n")
    return result


HEADER = (
    "sessions load  finals p50/p95 s  end of speech->final p50/p95/max s  device p95  excess p95  partial p95  "
    "partials/s/sess  cpu ms/sess/s  loop p99  client p99  batches  without context  final calls  errors held"
)


def format_row(step: Step) -> str:
    batches = ",".join(f"{k}:{v:.0f}" for k, v in step.batch_sizes.items() if v)
    return (
        f"{step.sessions:8d} {step.load_1min:4.1f}  {step.final_p50_s:6.2f}/{step.final_p95_s:5.2f}  "
        f"{step.end_of_speech_p50_s:6.2f}/{step.end_of_speech_p95_s:5.2f}/{step.end_of_speech_max_s:5.2f}  "
        f"{step.device_final_p95_s:10.2f}  {step.excess_p95_s:10.2f}  {step.partial_p95_s:11.2f}  "
        f"{step.partials_per_session_s:15.2f}  {step.server_cpu_ms_per_session_s:13.1f}  "
        f"{step.loop_lag_p99_s:8.3f}  {step.client_lag_p99_s:10.3f}  {batches}  "
        f"{step.finals_without_context}/{step.finals}  {step.final_calls}/{step.finals}  {len(step.errors)} "
        f"{'yes' if step.held else 'NO'}"
    )


def _plot(steps: list[Step], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("capacity: matplotlib is not installed; no plot", file=sys.stderr)
        return
    x = [s.sessions for s in steps]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, [s.excess_p95_s for s in steps], "o-", label="final p95 - device p95 (s)")
    ax.plot(x, [s.partial_p95_s for s in steps], "s-", label="partial p95 (s)")
    ax.plot(x, [s.loop_lag_p99_s for s in steps], "^-", label="event-loop lag p99 (s)")
    ax.axhline(HOLD_EXCESS_P95_S, color="grey", linestyle=":", label="hold limit 0.25 s")
    ax.set_xlabel("concurrent real-time sessions (server on one core)")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    print(HEADER)
    raise SystemExit(main())
