"""The issue's targets for our server, checked against a run's results.

- final latency p50 ≤ min silence + 0.25 s and p95 ≤ min silence + 0.6 s at one stream;
- streaming WER within 0.5 pt of offline faster-whisper;
- ≥ 6 concurrent real-time streams with p95 final ≤ the budget (1.5 s);
- ≤ 0.5× WhisperLive's final latency and CPU per audio second.
"""

from __future__ import annotations

import os
from typing import Any


def evaluate(results: dict[str, Any], min_silence_ms: int, sweep: list[int], budget_s: float) -> list[dict[str, Any]]:
    """Each target: its name, met (True/False/None for not measured) and the figures behind it."""
    ours = results["systems"].get("ours", {})
    main = ours.get("main")
    if not main:
        return []
    silence = min_silence_ms / 1000
    final = main["final_latency"]
    out = []

    def add(name: str, value: Any, limit: float, unit: str = "s") -> None:
        met = None if value in (None, "inf") else float(value) <= limit
        if value == "inf":
            met = False
        out.append({"name": name, "met": met, "detail": f"{value}{unit} vs ≤ {limit:.3g}{unit}"})

    add("final p50 ≤ min silence + 0.25 s (1 stream)", final["p50_s"], silence + 0.25)
    add("final p95 ≤ min silence + 0.6 s (1 stream)", final["p95_s"], silence + 0.6)
    offline = results.get("offline", {}).get("wer")
    if main["wer"].get("wer") is not None and offline is not None:
        delta = 100 * (main["wer"]["wer"] - offline)
        out.append(
            {
                "name": "streaming WER within 0.5 pt of offline",
                "met": delta <= 0.5,
                "detail": f"{100 * main['wer']['wer']:.1f}% vs offline {100 * offline:.1f}% ({delta:+.1f} pt)",
            }
        )
    capacity = ours.get("capacity")
    tested = max(sweep)
    out.append(
        {
            "name": f"≥ 6 real-time streams with p95 final ≤ {budget_s} s",
            "met": None if capacity is None else capacity >= 6,
            "detail": f"held {capacity} (swept up to {tested}) on {os.cpu_count()} cores",
        }
    )
    peer = results["systems"].get("whisperlive", {}).get("main")
    if peer:
        for label, key in (("p50", "p50_s"), ("p95", "p95_s")):
            theirs = peer["final_latency"][key]
            if theirs not in (None, "inf"):
                add(f"final latency {label} ≤ 0.5× WhisperLive's", final[key], 0.5 * float(theirs))
        add("CPU per audio s ≤ 0.5× WhisperLive's", main["cpu_s_per_audio_s"], 0.5 * peer["cpu_s_per_audio_s"], "")
    return out
