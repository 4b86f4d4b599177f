"""The generated figures of docs/performance.md, written by the run that measured them and by no other.

``section()`` renders a run's results as Markdown: the run's date, machine,
commit and the most load other processes put on the machine, then the tables.
``update()`` replaces the part of docs/performance.md (``PERFORMANCE_MD``; the
README links to it) between the markers for the run's
speech set (``<!-- bench:bench -->`` … ``<!-- /bench:bench -->``, and the same
for ``test-other``), leaving the hand-written text around them alone. The
caller only calls it for a run where other processes kept fewer than
``MAX_OTHER_LOAD_CORES`` busy: figures from a shared machine are not kept.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from bench import report

MAX_OTHER_LOAD_CORES = 0.2
REPO = Path(__file__).resolve().parents[1]
PERFORMANCE_MD = REPO / "docs" / "performance.md"


def commit(repo: Path = REPO) -> str:
    """The commit measured, ``+dirty`` when tracked files had changes; ``unknown`` outside git."""
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+dirty" if status else head


def publish(results: dict[str, Any], out: Path, *, readme_path: Path | None, max_other_load: float) -> int:
    """performance.md in ``out`` (and the block in ``readme_path``, docs/performance.md) only from an undisturbed run.

    Returns the exit status: 2 when the block was asked for and refused.
    """
    section_path = out / "performance.md"
    section_path.unlink(missing_ok=True)
    busy = results["meta"]["max_other_load_cores"]
    if busy >= max_other_load:
        also = f" and {_shown(readme_path)}" if readme_path else ""
        print(
            f"\nwrote {out}/: results.json, latency.png, table.txt, logs/. NOT written: performance.md"
            f"{also}, because other processes kept {busy:.2f} cores busy"
            f" during a measurement (limit {max_other_load}); rerun on an idle machine."
        )
        return 2 if readme_path else 0
    section_path.write_text(section(results))
    print(f"\nwrote {out}/: results.json, latency.png, table.txt, performance.md (its generated block), logs/")
    if readme_path:
        update(readme_path, results)
        print(f"updated {_shown(readme_path)}: its {results['meta']['set']} block")
    return 0


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def markers(set_name: str) -> tuple[str, str]:
    return f"<!-- bench:{set_name} -->", f"<!-- /bench:{set_name} -->"


def update(readme: Path, results: dict[str, Any]) -> None:
    """Replace the generated block for this run's speech set in ``readme`` with ``section(results)``."""
    start, end = markers(results["meta"]["set"])
    text = readme.read_text()
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise SystemExit(f"{readme}: expected one {start} … {end} block to replace")
    head, rest = text.split(start)
    _, tail = rest.split(end)
    readme.write_text(f"{head}{start}\n{section(results)}{end}{tail}")


def section(results: dict[str, Any]) -> str:
    """The run's figures as Markdown: provenance, the headline table, the sweep, the targets."""
    meta = results["meta"]
    model = meta["model"]
    stream = meta["main_stream"]
    lines = [
        f"Measured by one `make bench` run: {meta['date']}, commit `{meta['commit']}`; {meta['machine']}, "
        f"{meta.get('cpu_model', '')}; {model['name']} {model['compute_type']} on {model['device']}, "
        f"{model['cpu_threads']} threads for every system. Speech set `{meta['set']}`: {stream['utterances']} "
        f"utterances, {stream['speech_s']:.0f} s of speech in a {stream['duration_s']:.0f} s stream, in real time. "
        f"Other processes used at most {meta['max_other_load_cores']:.2f} cores during any measurement.",
        "",
        *_markdown_table(report.headline(results)),
    ]
    sweep = _sweep_table(results)
    if sweep:
        lines += ["", "Concurrent real-time streams (sweep at beam " + f"{meta['sweep_beam']}):", "", *sweep]
    if results.get("targets"):
        verdicts = {True: "met", False: "missed", None: "n/a"}
        lines += ["", "Targets:"]
        lines += [f"- {t['name']}: {verdicts[t['met']]} ({t['detail']})" for t in results["targets"]]
    if results.get("concurrency_target"):
        lines += ["", results["concurrency_target"] + "."]
    lines += ["", f"Command: `{meta['command']}`"]
    return "\n".join(lines) + "\n"


def _sweep_table(results: dict[str, Any]) -> list[str]:
    sweeping = [row for row in results["rows"].values() if row.get("sweep")]
    counts = sorted({step["streams"] for row in sweeping for step in row["sweep"] if not step.get("skipped")})
    if not counts:
        return []
    rows = [["system", "streams", "final p50", "final p95", "CPU s / audio s", "partials / speech s / stream"]]
    for row in sweeping:
        for step in row["sweep"]:
            if step.get("skipped"):
                rows.append([row["label"], str(step["streams"]), f"not run: {step['skipped']}", "", "", ""])
                continue
            final = step["final_latency"]
            rows.append(
                [
                    row["label"],
                    str(step["streams"]),
                    report.fmt(final["p50_s"], " s"),
                    report.fmt(final["p95_s"], " s"),
                    report.fmt(step["cpu_s_per_audio_s"]),
                    report.fmt(step.get("partials_per_speech_s")),
                ]
            )
    return _markdown_table(rows)


def _markdown_table(rows: list[list[str]]) -> list[str]:
    header, *body = rows
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in body),
    ]
