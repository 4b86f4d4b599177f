"""Watching a running server from outside: its RSS over time, and its Prometheus metrics.

Shared by the benches that run a server (``run.py``, ``capacity.py``, ``hostile_mix.py``,
``memory_bound.py``). Linux only (``/proc``).
"""

from __future__ import annotations

import asyncio
import math
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families


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


Key = tuple[str, frozenset[tuple[str, str]]]
Samples = dict[Key, float]
"""A ``/metrics`` page: (sample name, its labels) -> value, e.g. ``("x_total", frozenset({("kind", "final")}))``."""


def scrape(url: str, timeout_s: float = 60.0) -> Samples:
    """``/metrics`` now."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return samples(response.read().decode())


def samples(text: str) -> Samples:
    """Prometheus text, read by ``prometheus_client``'s own parser."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def delta(after: Samples, before: Samples) -> Samples:
    """How much each sample rose between two scrapes (counters and histograms' cumulative buckets)."""
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def value(values: Samples, name: str, **labels: str) -> float:
    """Sample ``name`` with exactly ``labels`` (0 when the server has not written it)."""
    return values.get((name, frozenset(labels.items())), 0.0)


def labelled(values: Samples, name: str, label: str) -> dict[str, float]:
    """{label value: value} of a counter (``name`` with its ``_total`` suffix) broken down by ``label``."""
    out = {}
    for (metric, labels), count in values.items():
        found = dict(labels).get(label)
        if metric in (name, name + "_total") and found is not None and count:
            out[found] = count
    return out


def histogram(values: Samples, name: str, **labels: str) -> dict[float, float]:
    """Histogram ``name`` with ``labels`` as observations per bucket (not cumulative), by upper bound."""
    wanted = frozenset(labels.items())
    cumulative = sorted(
        (float(dict(key)["le"]), count)
        for (metric, key), count in values.items()
        if metric == name + "_bucket" and frozenset((k, v) for k, v in key if k != "le") == wanted
    )
    per_bucket, below = {}, 0.0
    for upper, count in cumulative:
        per_bucket[upper] = count - below
        below = count
    return per_bucket


def histogram_quantile(per_bucket: dict[float, float], q: float) -> float:
    """The ``q`` quantile, interpolated linearly inside its bucket (as Prometheus does); nan when empty."""
    total = sum(per_bucket.values())
    if total <= 0:
        return math.nan
    rank, seen, lower = q * total, 0.0, 0.0
    for upper, count in sorted(per_bucket.items()):
        if seen + count >= rank and count > 0:
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
        lower = upper if not math.isinf(upper) else lower
    return lower


def histogram_bound(per_bucket: dict[float, float], q: float) -> float | None:
    """The upper bound of the bucket that holds quantile ``q``: the ``q`` quantile is at most this (None when
    empty; inf when it falls past the last finite bound)."""
    total = sum(per_bucket.values())
    if total <= 0:
        return None
    seen = 0.0
    for upper, count in sorted(per_bucket.items()):
        seen += count
        if seen >= q * total:
            return upper
    return math.inf
