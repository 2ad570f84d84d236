"""`lifecycle rollout simulate`: the rollout's own `decide` run on synthetic traffic (or on
a past rollout's recorded observations), before anything is deployed.

Synthetic traffic: every `gate_interval` a Poisson number of requests at `traffic` req/s,
split by the step's weights; errors drawn at the stable version's rate (and the
candidate's, shifted by the scenario), latencies log-normal around a median (the
candidate's scaled by the scenario); a `drift` scenario flags the monitors' windows.
Each repetition is seeded, so a result can be reproduced. Pure Python: no Ray, no numpy."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field

from ...store import Store, read_journal
from ..contract import (
    LATENCY_EDGES_MS,
    ControllerConfig,
    Observation,
    RolloutPhase,
    RolloutState,
    SloReading,
    Slot,
    VersionEvidence,
    WatchSummary,
)
from ..evidence import Tally, expand
from .decide import decide, initial_state, weights_of

BASELINE_ERROR_RATE = 0.005
MEDIAN_LATENCY_MS = 10.0
LATENCY_SIGMA = 0.5  # log-normal spread: p99 is about 3.2 x the median


@dataclass(frozen=True)
class Scenario:
    """How the candidate differs from the stable version."""

    name: str
    error_increase: float = 0.0  # absolute
    latency_factor: float = 1.0
    drift: bool = False

    @property
    def regressed(self) -> bool:
        return self.error_increase > 0 or self.latency_factor > 1.0 or self.drift

    @staticmethod
    def parse(text: str) -> Scenario:
        """healthy | errors:+2pt | errors:+0.02 | latency:x1.5 | drift"""
        t = text.strip().lower()
        if t == "healthy":
            return Scenario("healthy")
        if t == "drift":
            return Scenario("drift", drift=True)
        kind, _, amount = t.partition(":")
        try:
            if kind == "errors":
                value = float(amount.lstrip("+").removesuffix("pt"))
                return Scenario(t, error_increase=value / 100 if amount.endswith("pt")
                                else value)
            if kind == "latency":
                return Scenario(t, latency_factor=float(amount.lstrip("x")))
        except ValueError:
            pass
        raise ValueError(f"unknown scenario '{text}': healthy, errors:+2pt, latency:x1.5 "
                         "or drift")


@dataclass
class Outcome:
    phase: RolloutPhase
    seconds: float  # to the decision (or to the end of the simulated time)
    step: int
    reason: str | None
    timeline: list[tuple[float, str]] = field(default_factory=list)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    k, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _binomial(rng: random.Random, n: int, p: float) -> int:
    if n <= 0 or p <= 0:
        return 0
    if p >= 1:
        return n
    if n * p > 30 and n * (1 - p) > 30:
        return min(n, max(0, round(rng.gauss(n * p, math.sqrt(n * p * (1 - p))))))
    if p > 0.5:
        return n - _binomial(rng, n, 1 - p)
    # inversion: walk the distribution from 0 (expected n * p steps)
    u, k = rng.random(), 0
    pmf = (1 - p) ** n
    cdf = pmf
    while u > cdf and k < n:
        pmf *= (n - k) / (k + 1) * p / (1 - p)
        k += 1
        cdf += pmf
    return k


def _bucket_probabilities(median: float) -> list[float]:
    """A log-normal latency's probability of each evidence bucket."""
    def below(ms: float) -> float:
        return 0.5 * (1 + math.erf((math.log(ms) - math.log(median))
                                   / (LATENCY_SIGMA * math.sqrt(2))))

    cdf = [below(e) for e in LATENCY_EDGES_MS]
    return [cdf[0]] + [b - a for a, b in itertools.pairwise(cdf)] + [1 - cdf[-1]]


def _multinomial(rng: random.Random, n: int, probs: list[float]) -> list[int]:
    out, left, mass = [], n, 1.0
    for p in probs:
        k = _binomial(rng, left, p / mass) if left and mass > 1e-12 else 0
        out.append(k)
        left -= k
        mass -= p
    out[-1] += left
    return out


