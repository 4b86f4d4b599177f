#!/usr/bin/env python
"""What a multilingual deployment costs: streaming vs offline accuracy per language, and final latency.

Our server (truss's own, scripts/serve_local.py) runs the multilingual model
(default: Whisper base, assembled from its pip packages). For each language of
data/speech/multilingual, its clips are laid into one stream with
natural pauses (bench.audio.build_stream) and streamed in real time, once with
the language fixed (``audio_language: <code>``) and once detected per
utterance (``auto``). Offline is faster-whisper's own ``transcribe`` on each
whole clip, language fixed, beam 5. Prints one table: per language, WER (CER
for zh, ja) offline and streamed both ways, how many finals were reported in
the right language under ``auto``, and final latency p50/p95 both ways.

    .venv/bin/python bench/multilingual.py                       # ~8 min on 2 cores
    .venv/bin/python bench/multilingual.py --modes auto --languages de,zh
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

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "packages")]

from bench import metrics  # noqa: E402
from bench.audio import SAMPLE_RATE_HZ, Clip, Stream, build_stream, load_16k, load_clips  # noqa: E402
from bench.systems.base import ModelSpec, StreamRun, offline_whisper  # noqa: E402
from bench.systems.ours import Ours, stream_to_ours  # noqa: E402
from scripts.assemble_multilingual_model import assemble  # noqa: E402
from tests.multilingual_speech import MULTILINGUAL_DIR, clips, error_rate, metric  # noqa: E402

MODES = ("fixed", "auto")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model", help="CTranslate2 model dir (default: Whisper base, assembled from its packages)")
    parser.add_argument("--model-name", default=None, help="label (default: the directory name)")
    parser.add_argument("--data-dir", type=Path, default=MULTILINGUAL_DIR, help="a folder with manifest.tsv and clips")
    parser.add_argument("--languages", default="", help="comma list (default: every language of the manifest)")
    parser.add_argument("--modes", default=",".join(MODES), help="fixed: audio_language set; auto: detected")
    parser.add_argument("--speed", type=float, default=1.0, help="1.0 = real time")
    parser.add_argument("--frame-ms", type=int, default=40)
    parser.add_argument("--cpu-threads", type=int, default=min(os.cpu_count() or 1, 8))
    parser.add_argument("--offline-beam", type=int, default=5)
    parser.add_argument("--finish-timeout-s", type=float, default=180.0, help="wait for the last finals (180)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "multilingual")
    args = parser.parse_args(argv)
    args.mode_names = [m.strip() for m in args.modes.split(",") if m.strip()]
    if set(args.mode_names) - set(MODES):
        parser.error(f"--modes: choose from {', '.join(MODES)}")
    return args


def language_streams(data_dir: Path, wanted: list[str]) -> dict[str, tuple[Stream, list[Clip]]]:
    """One stream per language: its clips end to end with 1-2.5 s pauses."""
    language_of = {c.name: c.language for c in clips(data_dir)}
    all_clips = load_clips(data_dir.parent, (data_dir.name,))
    out: dict[str, tuple[Stream, list[Clip]]] = {}
    for language in dict.fromkeys(language_of.values()):
        if wanted and language not in wanted:
            continue
        mine = [c for c in all_clips if language_of[c.path.name] == language]
        duration_s = sum(c.duration_s for c in mine) + 2.5 * len(mine) + 6.0
        out[language] = (build_stream(mine, duration_s, lead_s=1.0, tail_s=3.0), mine)
    return out


async def stream_once(
    url: str, audio: np.ndarray, language: str, args: argparse.Namespace
) -> tuple[StreamRun, list[str]]:
    """Our server with the session's language; also each event's ``language_code``."""
    codes: list[str] = []
    run = await stream_to_ours(
        url,
        audio,
        speed=args.speed,
        frame_ms=args.frame_ms,
        timeout_s=audio.size / SAMPLE_RATE_HZ / args.speed + args.finish_timeout_s,
        language=language,
        on_transcription=lambda message: codes.append(str(message.get("language_code"))),
    )
    return run, codes


def score(
    language: str, stream: Stream, streamed: tuple[StreamRun, list[str]], args: argparse.Namespace
) -> dict[str, Any]:
    run, all_codes = streamed
    finals = [(e, code) for e, code in zip(run.events, all_codes, strict=True) if e.is_final and e.text]
    texts = [e.text for e, _ in finals]
    codes = [code for _, code in finals]
    reference = " ".join(u.clip.reference for u in stream.utterances)
    latency = metrics.latency_summary([u.final_latency_s for u in metrics.score_utterances(stream, run, args.speed)])
    return {
        "error_rate": round(error_rate(language, reference, " ".join(texts)), 4),
        "finals": len(finals),
        "finals_in_language": sum(code == language for code in codes),
        "final_latency": latency,
        "error": run.error,
        "hypothesis": texts,
    }


def offline_rates(model: ModelSpec, streams: dict[str, tuple[Stream, list[Clip]]], beam: int) -> dict[str, float]:
    whisper = offline_whisper(model.path, cpu_threads=model.cpu_threads)
    rates = {}
    for language, (stream, _) in streams.items():
        texts = []
        for utterance in stream.utterances:
            segments, _ = whisper.transcribe(load_16k(utterance.clip.path), language=language, beam_size=beam)
            texts.append(" ".join(s.text.strip() for s in segments))
        reference = " ".join(u.clip.reference for u in stream.utterances)
        rates[language] = round(error_rate(language, reference, " ".join(texts)), 4)
    return rates


def table(results: dict[str, Any], modes: list[str]) -> str:
    head = f"{'lang':4} {'clips':>5} {'speech':>7} {'metric':>6} {'offline':>7}"
    for mode in modes:
        head += f" | {mode + ' stream':>13} {'p50':>5} {'p95':>5}" + (" right-lang" if mode == "auto" else "")
    lines = [head, "-" * len(head)]
    for language, row in results["languages"].items():
        line = f"{language:4} {row['clips']:>5} {row['speech_s']:>6.1f}s {metric(language):>6} {row['offline']:>7.3f}"
        for mode in modes:
            got = row[mode]
            latency = got["final_latency"]
            flag = "!" if got["error"] else " "  # the stream ended in an error (see results.json)
            line += f" | {got['error_rate']:>12.3f}{flag} {_s(latency['p50_s']):>5} {_s(latency['p95_s']):>5}"
            if mode == "auto":
                line += f" {got['finals_in_language']:>4}/{got['finals']:<5}"
        lines.append(line)
    return "\n".join(lines)


def _s(value: Any) -> str:
    return "-" if value is None else value if isinstance(value, str) else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.model or str(assemble())
    model = ModelSpec(path, "cpu", "int8", args.cpu_threads, args.model_name or Path(path).name)
    wanted = [code.strip() for code in args.languages.split(",") if code.strip()]
    streams = language_streams(args.data_dir, wanted)
    busy_cores = psutil.cpu_percent(interval=2.0) / 100 * (os.cpu_count() or 1)
    print(f"[bench] {model.name} int8 cpu; {busy_cores:.1f} cores busy before starting; load {os.getloadavg()}")
    results: dict[str, Any] = {
        "meta": {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "model": model.__dict__, "speed": args.speed},
        "languages": {},
    }
    offline = offline_rates(model, streams, args.offline_beam)
    with Ours(model).start(args.out / "server.log", max_streams=1) as server:
        url = server.extra["url"]
        warmup = streams[next(iter(streams))][0]
        asyncio.run(stream_once(url, warmup.audio[: 8 * SAMPLE_RATE_HZ], "auto", args))
        for language, (stream, mine) in streams.items():
            row: dict[str, Any] = {"clips": len(mine), "speech_s": stream.speech_s, "offline": offline[language]}
            for mode in args.mode_names:
                run = asyncio.run(stream_once(url, stream.audio, language if mode == "fixed" else "auto", args))
                row[mode] = score(language, stream, run, args)
                got = row[mode]
                print(
                    f"[bench] {language} {mode}: {metric(language)} {got['error_rate']} final latency "
                    f"p50 {_s(got['final_latency']['p50_s'])} p95 {_s(got['final_latency']['p95_s'])} "
                    f"no final {got['final_latency']['no_final']} error {got['error']}",
                    flush=True,
                )
            results["languages"][language] = row
    results["meta"]["load_after"] = os.getloadavg()
    (args.out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(table(results, args.mode_names))
    print(f"\nload average at the end {os.getloadavg()}; wrote {args.out}/results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
