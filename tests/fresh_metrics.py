"""Every metric of ``whisper_stream.metrics`` in a registry of a test's own, so what a test reads is what it did.

The library's metrics live in the process-wide default registry, where every earlier test (and any
server thread still running in the process) adds to them. ``FreshMetrics.install`` replaces each one
with an empty copy of the same kind, name, labels and buckets in a new registry; the code under test
looks them up as ``metrics.X`` on every call, so it records into the copies. Values then start at zero
whatever ran before: exact counts, not deltas, and no test depends on another's order.
"""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from whisper_stream import metrics


class FreshMetrics:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.registry = CollectorRegistry()
        for attribute, metric in vars(metrics).items():
            if isinstance(metric, MetricWrapperBase):
                # prometheus_client keeps a metric's constructor arguments (buckets, multiprocess mode) in _kwargs
                copy = type(metric)(
                    metric._name, metric._documentation, metric._labelnames, registry=self.registry, **metric._kwargs
                )
                monkeypatch.setattr(metrics, attribute, copy)

    def __call__(self, name: str, **labels: str) -> float:
        """A sample's value, 0 for a series nothing recorded: ``("whisper_stream_errors_total", code="...")``."""
        return self.registry.get_sample_value(name, labels) or 0.0

    def buckets(self, name: str) -> dict[float, float]:
        """A histogram's cumulative bucket counts by upper bound."""
        return {
            float(sample.labels["le"]): sample.value
            for family in self.registry.collect()
            for sample in family.samples
            if sample.name == f"{name}_bucket"
        }