def _serve(rng: random.Random, tally: Tally, n: int, error_rate: float, median: float,
           shadow: bool = False) -> None:
    errors = _binomial(rng, n, min(error_rate, 1.0))
    latency = _multinomial(rng, n, _bucket_probabilities(median))
    if not shadow:
        tally.add(n, errors, latency)
        return
    # copies compared with the primary's answer: |difference| about 0.01 on average
    compared = n - errors
    diffs = [abs(rng.gauss(0.0, 0.0125)) for _ in range(min(compared, 50))]
    mean = sum(diffs) / len(diffs) if diffs else 0.0
    square = sum(d * d for d in diffs) / len(diffs) if diffs else 0.0
    tally.add(n, errors, latency, shadow=True, compared=compared,
              abs_diff=mean * compared, sq_diff=square * compared)


def _watched(windows: int, flagged: int, drift: int, outlier_rate: float | None
             ) -> WatchSummary:
    """A monitor as a gate reads it (the counts of the step's windows), nothing else."""
    return WatchSummary(
        detector="simulated", features=[], verified=None, window=0, p_val=0.05, actions=[],
        windows_closed=windows, windows_dropped=0, rows_dropped=0, rows_invalid=0,
        rows_pending=0, windows_detected=windows, sampled_fraction=1.0,
        windows_since=windows, flagged_since=flagged, drift_since=drift,
        detections_since=0, outlier_rate_since=outlier_rate, last=None, recent=[],
        retrains=[])


@dataclass(frozen=True)
class MonitorModel:
    """How a monitor behaves in a simulation: its window (rows) and its chance of
    flagging a clean window (its p_val)."""

    window: int
    false_alarm: float


