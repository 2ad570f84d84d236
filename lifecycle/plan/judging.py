"""How long a rollout step needs to judge its gates at a stated traffic, from the
sequential tests' expected sample sizes (Wald's approximations) — what `lifecycle plan`
shows per step and what `lifecycle diff` checks against the step's hold. Assumptions,
stated wherever the figures are shown: the stable version answers errors at
ASSUMED_ERROR_RATE, latencies are log-normal with a spread of ASSUMED_LATENCY_SIGMA (the
same as `lifecycle rollout simulate`'s defaults), and every row is fed to every monitor."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..stats import boundaries
from .models import MonitorParams, RolloutGateParams, RolloutStage

DEFAULT_TRAFFIC = 10.0  # req/s assumed when the spec does not say (serve.rollout.traffic)
ASSUMED_ERROR_RATE = 0.005
ASSUMED_LATENCY_SIGMA = 0.5
MIN_REQUESTS = 20  # the absolute gates' minimum (runtime.rollout.gates.MIN_REQUESTS)


@dataclass(frozen=True)
class StepJudgement:
    step: int
    seconds: float | None  # the slowest gate's expected time to a decision; None: no gates
    limit: float  # the hold, or max_hold when inconclusive steps extend
    slowest: str | None

    @property
    def in_time(self) -> bool:
        return self.seconds is None or self.seconds <= self.limit


def _conditional_events(share: float, p_s: float, p1: float, confidence: float,
                        regressed: bool) -> float:
    """Expected events (errors, slow answers) until the conditional SPRT decides."""
    accept, reject = boundaries(confidence)
    pi1 = share * p1 / (share * p1 + (1 - share) * p_s)
    win, lose = math.log(pi1 / share), math.log((1 - pi1) / (1 - share))
    pi = pi1 if regressed else share
    drift = pi * win + (1 - pi) * lose
    target = reject if regressed else accept
    return max(target / drift, 1.0) if drift != 0 else math.inf


def gate_seconds(gate: RolloutGateParams, weight: float, traffic: float, confidence: float,
                 monitors: dict[str, MonitorParams]) -> float:
    """Expected seconds until the gate decides (the slower of a healthy and a regressed
    candidate)."""
    share = min(max(weight, 1.0), 99.0) / 100.0  # a preview: copies of all traffic
    if gate.metric in ("drift", "outlier_rate"):
        m = monitors.get(gate.monitor or "")
        return (m.window if m is not None else 1000) / traffic
    if gate.vs is None:
        return MIN_REQUESTS / (traffic * share)
    if gate.metric == "error_rate":
        p_s = ASSUMED_ERROR_RATE
        p1 = p_s + (gate.max_increase or 0.0)
    else:
        q = float(gate.metric[len("latency_p"):-len("_ms")]) / 100.0
        z_q = _normal_quantile(q)
        p1 = 1.0 - q
        ratio = gate.max_ratio or 2.0
        p_s = 1.0 - _normal_cdf(z_q + math.log(ratio) / ASSUMED_LATENCY_SIGMA)
    seconds = 0.0
    for regressed in (False, True):
        events = _conditional_events(share, p_s, p1, confidence, regressed)
        p_c = p1 if regressed else p_s
        rate = traffic * (share * p_c + (1 - share) * p_s)
        seconds = max(seconds, events / rate)
    return seconds


def judging(stage: RolloutStage, traffic: float, monitors: list[MonitorParams]
            ) -> list[StepJudgement]:
    """Per step: how long its gates need to decide, against what it allows."""
    tests = sum(1 for s in stage.steps for g in s.gates if g.vs is not None)
    per_test = 1.0 - (1.0 - stage.confidence) / max(tests, 1)
    by_name = {m.name: m for m in monitors}
    out = []
    for i, step in enumerate(stage.steps):
        limit = step.max_hold_s if stage.on_inconclusive == "extend" else step.hold_s
        timed = [(gate_seconds(g, step.weight, traffic, per_test, by_name), g.name)
                 for g in step.gates]
        worst = max(timed, default=None)
        out.append(StepJudgement(i, None if worst is None else worst[0], limit,
                                 None if worst is None else worst[1]))
    return out


def _normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _normal_quantile(p: float) -> float:
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if _normal_cdf(mid) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
