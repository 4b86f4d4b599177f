#!/usr/bin/env python
"""Time load(), its warm-up decode, and the first final decode after it, with and without warm-up.

Each run is a fresh process (first-call costs are per process): it loads the
model the way ``load()`` does (``factory.build_transcriber``), optionally runs
``factory.warm_up``, then decodes one real utterance as a final twice. It
prints per-run figures and the medians of each mode:

- ``load_s``: runtime checks + model load (+ VAD model), what ``load()`` took before warm-up;
- ``warm_up_s``: the warm-up decode (0 when off);
- ``first_final_s``: decode time of the first final after readiness;
- ``second_final_s``: the same decode again (steady state).

    python scripts/measure_load.py [--runs 3] [--clip PATH] [--device cpu] [--model bundled]

Settings come from the environment as in production (WHISPER_MODEL, WHISPER_DEVICE, ...);
``--device``/``--model`` override them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.audio import DEFAULT_DATA_DIR  # noqa: E402

DEFAULT_CLIP = DEFAULT_DATA_DIR / "librispeech_clean" / "1089-134686-0000.flac"
_CHILD = "--_child"


def child(warm: bool, clip: Path) -> dict[str, float]:
    sys.path.insert(0, str(REPO / "packages"))
    import soundfile
    import soxr

    from whisper_stream.audio.silero import SileroVadModel
    from whisper_stream.inference.device import runtime_info
    from whisper_stream.inference.model_source import resolve_model_source
    from whisper_stream.inference.requests import DecodeOptions
    from whisper_stream.samples import SAMPLE_RATE_HZ
    from whisper_stream.server.factory import build_transcriber, warm_up
    from whisper_stream.server.settings import Settings

    audio, rate = soundfile.read(str(clip), dtype="float32", always_2d=True)
    audio = soxr.resample(audio.mean(axis=1), rate, SAMPLE_RATE_HZ).astype("float32")
    settings = Settings.from_env()
    started = time.perf_counter()
    source = resolve_model_source(settings.whisper_model, revision=settings.whisper_revision)
    transcriber = build_transcriber(settings, source, runtime_info())
    vad_model = SileroVadModel()
    result = {"load_s": time.perf_counter() - started}
    result["warm_up_s"] = warm_up(transcriber, vad_model) if warm else 0.0
    options = DecodeOptions(language="en", prompt=None, word_timestamps=False)
    for key in ("first_final_s", "second_final_s"):
        started = time.perf_counter()
        transcriber.transcribe(audio, options, final=True)
        result[key] = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="processes per mode, alternating")
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--device", help="WHISPER_DEVICE for the runs")
    parser.add_argument("--model", help="WHISPER_MODEL for the runs")
    parser.add_argument(_CHILD, choices=["warm", "cold"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        print(json.dumps(child(args._child == "warm", args.clip)))
        return 0
    env = dict(os.environ)
    env.update({k: v for k, v in (("WHISPER_DEVICE", args.device), ("WHISPER_MODEL", args.model)) if v})
    runs: dict[str, list[dict[str, float]]] = {"warm": [], "cold": []}
    for index in range(args.runs):
        for mode in ("warm", "cold") if index % 2 == 0 else ("cold", "warm"):
            command = [sys.executable, __file__, _CHILD, mode, "--clip", str(args.clip)]
            output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
            runs[mode].append(json.loads(output.strip().splitlines()[-1]))
            print(mode, " ".join(f"{k} {v:.3f}" for k, v in runs[mode][-1].items()), flush=True)
    print(f"\nclip {args.clip.name}; medians of {args.runs} processes per mode; load average {os.getloadavg()}")
    for mode, results in runs.items():
        medians = {key: statistics.median(r[key] for r in results) for key in results[0]}
        label = "with warm-up   " if mode == "warm" else "without warm-up"
        print(label, "  ".join(f"{k} {v:.3f}" for k, v in medians.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
