"""A rollout step's gates judged on the evidence gathered since the step began: each
version's requests, errors and latencies (from the Router replicas), the shadow copies,
and the monitors' windows opened and closed since then. Pure: no Ray, unit-tested.

- Absolute gates (`{metric: error_rate, max: 0.01}`) work as they always have: the
  candidate's value against the bound, once MIN_REQUESTS of its answers are in.
- Gates vs stable compare the candidate with the stable version over the same window
  with a sequential test (`lifecycle.stats`): `passed`, `failed` or `inconclusive`.
- `shadow_diff` is the mean |candidate - stable| of the answers to shadow copies, with
  an always-valid confidence interval: it fails when the interval is wholly above `max`.
- `drift` counts the flagged windows, `outlier_rate` is the highest outlier rate of the
  windows (each window is a statistical test of its own)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ...plan import RolloutGateParams
from ...stats import (
    Verdict,
    auc_variance,
    boundaries,
    conditional_step,
    estimate_interval,
    mean_interval,
    rate_bounds,
    verdict_of,
)
from ..contract import GateCheck, GateMemory, VersionEvidence, WatchSummary
from ..evidence import count_above, metric, quantile

MIN_REQUESTS = 20  # absolute gates judge the candidate on at least this many answers


@dataclass
class Live:
    """What one gate check reads: each version's evidence since the step began, which
    version is the candidate and which the stable one, whether the step is a blue/green
    preview (the candidate then answers only shadow copies), and the monitors' windows
    opened and closed since the step began (None where a read failed: no signal)."""

    versions: dict[str, VersionEvidence] = field(default_factory=dict)
    candidate: str | None = None
    stable: str | None = None
    preview: bool = False
    monitors: dict[str, WatchSummary] = field(default_factory=dict)
    read: bool = True  # the evidence was read this time

    @property
    def of_candidate(self) -> VersionEvidence | None:
        return self.versions.get(self.candidate or "")

    @property
    def of_stable(self) -> VersionEvidence | None:
        return self.versions.get(self.stable or "")

    @property
    def requests(self) -> int:
        ev = self.of_candidate
        if ev is None:
            return 0
        return ev.shadow_requests if self.preview else ev.requests


def _wilson(events: int, trials: int, z: float = 1.96) -> tuple[float, float] | None:
    if trials == 0:
        return None
    p = events / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / \
        (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def _answers(ev: VersionEvidence, shadow: bool) -> tuple[int, int, list[int]]:
    if shadow:
        return ev.shadow_errors, ev.shadow_requests, ev.shadow_latency_ms
    return ev.errors, ev.requests, ev.latency_ms


def _percentile(name: str) -> float:
    return float(name[len("latency_p"):-len("_ms")]) / 100.0


def check(gate: RolloutGateParams, live: Live, confidence: float,
          memory: GateMemory | None = None) -> tuple[GateCheck, GateMemory | None]:
    """One gate's value and verdict on the step's evidence so far; a gate vs stable also
    returns what it carries to the next look."""
    if gate.metric.startswith(("live_", "estimated_")):  # labels, absolute or vs stable
        return _quality(gate, live, confidence), None
    if gate.vs == "stable":
        return _versus_stable(gate, live, confidence, memory or GateMemory())
    if gate.metric == "shadow_diff":
        return _shadow_diff(gate, live, confidence), None
    if gate.metric in ("drift", "outlier_rate"):
        return _monitor(gate, live), None
    cand = live.of_candidate
    value = None if cand is None else metric(cand, gate.metric, shadow=live.preview)
    if value is None or live.requests < MIN_REQUESTS:
        return GateCheck(gate=gate, value=value, verdict="inconclusive",
                         detail=f"{live.requests} of the {MIN_REQUESTS} answers it "
                         "needs"), None
    verdict = "failed" if gate.breaks(value) else "passed"
    return GateCheck(gate=gate, value=value, verdict=verdict,
                     detail=f"{value:.4g} on {live.requests} answers, {gate.bound}"), None


def _versus_stable(gate: RolloutGateParams, live: Live, confidence: float,
                   memory: GateMemory) -> tuple[GateCheck, GateMemory]:
    cand, stable = live.of_candidate, live.of_stable
    if cand is None or stable is None or stable.requests == 0:
        return GateCheck(gate=gate, value=None, verdict="inconclusive",
                         detail="no answers of both versions in this step yet"), memory
    c_err, c_n, c_lat = _answers(cand, live.preview)
    if gate.metric == "error_rate":
        assert gate.max_increase is not None
        value = c_err / c_n - stable.errors / stable.requests if c_n else None
        # the stable rate the alternative assumes: from earlier looks only, with a weak
        # prior (1% over 100 answers) so the first look is not judged on nothing
        p_s = (memory.s_events + 1.0) / (memory.s_trials + 100.0)
        memory, verdict = _sprt(memory, c_err, c_n, stable.errors, stable.requests, p_s,
                                p_s + gate.max_increase, confidence)
        if verdict == "inconclusive" and c_n:
            _, c_high = rate_bounds(c_err, c_n, confidence)
            s_low, _ = rate_bounds(stable.errors, stable.requests, confidence)
            if c_high < s_low + gate.max_increase:  # a quiet candidate: evidence too
                verdict = "passed"
        return GateCheck(gate=gate, value=value, verdict=verdict,
                         interval=_wilson(c_err, c_n),
                         detail=_describe(memory, c_err, c_n, stable.errors,
                                          stable.requests, confidence)), memory
    assert gate.max_ratio is not None
    q = _percentile(gate.metric)
    bad = 1.0 - q
    stable_q = quantile(stable.latency_ms, q)
    cand_q = quantile(c_lat, q)
    value = None if cand_q is None or stable_q is None else cand_q / stable_q
    if memory.threshold is None:
        # freeze the threshold once the stable version's percentile is known: the test
        # then counts one fixed event, answers slower than it
        if stable_q is None or stable.requests < max(100, int(10 / bad)):
            return GateCheck(gate=gate, value=value, verdict="inconclusive",
                             detail=f"waiting for the stable version's p{q * 100:g} "
                             f"({stable.requests} answers)"), memory
        memory = memory.model_copy(update={"threshold": gate.max_ratio * stable_q})
    threshold = memory.threshold
    assert threshold is not None
    c_slow, s_slow = count_above(c_lat, threshold), count_above(stable.latency_ms, threshold)
    p_s = (memory.s_events + 1.0) / (memory.s_trials + 10.0 / bad)
    memory, verdict = _sprt(memory, c_slow, c_n, s_slow, stable.requests, p_s,
                            max(bad, 2 * p_s), confidence)
    if verdict == "inconclusive" and c_n and rate_bounds(c_slow, c_n, confidence)[1] < bad:
        verdict = "passed"
    return GateCheck(gate=gate, value=value, verdict=verdict,
                     detail=f"answers slower than {threshold:.3g} ms ({gate.max_ratio:g} x "
                     f"stable's p{q * 100:g}): "
                     + _describe(memory, c_slow, c_n, s_slow, stable.requests, confidence)
                     ), memory


def _sprt(memory: GateMemory, c_events: int, c_trials: int, s_events: int, s_trials: int,
          p_s: float, p1: float, confidence: float) -> tuple[GateMemory, Verdict]:
    """Add this look's new events to the test (once it decided, it has stopped)."""
    if memory.decided is not None:
        return memory, memory.decided
    new_c, new_s = c_events - memory.c_events, s_events - memory.s_events
    new_ct, new_st = c_trials - memory.c_trials, s_trials - memory.s_trials
    llr = memory.llr
    if new_ct > 0 and new_st > 0:
        llr = conditional_step(llr, new_c, new_s, new_ct / (new_ct + new_st), p_s, p1)
    verdict = verdict_of(llr, confidence)
    return GateMemory(llr=llr, c_events=c_events, c_trials=c_trials, s_events=s_events,
                      s_trials=s_trials, threshold=memory.threshold,
                      decided=None if verdict == "inconclusive" else verdict), verdict


