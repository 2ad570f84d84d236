"""A rollout step's gates judged on the live signals: the candidate's counts and
latencies from the Router, and the monitors' windows closed since the step began. Pure:
no Ray, unit-tested directly."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...plan import RolloutGateParams
from ..contract import GateCheck, SlotSummary, WatchSummary


@dataclass
class Live:
    """What one gate check reads: the candidate's requests since the step began, and the
    monitors' windows closed since then (None where a read failed: no signal)."""

    traffic: SlotSummary | None = None
    monitors: dict[str, WatchSummary] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return 0 if self.traffic is None else self.traffic.requests


def gate_value(gate: RolloutGateParams, live: Live) -> float | None:
    """The gate's live signal: the candidate's error rate or latency percentile, or from
    the Monitor deployment, the number of drifted windows closed since the step began
    (`drift`) or the highest outlier rate of those windows (`outlier_rate`)."""
    if gate.metric == "error_rate" or gate.metric.startswith("latency_"):
        return None if live.traffic is None else live.traffic.metric(gate.metric)
    watched = live.monitors.get(gate.monitor or "")
    if watched is None or not watched.windows_since:
        return None  # no window has closed since the step began: no signal yet
    if gate.metric == "drift":
        return float(watched.drift_since)
    if gate.metric == "outlier_rate":
        return watched.outlier_rate_since
    return None


def blocking(live: Live, names: list[str]) -> list[str]:
    """Reasons the monitors with `block_promotion` hold the rollout where it is: a
    watched window flagged since the step began."""
    out = []
    for name in names:
        watched = live.monitors.get(name)
        if watched is not None and watched.flagged_since:
            last = watched.last
            detail = f" (last p={last.p_value:.3g})" if last is not None \
                and last.p_value is not None else ""
            out.append(f"monitor {name}: {watched.flagged_since} flagged window(s) since "
                       f"the step began{detail}")
    return out


def check_gates(gates: list[RolloutGateParams], live: Live) -> list[GateCheck]:
    """Each gate with its value and verdict: passed, failed, or unknown (no signal)."""
    out = []
    for g in gates:
        value = gate_value(g, live)
        verdict = "unknown" if value is None else "failed" if g.breaks(value) else "passed"
        out.append(GateCheck(gate=g, value=value, verdict=verdict))
    return out


def failure_reason(failed: list[GateCheck]) -> str:
    return "; ".join(f"{c.gate.metric} {c.value:.4g} breaks {c.gate.bound}" for c in failed
                     if c.value is not None)
