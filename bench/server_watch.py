"""Watching a running server from outside: its RSS over time, and its Prometheus metrics.

Shared by ``bench/hostile_mix.py`` and ``bench/memory_bound.py``. Linux only (``/proc``).
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

_SAMPLE = re.compile(r"^(\w+)(?:\{([^}]*)\})? ([-+\w.]+)$")


def rss_bytes(pid: int) -> int:
    """The process's resident set, from /proc (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class RssSampler:
    """Samples a process's RSS every ``interval_s`` while ``run`` is awaited (cancel it to stop)."""

    pid: int
    interval_s: float = 0.5
    samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, bytes)

    async def run(self) -> None:
        started = time.monotonic()
        while True:
            self.samples.append((time.monotonic() - started, rss_bytes(self.pid)))
            await asyncio.sleep(self.interval_s)

    @property
    def peak_bytes(self) -> int:
        return max((rss for _, rss in self.samples), default=0)

    def timeline(self, every_s: float = 10.0) -> list[tuple[float, float]]:
        """(seconds, the peak MB within each ``every_s`` window)."""
        windows: dict[int, int] = {}
        for t, rss in self.samples:
            windows[int(t // every_s)] = max(windows.get(int(t // every_s), 0), rss)
        return [(k * every_s, v / 1e6) for k, v in sorted(windows.items())]


def scrape(url: str) -> dict[tuple[str, str], float]:
    """``/metrics`` as {(name, labels): value}."""
    with urllib.request.urlopen(url, timeout=5) as response:
        return samples(response.read().decode())


def samples(text: str) -> dict[tuple[str, str], float]:
    """Prometheus text as {(name, labels): value}."""
    values: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            values[(match[1], match[2] or "")] = float(match[3])
    return values


def delta(after: dict[tuple[str, str], float], before: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def labelled(values: dict[tuple[str, str], float], name: str, label: str) -> dict[str, float]:
    """{label value: value} of a counter (``name`` with its ``_total`` suffix) broken down by ``label``."""
    out = {}
    for (metric, labels), value in values.items():
        found = re.search(rf'{label}="([^"]*)"', labels)
        if metric in (name, name + "_total") and found and value:
            out[found[1]] = value
    return out


def histogram_quantile(values: dict[tuple[str, str], float], name: str, q: float) -> float | None:
    """The upper bound of the bucket that holds quantile ``q`` of histogram ``name`` (None when empty)."""
    buckets = []
    for (metric, labels), count in values.items():
        found = re.search(r'le="([^"]*)"', labels)
        if metric == name + "_bucket" and found:
            buckets.append((math.inf if found[1] == "+Inf" else float(found[1]), count))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0
    if not total:
        return None
    for bound, count in buckets:
        if count >= q * total:
            return bound
    return math.inf


def histogram_count(values: dict[tuple[str, str], float], name: str) -> float:
    return values.get((name + "_count", ""), 0.0)