def _describe(memory: GateMemory, c_events: int, c_trials: int, s_events: int,
              s_trials: int, confidence: float) -> str:
    accept, reject = boundaries(confidence)
    c_rate = c_events / c_trials if c_trials else 0.0
    s_rate = s_events / s_trials if s_trials else 0.0
    return (f"candidate {c_events}/{c_trials} ({c_rate:.4g}), stable {s_events}/{s_trials} "
            f"({s_rate:.4g}); log LR {memory.llr:+.2f} in [{accept:.2f}, {reject:.2f}]")


def _shadow_diff(gate: RolloutGateParams, live: Live, confidence: float) -> GateCheck:
    cand = live.of_candidate
    if cand is None or cand.shadow_compared < 2:
        return GateCheck(gate=gate, value=None, verdict="inconclusive",
                         detail="fewer than 2 shadow copies compared")
    n = cand.shadow_compared
    value = cand.shadow_abs_diff / n
    interval = mean_interval(n, cand.shadow_abs_diff, cand.shadow_sq_diff, confidence)
    assert interval is not None
    low, high = interval
    bound = gate.max if gate.max is not None else math.inf
    verdict = "failed" if low > bound else "passed" if high <= bound else "inconclusive"
    if gate.min is not None and verdict != "failed":
        verdict = "failed" if high < gate.min else verdict if low >= gate.min \
            else "inconclusive"
    return GateCheck(gate=gate, value=value, verdict=verdict, interval=interval,
                     detail=f"mean |candidate - stable| over {n} copies")


