"""Final latency, WER and CPU of our real server, configuration by configuration, in one run.

    .venv/bin/python bench/finals_latency.py --configs before:1,1,1:words,2,5 --before-repo /tmp/ctx-base

Each configuration is ``[before:]BEAM[:words]``: the final beam (WHISPER_BEAM_SIZE), ``words`` to ask
for word timestamps (``show_word_timestamps``), ``before`` to serve another checkout of this repo
(``--before-repo``, e.g. the commit before finals in context) for an A/B. Each server is started
(scripts/serve_local.py, truss's own server), warmed up, and fed make bench's one-stream audio
(``--duration-s``) in real time, one stream; then stopped before the next starts. Latency is make
bench's (bench/metrics.py: last final covering an utterance minus the end of its speech); WER is
tests/speech.py's normaliser, corpus-level. The machine's load average is printed with each row: on a
shared machine the timings are noisy, the WER is not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

import jiwer  # noqa: E402
import numpy as np  # noqa: E402

from bench import metrics  # noqa: E402
from bench.audio import SAMPLE_RATE_HZ, build_stream, load_clips, reference_text  # noqa: E402
from bench.systems.base import (  # noqa: E402
    CACHE_DIR,
    HOST,
    ResourceMonitor,
    StreamRun,
    free_port,
    run_server,
)
from bench.systems.ours import _ready, stream_to_ours  # noqa: E402
from tests.speech import normalize  # noqa: E402


async def stream(url: str, audio: np.ndarray, *, word_timestamps: bool) -> StreamRun:
    """Real time, 40 ms frames, the seed's config: make bench's one-stream client."""
    timeout_s = audio.size / SAMPLE_RATE_HZ + 600
    return await stream_to_ours(
        url, audio, speed=1.0, frame_ms=40, timeout_s=timeout_s, word_timestamps=word_timestamps
    )


def measure(label: str, repo: Path, beam: int, word_timestamps: bool, duration_s: float) -> dict[str, Any]:
    main = build_stream(load_clips(), duration_s, seed=0)
    warmup = build_stream([min(load_clips()[:12], key=lambda c: c.duration_s)], 6.0, lead_s=0.5, tail_s=3.0)
    port = free_port()
    env = {"WHISPER_BEAM_SIZE": str(beam), "WHISPER_CPU_THREADS": "2", "IDLE_TIMEOUT_S": "600"}
    cmd = [sys.executable, str(repo / "scripts" / "serve_local.py"), "--port", str(port), "--truss-dir", str(repo)]
    cmd += ["--build-dir", str(CACHE_DIR / f"finals-{repo.name}-build")]
    log_path = CACHE_DIR / f"finals-{label.replace(':', '-')}.log"
    with run_server(cmd, log_path, port, env=env, ready=_ready) as server, ResourceMonitor(server.pid) as monitor:
        url = f"ws://{HOST}:{port}/v1/websocket"
        asyncio.run(stream(url, warmup.audio, word_timestamps=word_timestamps))
        load_before = os.getloadavg()[0]
        cpu_before = monitor.cpu_seconds()
        run = asyncio.run(stream(url, main.audio, word_timestamps=word_timestamps))
        cpu_s = monitor.cpu_seconds() - cpu_before
    scores = metrics.score_utterances(main, run, 1.0)
    latency = metrics.latency_summary([s.final_latency_s for s in scores])
    hypothesis = metrics.hypothesis(run)
    return {
        "config": label,
        "final_p50_s": latency["p50_s"],
        "final_p95_s": latency["p95_s"],
        "missed": latency["no_final"],
        "wer": jiwer.wer(normalize(reference_text(main)), normalize(hypothesis)),
        "cpu_s_per_audio_s": cpu_s / main.duration_s,
        "load_1min": f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}",
        "error": run.error,
        "finals": [e.text for e in run.finals if e.text],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="1,1:words,2,5")
    parser.add_argument("--before-repo", type=Path, help="the checkout served by before: configurations")
    parser.add_argument("--duration-s", type=float, default=120.0)
    parser.add_argument("--json", type=Path, help="also write every row, with the finals, here")
    args = parser.parse_args()
    print("| config | final p50 s | final p95 s | missed | WER | CPU s / audio s | load (1 min) | error |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    rows = []
    for label in args.configs.split(","):
        parts = label.split(":")
        before = parts[0] == "before"
        parts = parts[1:] if before else parts
        repo = args.before_repo if before else REPO
        if repo is None:
            raise SystemExit("before: configurations need --before-repo")
        started = time.monotonic()
        row = measure(label, repo, int(parts[0]), "words" in parts[1:], args.duration_s)
        rows.append(row)
        print(
            f"| {label} | {row['final_p50_s']} | {row['final_p95_s']} | {row['missed']} | {row['wer']:.2%}"
            f" | {row['cpu_s_per_audio_s']:.3f} | {row['load_1min']} | {row['error'] or '-'} |",
            flush=True,
        )
        print(f"  ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
