"""The benchmark's outputs: one table on the terminal, results.json, latency.png."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

LATENCY_BUDGET_S = 1.5


def fmt(value: Any, unit: str = "", digits: int = 2) -> str:
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
    """The one table: a row per system and beam, then the sweep, then the targets."""
    rows = results["rows"]
    lines = [_grid(headline(results))]
    sweeping = {key: row for key, row in rows.items() if row.get("sweep")}
    counts = sorted({step["streams"] for row in sweeping.values() for step in row["sweep"]})
    if counts:
        sweep_rows = [["streams", *[row.get("label", key) for key, row in sweeping.items()]]]
        for count in counts:
            cells = [next((x for x in row["sweep"] if x["streams"] == count), None) for row in sweeping.values()]
            sweep_rows.append([str(count), *[_step_text(step) for step in cells]])
        lines += [
            "",
            "final latency p50 / p95, CPU s per audio s and partials per second of speech (per stream)"
            " vs concurrent real-time streams:",
            _grid(sweep_rows),
        ]
    if results.get("targets"):
        lines += ["", "targets (ours):"]
        for target in results["targets"]:
            mark = {True: "MET ", False: "MISS", None: "n/a "}[target["met"]]
            lines.append(f"  [{mark}] {target['name']}: {target['detail']}")
    if results.get("concurrency_target"):
        lines += ["", results["concurrency_target"]]
    busy = busiest_other_load(results)
    lines += ["", f"other processes' load: at most {busy:.2f} cores during a measurement"]
    if busy >= 0.2:
        lines += [
            f"WARNING: other processes kept {busy:.1f} cores busy during a measurement: latency and capacity"
            " figures from this run are not trustworthy; rerun on a quiet machine.",
        ]
    for name, profile in results.get("profiles", {}).items():
        lines += ["", f"where {name}'s busy server threads spend their time (py-spy, {profile['file']}):"]
        lines += [f"  {share:5.1f}%  {bucket}" for bucket, share in profile["buckets"]]
        busy_threads = ", ".join(f"{n} {share:.0f}%" for n, share in profile.get("threads_busy", []))
        lines.append(f"  threads busy (share of wall time): {busy_threads}")
    return "\n".join(lines)


HEADLINE = (
    "system",
    "beam",
    "endpoint",
    "first text p50",
    "final p50",
    "final p95",
    "final max",
    "missed",
    "truncated",
    "WER",
    "offline WER",
    "Δ WER",
    "WER vs offline",
    "CPU s/audio s",
    "peak RSS",
    "end of speech → first final p50/p95",
    "finalize +0.2 s → final p50/p95",
    "streams @p95≤1.5s",
)


def headline(results: dict[str, Any]) -> list[list[str]]:
    """The headline table's rows (the header first): one per system and beam."""
    out = [list(HEADLINE)]
    for key, row in results["rows"].items():
        main = row.get("main")
        label = row.get("label", key).rsplit(", beam", 1)[0]
        if not main:
            out.append([label, str(row.get("beam_size", "")), row.get("status", "not run")] + [""] * 15)
            continue
        offline = results.get("offline", {}).get(str(row["beam_size"]), {})
        final, coverage = main["final_latency"], main["coverage"]
        delta = None
        if main["wer"].get("wer") is not None and offline.get("wer") is not None:
            delta = main["wer"]["wer"] - offline["wer"]
        endpoint = row.get("endpoint_silence_s")
        out.append(
            [
                label,
                str(row["beam_size"]),
                "-" if endpoint is None else f"{endpoint:.2f}s",
                fmt(main["first_text_latency"]["p50_s"], "s"),
                fmt(final["p50_s"], "s"),
                fmt(final["p95_s"], "s"),
                fmt(final["max_s"], "s"),
                f"{coverage['missed']}/{coverage['utterances']}",
                f"{coverage['truncated']}/{coverage['utterances']}",
                _pct(main["wer"].get("wer")),
                _pct(offline.get("wer")),
                "-" if delta is None else f"{100 * delta:+.1f} pt",
                _pct(main["wer_vs_offline"].get("wer")),
                fmt(main["cpu_s_per_audio_s"], "", 3),
                fmt(main["peak_rss_mib"], " MiB", 0),
                _field_latency_text(main),
                _finalize_text(row.get("finalize")),
                _capacity_text(row),
            ]
        )
    return out


def _field_latency_text(main: dict[str, Any]) -> str:
    """End of speech (silero on the clean clip) to the first final covering it, as the field measures latency."""
    field = main.get("end_of_speech_final_latency")
    if not field:
        return "-"
    return f"{fmt(field['p50_s'], 's')} / {fmt(field['p95_s'], 's')}"


def _finalize_text(finalize: dict[str, Any] | None) -> str:
    """The client's finalize (0.2 s after each end of speech) to the final answering it, where it was run."""
    if not finalize:
        return "-"
    latency = finalize["finalize_final_latency"]
    text = f"{fmt(latency['p50_s'], 's')} / {fmt(latency['p95_s'], 's')}"
    return text + (f" ({latency['no_final']} unanswered)" if latency["no_final"] else "")


def busiest_other_load(results: dict[str, Any]) -> float:
    """The most CPU other processes took during any measurement of the run, in cores."""
    loads = [0.0]
    for row in results["rows"].values():
        for step in [row.get("main") or {}, *row.get("sweep", [])]:
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
    text = f"{fmt(final['p50_s'], 's')} / {fmt(final['p95_s'], 's')}  cpu {fmt(step['cpu_s_per_audio_s'], '', 2)}"
    text += f"  partials {fmt(step.get('partials_per_speech_s'), '/s')}"
    if final["no_final"]:
        text += f"  no final {final['no_final']}/{final['n']}"
    if step.get("errors"):
        text += f"  errors {len(step['errors'])}"
    if step.get("finals_without_context"):
        text += f"  without context {step['finals_without_context']}"
    if step.get("decoder"):
        text += f"  decoder: {step['decoder']}"
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

    systems = {n: s for n, s in results["rows"].items() if s.get("main")}
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    data, labels = [], []
    for name, system in systems.items():
        values = [u["final_latency_s"] for u in system["main"]["utterances"] if u["final_latency_s"] is not None]
        if values:
            data.append(values)
            labels.append(name)
    if data:
        left.boxplot(data, whis=(5, 95), showfliers=True)
        left.set_xticks(range(1, len(labels) + 1), labels, rotation=20, fontsize=7)
        for index, values in enumerate(data, start=1):
            left.scatter([index] * len(values), values, s=8, alpha=0.4)
    left.axhline(LATENCY_BUDGET_S, color="red", linestyle=":", linewidth=1)
    left.set_ylabel("final latency after end of speech (s)")
    left.set_title("Final latency per utterance, 1 real-time stream (whiskers p5-p95)")
    left.grid(axis="y", alpha=0.3)
    for system in systems.values():
        steps = [s for s in system.get("sweep", []) if not s.get("skipped")]  # only the sweeping rows have any
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