MIN_LABELS = 30  # live quality is judged on at least this many labelled predictions


def _quality(gate: RolloutGateParams, live: Live, confidence: float) -> GateCheck:
    """Live quality from labels posted back (live_*), or the estimate from calibrated
    probabilities (estimated_*), of the candidate's predictions answered in the step;
    vs stable: the difference from the stable version's over the same window."""
    watched = live.monitors.get(gate.monitor or "")
    quality = (watched.quality if watched is not None else None) or {}
    estimated = gate.metric.startswith("estimated_")
    name = gate.metric.removeprefix("live_")

    def value_of(version: str | None) -> tuple[float | None, int, int]:
        q = quality.get(version or "")
        if q is None:
            return None, 0, 0
        if estimated:
            return q.estimated.get(gate.metric), q.predictions, 0
        return q.values.get(name), q.labels, q.positives

    value, n, n_pos = value_of(live.candidate)
    needed = MIN_LABELS if not estimated else MIN_REQUESTS
    if value is None or n < needed:
        what = "predictions" if estimated else "labelled predictions"
        return GateCheck(gate=gate, value=value, verdict="inconclusive",
                         detail=f"{n} of the {needed} {what} it needs")
    if gate.vs is None:
        verdict = "failed" if gate.breaks(value) else "passed"
        return GateCheck(gate=gate, value=value, verdict=verdict,
                         detail=f"{value:.4g} on {n} {'predictions' if estimated else 'labels'}")
    stable, m, m_pos = value_of(live.stable)
    if stable is None or m < needed:
        return GateCheck(gate=gate, value=value, verdict="inconclusive",
                         detail="too few labelled predictions of the stable version")
    allowed = gate.max_decrease if gate.max_decrease is not None else -(gate.max_increase or 0)
    diff = value - stable  # higher is better for the metrics that take max_decrease
    variance = _quality_variance(name, value, n, n_pos) + \
        _quality_variance(name, stable, m, m_pos)
    low, high = estimate_interval(diff, variance, confidence, allowed ** 2)
    if gate.max_decrease is not None:
        verdict = "failed" if high < -allowed else "passed" if low >= -allowed \
            else "inconclusive"
    else:  # rmse / mae: lower is better
        verdict = "failed" if low > -allowed else "passed" if high <= -allowed \
            else "inconclusive"
    return GateCheck(gate=gate, value=diff, verdict=verdict, interval=(low, high),
                     detail=f"candidate {value:.4g} on {n}, stable {stable:.4g} on {m}")


def _quality_variance(metric: str, value: float, n: int, positives: int) -> float:
    if metric == "auc":  # Hanley-McNeil, on the classes of these labels
        return auc_variance(value, positives, n - positives)
    if metric in ("accuracy", "f1", "precision", "recall"):
        return max(value * (1 - value), 0.01) / max(n, 1)
    return max(value * value, 1e-6) / max(n, 1)  # rmse / mae: a relative spread


def _monitor(gate: RolloutGateParams, live: Live) -> GateCheck:
    watched = live.monitors.get(gate.monitor or "")
    if watched is None or not watched.windows_since:
        return GateCheck(gate=gate, value=None, verdict="inconclusive",
                         detail="no window opened and closed in this step yet")
    value = float(watched.drift_since) if gate.metric == "drift" \
        else watched.outlier_rate_since
    if value is None:
        return GateCheck(gate=gate, value=None, verdict="inconclusive", detail="no value")
    return GateCheck(gate=gate, value=value, verdict="failed" if gate.breaks(value)
                     else "passed", detail=f"{watched.windows_since} window(s) this step")


def check_gates(gates: list[RolloutGateParams], live: Live, confidence: float,
                memory: dict[str, GateMemory] | None = None
                ) -> tuple[list[GateCheck], dict[str, GateMemory]]:
    """Every gate of a step, and what the gates vs stable carry to the next look."""
    checks, kept = [], {}
    for g in gates:
        result, carried = check(g, live, confidence, (memory or {}).get(g.name))
        checks.append(result)
        if carried is not None:
            kept[g.name] = carried
    return checks, kept


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


def failure_reason(failed: list[GateCheck]) -> str:
    return "; ".join(
        f"{c.gate.name} {'—' if c.value is None else f'{c.value:.4g}'} breaks {c.gate.bound}"
        + (f" ({c.detail})" if c.gate.vs else "") for c in failed)
