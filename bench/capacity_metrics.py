"""What ``bench/capacity.py`` reads back: the server's ``/metrics`` histograms and counters, and a py-spy profile."""

from __future__ import annotations

import math
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench import server_watch


@dataclass(frozen=True)
class Scrape:
    buckets: dict[tuple[str, frozenset[tuple[str, str]]], dict[float, float]]
    """(histogram name, labels without ``le``) -> cumulative count per upper bound."""
    values: dict[tuple[str, str], float] = field(default_factory=dict)
    """Every sample, as ``server_watch.samples`` reads them: (name, labels as written) -> value."""

    def counter_delta(self, before: Scrape, name: str, labels: str = "") -> float:
        """How much counter sample ``name`` (``_total`` included) rose between ``before`` and this scrape."""
        return server_watch.delta(self.values, before.values).get((name, labels), 0.0)

    def histogram_delta(self, before: Scrape, name: str, labels: dict[str, str]) -> dict[float, float]:
        """Observations per bucket (not cumulative) made between ``before`` and this scrape."""
        key = (name, frozenset(labels.items()))
        now, then = self.buckets.get(key, {}), before.buckets.get(key, {})
        cumulative = {le: count - then.get(le, 0.0) for le, count in sorted(now.items())}
        per_bucket, previous = {}, 0.0
        for le, count in cumulative.items():
            per_bucket[le] = count - previous
            previous = count
        return per_bucket


def scrape(url: str) -> Scrape:
    with urllib.request.urlopen(url, timeout=60) as response:
        return parse(response.read().decode())


def parse(text: str) -> Scrape:
    buckets: dict[tuple[str, frozenset[tuple[str, str]]], dict[float, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.type != "histogram":
            continue
        for sample in family.samples:
            if not sample.name.endswith("_bucket"):
                continue
            labels = {k: v for k, v in sample.labels.items() if k != "le"}
            key = (family.name, frozenset(labels.items()))
            buckets.setdefault(key, {})[float(sample.labels["le"])] = sample.value
    return Scrape(buckets, server_watch.samples(text))


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


IDLE_FRAMES = (
    "select (selectors.py",  # the event loop waiting for sockets
    "_worker (concurrent/futures/thread.py",  # a pool thread waiting for work
    "wait (threading.py",  # a decode worker waiting for a request
    "SimulatedTranscriber.transcribe_batch",  # the simulated GPU: a sleep
)


def top_self_time(raw_profile: Path, count: int = 12) -> list[str]:
    """The functions with the most busy samples on top of the stack, from py-spy's ``raw`` (collapsed) output.

    Threads waiting (``IDLE_FRAMES``) are left out: the shares are of the time some thread was running Python
    or native code.
    """
    own: Counter[str] = Counter()
    for line in raw_profile.read_text(errors="replace").splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        frame = stack.split(";")[-1]
        if not any(idle in frame for idle in IDLE_FRAMES):
            own[frame] += int(samples)
    total = sum(own.values())
    return [f"{100 * n / total:5.1f}% {frame}" for frame, n in own.most_common(count)] if total else []
