"""The metric contract: what lifecycle's runtime exports through Ray's metrics, and what
the Prometheus rules and the Grafana dashboard compiled from a plan read. One place, so
the exporter and the rules cannot drift apart (a unit test reads the runtime's
definitions against it).

Ray exports a custom metric NAME as `ray_NAME` (counters also get Prometheus' `_total`,
histograms `_bucket`, `_sum`, `_count`), and Ray Serve adds the tags `application`,
`deployment` and `replica` to metrics defined inside a Serve replica. An application is
named after its spec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PREFIX = "ray_"
SERVE_TAGS = ("application", "deployment", "replica")

# bucket upper bounds of the latency histogram (ms); a latency SLO counts requests at or
# under one of them
LATENCY_BUCKETS_MS: tuple[float, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000,
                                         5000)
# the `slice` tag value of a live metric over all of a version's traffic (a slice is
# named feature=value, or feature=[low,high) for a numeric feature's bin)
OVERALL_SLICE = "all"


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Literal["counter", "gauge", "histogram"]
    tags: tuple[str, ...]
    description: str
    exported_by_runtime: bool = True  # False: in the contract, not exported yet

    @property
    def series(self) -> str:
        """The Prometheus name of the metric (of its counter, or its histogram base)."""
        return PREFIX + self.name + ("_total" if self.kind == "counter" else "")

    def part(self, suffix: Literal["bucket", "sum", "count"]) -> str:
        assert self.kind == "histogram"
        return f"{PREFIX}{self.name}_{suffix}"

    @property
    def exported_names(self) -> tuple[str, ...]:
        if self.kind == "histogram":
            return tuple(self.part(s) for s in ("bucket", "sum", "count"))
        return (self.series,)


REQUESTS = Metric("lifecycle_requests", "counter", ("slot", "version", "outcome"),
                  "Requests per version slot, model version and outcome (ok, or error: "
                  "an answer in the 5xx class).")
REQUEST_LATENCY_MS = Metric("lifecycle_request_latency_ms", "histogram", ("slot", "version"),
                            "Request latency per version (ms), buckets LATENCY_BUCKETS_MS.")
QUALITY = Metric("lifecycle_quality", "gauge", ("monitor", "metric", "version", "slice"),
                 "A quality monitor's last window per version and slice: a live metric from "
                 "ground truth (live_auc, ...) or its estimate (estimated_auc, ...).")
MONITOR_P_VALUE = Metric("lifecycle_monitor_p_value", "gauge", ("monitor",),
                         "Smallest p-value of a drift monitor's last window.")
MONITOR_IS_DRIFT = Metric("lifecycle_monitor_is_drift", "gauge", ("monitor",),
                          "1 when a drift monitor's last window drifted.")
MODEL_TRAINED_AT = Metric("lifecycle_model_trained_timestamp_seconds", "gauge",
                          ("slot", "version"), "When the served version's model was "
                          "trained (Unix seconds).")
TRAINING_DATA_AT = Metric("lifecycle_training_data_timestamp_seconds", "gauge",
                          ("slot", "version"), "When the served version's training data "
                          "were read by the data stage (Unix seconds).")

CONTRACT: tuple[Metric, ...] = (REQUESTS, REQUEST_LATENCY_MS, QUALITY, MONITOR_P_VALUE,
                                MONITOR_IS_DRIFT, MODEL_TRAINED_AT, TRAINING_DATA_AT)
FRESHNESS = {"model": MODEL_TRAINED_AT, "training_data": TRAINING_DATA_AT}
ERROR_OUTCOME = "error"


def latency_bucket(threshold_ms: float) -> float | None:
    """The bucket bound a latency threshold is counted under: the largest at or below
    it (never one above: that would count slower requests as good). None below 1 ms."""
    fitting = [b for b in LATENCY_BUCKETS_MS if b <= threshold_ms]
    return float(fitting[-1]) if fitting else None
