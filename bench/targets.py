"""The issue's targets for our server, checked against a run's results.

- final latency p50 ≤ min silence + 0.25 s and p95 ≤ min silence + 0.6 s at one stream;
- streaming WER within 0.5 pt of offline faster-whisper at the same beam (each beam of the run);
- ≥ 6 concurrent real-time streams with p95 final ≤ the budget (1.5 s);
- ≤ 0.5× WhisperLive's final latency and CPU per audio second, at the same beam.

Latency, capacity and the WhisperLive comparison are read from ours' sweeping
row (``--sweep-beam``, default endpoint); WER from every row of ours at the
default endpoint.
"""

from __future__ import annotations

import os
from typing import Any


def evaluate(results: dict[str, Any], min_silence_ms: int, sweep: list[int], budget_s: float) -> list[dict[str, Any]]:
    """Each target: its name, met (True/False/None for not measured) and the figures behind it."""
    ours_rows = [
        r
        for r in results["rows"].values()
        if r["system"] == "ours" and r.get("main") and r["endpoint_silence_s"] == min_silence_ms / 1000
    ]
    if not ours_rows:
        return []
    ours = next((r for r in ours_rows if r.get("sweep")), ours_rows[0])
    main, beam = ours["main"], ours["beam_size"]
    silence = min_silence_ms / 1000
    final = main["final_latency"]
    out = []

    def add(name: str, value: Any, limit: float, unit: str = "s") -> None:
        met = None if value in (None, "inf") else float(value) <= limit
        if value == "inf":
            met = False
        out.append({"name": name, "met": met, "detail": f"{value}{unit} vs ≤ {limit:.3g}{unit}"})

    add(f"final p50 ≤ min silence + 0.25 s (1 stream, beam {beam})", final["p50_s"], silence + 0.25)
    add(f"final p95 ≤ min silence + 0.6 s (1 stream, beam {beam})", final["p95_s"], silence + 0.6)
    for row in ours_rows:
        offline = results.get("offline", {}).get(str(row["beam_size"]), {}).get("wer")
        streaming = row["main"]["wer"].get("wer")
        if streaming is not None and offline is not None:
            delta = 100 * (streaming - offline)
            out.append(
                {
                    "name": f"streaming WER within 0.5 pt of offline at beam {row['beam_size']}",
                    "met": delta <= 0.5,
                    "detail": f"{100 * streaming:.1f}% vs offline {100 * offline:.1f}% ({delta:+.1f} pt)",
                }
            )
    capacity, swept = ours.get("capacity"), max(sweep, default=0)
    unmeasured = capacity is None or (capacity >= swept and swept < 6)  # every step held, none reached 6
    out.append(
        {
            "name": f"≥ 6 real-time streams with p95 final ≤ {budget_s} s (beam {beam})",
            "met": None if unmeasured else capacity >= 6,
            "detail": f"held {capacity} (swept up to {swept}) on {os.cpu_count()} cores",
        }
    )
    peer = next(
        (
            r["main"]
            for r in results["rows"].values()
            if r["system"] == "whisperlive" and r["beam_size"] == beam and r.get("main")
        ),
        None,
    )
    if peer:
        _against_whisperlive(add, main, peer, beam)
    return out


def _against_whisperlive(add: Any, main: dict[str, Any], peer: dict[str, Any], beam: int) -> None:
    for label, key in (("p50", "p50_s"), ("p95", "p95_s")):
        theirs = peer["final_latency"][key]
        if theirs not in (None, "inf"):
            add(f"final latency {label} ≤ 0.5× WhisperLive's (beam {beam})", main["final_latency"][key], 0.5 * theirs)
    add(
        f"CPU per audio s ≤ 0.5× WhisperLive's (beam {beam})",
        main["cpu_s_per_audio_s"],
        0.5 * peer["cpu_s_per_audio_s"],
        "",
    )


def concurrency_target(results: dict[str, Any], sweep_beam: int, budget_s: float) -> str | None:
    """The Baseten concurrency target ours' sweep implies for this model and hardware (None: no sweep)."""
    ours = next((r for r in results["rows"].values() if r["system"] == "ours" and r.get("sweep")), {})
    capacity = ours.get("capacity")
    if capacity and len(ours.get("sweep", [])) < 2:
        return None  # one stream that held is not a sweep: it says nothing about concurrency
    model = results["meta"]["model"]
    hardware = (
        f"{model['name']} {model['compute_type']} on {model['device']}, {os.cpu_count()} cores, beam {sweep_beam}"
    )
    if capacity:
        return (
            f"Baseten concurrency target implied for this model and hardware ({hardware}): "
            f"{capacity} open WebSocket sessions per replica"
        )
    if capacity == 0:
        return (
            f"No Baseten concurrency target from this run ({hardware}): not even one stream kept p95 final "
            f"latency ≤ {budget_s} s"
        )
    return None
