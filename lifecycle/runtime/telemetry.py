"""Ray metrics made from the metric contract (plan/metrics.py): the names, kinds, tags
and latency buckets the compiled Prometheus rules and Grafana dashboard read are defined
once, there; the Router and the Monitor export them through `exported`."""

from __future__ import annotations

from typing import Any

from ..plan.metrics import LATENCY_BUCKETS_MS, Metric


def exported(metric: Metric) -> Any:
    """The Ray Serve metric for a contract entry (Serve adds application, deployment and
    replica tags)."""
    from ray.serve import metrics

    tags: Any = metric.tags  # ray's stubs want a tuple of str; the contract has one
    if metric.kind == "counter":
        return metrics.Counter(metric.name, description=metric.description, tag_keys=tags)
    if metric.kind == "gauge":
        return metrics.Gauge(metric.name, description=metric.description, tag_keys=tags)
    return metrics.Histogram(metric.name, description=metric.description,
                             boundaries=[float(b) for b in LATENCY_BUCKETS_MS], tag_keys=tags)