class _Windows:
    """A monitor's windows over the simulated time: every row is fed to every monitor,
    so one closes every window / traffic seconds; each is flagged, once and for all, at
    the monitor's p_val on clean traffic and 90% of the time under drift."""

    def __init__(self, model: MonitorModel, traffic: float, drift: bool,
                 rng: random.Random) -> None:
        self.seconds = model.window / traffic
        self.chance = 0.9 if drift else model.false_alarm
        self.rng = rng
        self.flags: list[bool] = []

    def since(self, start: float, now: float) -> WatchSummary:
        while len(self.flags) * self.seconds < now:
            self.flags.append(self.rng.random() < self.chance)
        # windows opened at or after the step's start and closed by now
        first = math.ceil(start / self.seconds)
        last = int(now // self.seconds)
        mine = self.flags[first:last]
        return _watched(len(mine), sum(mine), sum(mine), None)


def run_once(config: ControllerConfig, traffic: float, scenario: Scenario, seed: int,
             baseline_error_rate: float = BASELINE_ERROR_RATE,
             median_ms: float = MEDIAN_LATENCY_MS,
             monitors: dict[str, MonitorModel] | None = None) -> Outcome:
    rng = random.Random(seed)
    interval = config.gate_interval_s
    limit = sum(max(s.max_hold_s, s.hold_s) for s in config.steps) + 20 * interval
    stable, cand = Tally(), Tally()
    windows = {name: _Windows(m, traffic, scenario.drift, rng)
               for name, m in (monitors or {}).items()}
    state = initial_state(config)
    timeline: list[tuple[float, str]] = []
    now = 0.0
    state, _ = decide(config, state, None, None, now)  # routes the first step
    while not state.phase.ended and state.phase != RolloutPhase.PAUSED and now <= limit:
        n = _poisson(rng, traffic * interval)
        weights = state.weights or weights_of(config, config.steps[state.step].weight)
        preview = config.steps[state.step].weight == 0 and Slot.STABLE in weights
        to_cand = 0 if preview else _binomial(rng, n, weights.get(Slot.CANDIDATE, 0) / 100)
        _serve(rng, stable, n - to_cand, baseline_error_rate, median_ms)
        cand_rate = baseline_error_rate + scenario.error_increase
        cand_ms = median_ms * scenario.latency_factor
        _serve(rng, cand, to_cand, cand_rate, cand_ms)
        if preview or config.shadow is not None:
            _serve(rng, cand, n - to_cand, cand_rate, cand_ms, shadow=True)
        now += interval
        evidence: dict[str, VersionEvidence] = {"stable": stable.evidence(),
                                                "candidate": cand.evidence()}
        start = state.step_started if state.step_started is not None else now
        obs = Observation(time=now, evidence=evidence,
                          monitors={n: w.since(start, now) for n, w in windows.items()})
        before = (state.phase, state.step)
        state, _ = decide(config, state, obs, None, now)
        if (state.phase, state.step) != before:
            timeline.append((now, f"{state.phase.value} step {state.step + 1}"
                             + (f": {state.reason}" if state.reason else "")))
    return Outcome(state.phase, now, state.step, state.reason, timeline)


def simulated_config(config: ControllerConfig) -> ControllerConfig:
    """The config with synthetic version names (the simulation's evidence keys)."""
    versions: dict[Slot, str | None] = {Slot.CANDIDATE: "candidate"}
    if config.versions.get(Slot.STABLE) is not None:
        versions[Slot.STABLE] = "stable"
    return config.model_copy(update={"versions": versions})


@dataclass
class Summary:
    scenario: Scenario
    traffic: float
    outcomes: list[Outcome]
    error_rate: float = BASELINE_ERROR_RATE  # the stable version's, assumed
    median_ms: float = MEDIAN_LATENCY_MS

    def share(self, phase: RolloutPhase) -> float:
        return sum(1 for o in self.outcomes if o.phase == phase) / len(self.outcomes)

    @property
    def wrong(self) -> float:
        """Healthy: the false-rollback rate; regressed: the missed-regression rate (the
        candidate promoted, or not rolled back when the simulated time ran out)."""
        if self.scenario.regressed:
            return 1.0 - self.share(RolloutPhase.ROLLED_BACK)
        return self.share(RolloutPhase.ROLLED_BACK)

    def median_seconds(self, phase: RolloutPhase | None = None) -> float | None:
        times = sorted(o.seconds for o in self.outcomes if phase is None or o.phase == phase)
        return times[len(times) // 2] if times else None


def simulate(config: ControllerConfig, traffic: float, scenario: Scenario,
             repetitions: int, seed: int = 0, error_rate: float = BASELINE_ERROR_RATE,
             median_ms: float = MEDIAN_LATENCY_MS,
             monitors: dict[str, MonitorModel] | None = None) -> Summary:
    sim = simulated_config(config)
    return Summary(scenario, traffic, [run_once(sim, traffic, scenario, seed + i,
                                                error_rate, median_ms, monitors)
                                       for i in range(repetitions)],
                   error_rate, median_ms)


def replay(config: ControllerConfig, observations: list[Observation]
           ) -> tuple[RolloutState, list[tuple[float, str]]]:
    """A past rollout's recorded observations through this config's `decide`: how these
    gates would have decided on that traffic."""
    state, _ = decide(config, initial_state(config), None, None,
                      observations[0].time if observations else 0.0)
    timeline: list[tuple[float, str]] = []
    for obs in observations:
        if state.phase.ended or state.phase == RolloutPhase.PAUSED:
            break
        before = (state.phase, state.step)
        state, _ = decide(config, state, obs, None, obs.time)
        if (state.phase, state.step) != before:
            timeline.append((obs.time, f"{state.phase.value} step {state.step + 1}"
                             + (f": {state.reason}" if state.reason else "")))
    return state, timeline


def recorded(store: Store, run_id: str, application: str) -> list[Observation]:
    """What a past rollout's controller saw at each decision (its journal's
    `rollout_observation` records)."""
    out = []
    for r in read_journal(store, run_id):
        if r.get("event") != "rollout_observation" or r.get("application") != application:
            continue
        out.append(Observation(
            time=float(r["observed_at"]),
            evidence={v: expand(e) for v, e in (r.get("evidence") or {}).items()},
            monitors={name: _watched(int(m.get("windows_since", 0)),
                                     int(m.get("flagged_since", 0)),
                                     int(m.get("drift_since", 0)),
                                     m.get("outlier_rate_since"))
                      for name, m in (r.get("monitors") or {}).items()},
            slo=[SloReading.model_validate(x) for x in r["slo"]] if r.get("slo") else None))
    return out
