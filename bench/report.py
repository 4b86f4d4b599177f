"""The benchmark's outputs: one table on the terminal, results.json, latency.png."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

LATENCY_BUDGET_S = 1.5


def _fmt(value: Any, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "-"
    if value == "inf":
        return "inf"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def table(results: dict[str, Any]) -> str:
    """The one table: a row per system, then the sweep, then the targets."""
    systems = results["systems"]
    offline = results.get("offline", {})
    header = [
        "system",
        "endpoint",
        "first text p50",
        "final p50",
        "final p95",
        "final max",
        "missed",
        "WER",
        "offline WER",
        "Δ WER",
        "WER vs offline",
        "CPU s/audio s",
        "peak RSS",
        "streams @p95≤1.5s",
    ]
    rows = [header]
    for name, system in systems.items():
        main = system.get("main")
        if not main:
            rows.append([system.get("label", name), system.get("status", "not run")] + [""] * (len(header) - 2))
            continue
        final = main["final_latency"]
        delta = None
        if main["wer"].get("wer") is not None and offline.get("wer") is not None:
            delta = main["wer"]["wer"] - offline["wer"]
        endpoint = system.get("endpoint_silence_s")
        rows.append(
            [
                system["label"],
                "-" if endpoint is None else f"{endpoint:.2f}s",
                _fmt(main["first_text_latency"]["p50_s"], "s"),
                _fmt(final["p50_s"], "s"),
                _fmt(final["p95_s"], "s"),
                _fmt(final["max_s"], "s"),
                f"{final['missed']}/{final['n']}",
                _pct(main["wer"].get("wer")),
                _pct(offline.get("wer")),
                "-" if delta is None else f"{100 * delta:+.1f} pt",
                _pct(main["wer_vs_offline"].get("wer")),
                _fmt(main["cpu_s_per_audio_s"], "", 3),
                _fmt(main["peak_rss_mib"], " MiB", 0),
                _capacity_text(system),
            ]
        )
    lines = [_grid(rows)]
    sweep_rows = [["streams", *[systems[n].get("label", n) for n in systems]]]
    counts = sorted({step["streams"] for s in systems.values() for step in s.get("sweep", [])})
    for count in counts:
        row = [str(count)]
        for system in systems.values():
            step = next((x for x in system.get("sweep", []) if x["streams"] == count), None)
            row.append(_step_text(step))
        sweep_rows.append(row)
    if counts:
        lines += [
            "",
            "final latency p50 / p95 and CPU s per audio s vs concurrent real-time streams:",
            _grid(sweep_rows),
        ]
    if results.get("targets"):
        lines += ["", "targets (ours):"]
        for target in results["targets"]:
            mark = {True: "MET ", False: "MISS", None: "n/a "}[target["met"]]
            lines.append(f"  [{mark}] {target['name']}: {target['detail']}")
    if results.get("concurrency_target"):
        lines += ["", results["concurrency_target"]]
    busy = _busiest_other_load(results)
    if busy >= 0.2:
        lines += [
            "",
            f"WARNING: other processes kept {busy:.1f} cores busy during a measurement: latency and capacity"
            " figures from this run are not trustworthy; rerun on a quiet machine.",
        ]
    for name, profile in results.get("profiles", {}).items():
        lines += ["", f"where {name}'s busy server threads spend their time (py-spy, {profile['file']}):"]
        lines += [f"  {share:5.1f}%  {bucket}" for bucket, share in profile["buckets"]]
        busy = ", ".join(f"{name} {share:.0f}%" for name, share in profile.get("threads_busy", []))
        lines.append(f"  threads busy (share of wall time): {busy}")
    return "\n".join(lines)


def _busiest_other_load(results: dict[str, Any]) -> float:
    loads = [0.0]
    for system in results["systems"].values():
        for step in [system.get("main") or {}, *system.get("sweep", [])]:
            loads.append(step.get("other_processes_cpu_cores") or 0.0)
    return max(loads)


def _capacity_text(system: dict[str, Any]) -> str:
    capacity = system.get("capacity")
    if capacity is None:
        return "-"
    text = str(capacity)
    if system.get("capacity_note"):
        text += f" ({system['capacity_note']})"
    return text


def _step_text(step: dict[str, Any] | None) -> str:
    if step is None:
        return ""
    if step.get("skipped"):
        return f"not run: {step['skipped']}"
    final = step["final_latency"]
    text = f"{_fmt(final['p50_s'], 's')} / {_fmt(final['p95_s'], 's')}  cpu {_fmt(step['cpu_s_per_audio_s'], '', 2)}"
    if final["missed"]:
        text += f"  missed {final['missed']}/{final['n']}"
    if step.get("errors"):
        text += f"  errors {len(step['errors'])}"
    return text


def _grid(rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in rows if i < len(r)) for i in range(len(rows[0]))]
    out = []
    for index, row in enumerate(rows):
        out.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def write_json(results: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")


def plot(results: dict[str, Any], path: Path) -> None:
    """Left: final-latency distribution per system (one stream). Right: p50/p95 vs concurrent streams."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = {n: s for n, s in results["systems"].items() if s.get("main")}
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    data, labels = [], []
    for system in systems.values():
        values = [u["final_latency_s"] for u in system["main"]["utterances"] if u["final_latency_s"] is not None]
        if values:
            data.append(values)
            labels.append(system["label"])
    if data:
        left.boxplot(data, whis=(5, 95), showfliers=True)
        left.set_xticks(range(1, len(labels) + 1), labels, rotation=10)
        for index, values in enumerate(data, start=1):
            left.scatter([index] * len(values), values, s=8, alpha=0.4)
    left.axhline(LATENCY_BUDGET_S, color="red", linestyle=":", linewidth=1)
    left.set_ylabel("final latency after end of speech (s)")
    left.set_title("Final latency per utterance, 1 real-time stream (whiskers p5-p95)")
    left.grid(axis="y", alpha=0.3)
    for system in systems.values():
        steps = [s for s in system.get("sweep", []) if not s.get("skipped")]
        if not steps:
            continue
        counts = [s["streams"] for s in steps]
        p95 = [_num(s["final_latency"]["p95_s"]) for s in steps]
        p50 = [_num(s["final_latency"]["p50_s"]) for s in steps]
        (line,) = right.plot(counts, p95, marker="o", label=f"{system['label']} p95")
        right.plot(counts, p50, marker=".", linestyle="--", color=line.get_color(), label=f"{system['label']} p50")
    right.axhline(LATENCY_BUDGET_S, color="red", linestyle=":", linewidth=1, label=f"{LATENCY_BUDGET_S} s budget")
    counts = sorted({s["streams"] for system in systems.values() for s in system.get("sweep", [])})
    right.set_xscale("log", base=2)
    right.set_yscale("log")
    if counts:
        right.set_xticks(counts, [str(c) for c in counts])
    right.set_ylim(bottom=0.2)
    right.set_yticks([0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 20, 60])
    right.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:g}"))
    right.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    right.set_xlabel("concurrent real-time streams")
    right.set_ylabel("final latency (s)")
    right.set_title("Final latency vs concurrent streams")
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    meta = results["meta"]
    fig.suptitle(
        f"{meta['model']['name']} {meta['model']['compute_type']} on {meta['model']['device']}, {meta['machine']}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _num(value: Any) -> float:
    """A latency for a log plot: inf (missed) drawn at 60 s, off the useful range."""
    if value is None:
        return math.nan
    return 60.0 if value == "inf" else float(value)


def markdown(results: dict[str, Any]) -> str:
    """A 'Performance' section for the top-level README, figures filled in from this run."""
    meta = results["meta"]
    model = meta["model"]
    offline = results.get("offline", {})
    lines = [
        "## Performance",
        "",
        f"Measured by `make bench` ({meta['date']}; {meta['machine']}, {meta.get('cpu_model', '')}; "
        f"{model['name']} {model['compute_type']} on {model['device']}, {model['cpu_threads']} threads for every "
        f"system). Real speech from shared/data/speech ({meta['main_stream']['utterances']} utterances, "
        f"{meta['main_stream']['duration_s']:.0f} s with 1–2.5 s pauses) streamed in real time; latency is measured "
        "on the client from the moment the speaker stopped (first text: from the moment they started). "
        "Details and definitions: bench/README.md.",
        "",
        "| system | final p50 | final p95 | first text p50 | WER (offline "
        f"{_pct(offline.get('wer'))}) | CPU s / audio s | peak RSS | real-time streams at p95 ≤ "
        f"{meta['latency_budget_s']} s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, system in results["systems"].items():
        main = system.get("main")
        if not main:
            lines.append(f"| {system.get('label', name)} | {system.get('status', 'not run')} | | | | | | |")
            continue
        final = main["final_latency"]
        lines.append(
            f"| {system['label']} | {_fmt(final['p50_s'], ' s')} | {_fmt(final['p95_s'], ' s')} | "
            f"{_fmt(main['first_text_latency']['p50_s'], ' s')} | {_pct(main['wer'].get('wer'))} | "
            f"{_fmt(main['cpu_s_per_audio_s'], '', 2)} | {_fmt(main['peak_rss_mib'], ' MiB', 0)} | "
            f"{_capacity_text(system)} |"
        )
    if results.get("targets"):
        verdicts = {True: "met", False: "missed", None: "n/a"}
        summary = "; ".join(f"{t['name']}: {verdicts[t['met']]} ({t['detail']})" for t in results["targets"])
        lines += ["", f"Targets: {summary}."]
    if results.get("concurrency_target"):
        lines += ["", results["concurrency_target"] + ". On a GPU with large-v3, rerun the sweep there (below)."]
    lines += [
        "",
        "```bash",
        f"make bench                  # {meta['command']}",
        "make bench BENCH_ARGS=--quick",
        "make bench BENCH_ARGS='--systems ours --device cuda --model /path/to/faster-whisper-large-v3 "
        "--streams-sweep 1,8,16,32,64'",
        "```",
    ]
    return "\n".join(lines) + "\n"
