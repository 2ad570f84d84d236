"""Error budgets and burn rates: the arithmetic the rollout controller enforces SLOs
with, kept pure (no Ray) so it is tested against hand-computed cases and agrees with the
Prometheus rules compiled from the same plan (compile/prometheus.py).

An SLO promises that at least `objective` percent of events over its window are good;
the error budget is the rest (99.9 -> 0.1% of requests may fail). For availability and
latency an event is a request; for quality and freshness it is an evaluation (so the
budget is a share of the time). Over any window:

    error ratio = bad / total
    burn rate   = error ratio / error budget    (1: the budget lasts exactly the window)
    budget left = 1 - burn rate over the SLO window  (negative: overspent)

A burn alert fires when the burn rate is above its factor over both its long and its
short window (the SRE workbook's multiwindow, multi-burn-rate alerts)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..plan import BurnAlertParams, SloParams, error_budget
from .contract import (
    APPLICATION,
    Freshness,
    SloReading,
    Slot,
    VersionEvidence,
    WatchSummary,
)
from .evidence import count_above


@dataclass(frozen=True)
class Counts:
    """Good and total events in one window (requests, or evaluations)."""

    good: float
    total: float

    def __post_init__(self) -> None:
        if self.total < 0 or self.good < 0 or self.good > self.total:
            raise ValueError(f"counts need 0 <= good <= total (got good={self.good}, "
                             f"total={self.total})")

    @property
    def bad(self) -> float:
        return self.total - self.good

    @property
    def error_ratio(self) -> float | None:
        """None without events: no evidence either way."""
        return self.bad / self.total if self.total else None


def burn_rate(counts: Counts, objective: float) -> float | None:
    ratio = counts.error_ratio
    return None if ratio is None else ratio / error_budget(objective)


def budget_left(counts: Counts, objective: float) -> float:
    """The share of the error budget still unspent over the SLO window: 1.0 untouched
    (also with no events), 0 spent, negative overspent."""
    rate = burn_rate(counts, objective)
    return 1.0 if rate is None else 1.0 - rate


def burn_rates(counts: Mapping[float, Counts], objective: float) -> dict[float, float | None]:
    """Window (seconds) -> burn rate over it."""
    return {window: burn_rate(c, objective) for window, c in counts.items()}


def firing(rates: Mapping[float, float | None],
           alerts: list[BurnAlertParams]) -> list[BurnAlertParams]:
    """The alerts whose burn rate is above their factor over both windows. A window
    with no events (or not measured) keeps its alert quiet."""
    out = []
    for alert in alerts:
        long, short = rates.get(alert.long_s), rates.get(alert.short_s)
        if long is not None and short is not None and long > alert.factor \
                and short > alert.factor:
            out.append(alert)
    return out


def windows(slo: SloParams) -> list[float]:
    """The windows (seconds) an SLO needs counts for: its own and its alerts'."""
    return sorted({slo.window_s, *(a.long_s for a in slo.burn_alerts),
                   *(a.short_s for a in slo.burn_alerts)})


@dataclass(frozen=True)
class SloStatus:
    """One SLO of one version, at one moment."""

    slo: str
    budget_left: float
    burn_rates: dict[float, float | None]
    firing: list[BurnAlertParams] = field(default_factory=list)

    @property
    def exhausted(self) -> bool:
        return self.budget_left <= 0.0


def status(slo: SloParams, counts: Mapping[float, Counts]) -> SloStatus:
    """Budget left, burn rates and firing alerts from per-window counts (windows as
    `windows(slo)` lists them; a missing window counts as no events)."""
    missing = Counts(0, 0)
    rates = burn_rates({w: counts.get(w, missing) for w in windows(slo)}, slo.objective)
    return SloStatus(slo=slo.name,
                     budget_left=budget_left(counts.get(slo.window_s, missing), slo.objective),
                     burn_rates=rates, firing=firing(rates, slo.burn_alerts))


# --- readings: what the rollout controller acts on ------------------------------------

def request_counts(slo: SloParams, ev: VersionEvidence) -> Counts:
    """Availability: answers outside the 5xx class are good. Latency: answers in the
    SLO's bucket bound or less are good (the histogram's edges include every bound the
    compiler accepts)."""
    if slo.sli == "availability":
        return Counts(ev.requests - ev.errors, ev.requests)
    assert slo.bucket_ms is not None
    total = sum(ev.latency_ms)
    return Counts(total - count_above(ev.latency_ms, slo.bucket_ms), total)


def window_label(seconds: float) -> str:
    """3600.0 -> '1h': the largest unit that divides it, as the spec writes windows."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Evaluation = tuple[float, str, bool]  # (time, version, good): a time-based SLO's look


def evaluation_counts(evaluations: list[Evaluation], version: str, since: float) -> Counts:
    mine = [good for t, v, good in evaluations if t >= since and version in (v, APPLICATION)]
    return Counts(sum(mine), len(mine))


def readings(slos: list[SloParams], windows_evidence: Mapping[float, Mapping[str,
             VersionEvidence]], evaluations: Mapping[str, list[Evaluation]],
             slots: Mapping[str, Slot], now: float) -> list[SloReading]:
    """Every SLO for each version (and for the application, '*'): request-based SLOs
    from the evidence over each window (`windows_evidence`: window seconds -> version ->
    evidence in it), time-based ones from the controller's evaluations."""
    out = []
    for slo in slos:
        spans = windows(slo)
        if slo.request_based:
            versions = sorted({v for w in spans for v in windows_evidence.get(w, {})})

            def counts(version: str, window: float, slo: SloParams = slo) -> Counts:
                evs = windows_evidence.get(window, {})
                if version == APPLICATION:
                    return sum_counts([request_counts(slo, e) for e in evs.values()])
                ev = evs.get(version)
                return Counts(0, 0) if ev is None else request_counts(slo, ev)
        else:
            versions = sorted({v for _, v, _ in evaluations.get(slo.name, [])})

            def counts(version: str, window: float, slo: SloParams = slo) -> Counts:
                mine = evaluations.get(slo.name, [])
                if version == APPLICATION:
                    chosen = [good for t, _, good in mine if t >= now - window]
                    return Counts(sum(chosen), len(chosen))
                return evaluation_counts(mine, version, now - window)
        for version in [*versions, APPLICATION]:
            st = status(slo, {w: counts(version, w) for w in spans})
            out.append(SloReading(
                slo=slo.name, sli=slo.sli, version=version, slot=slots.get(version),
                budget_left=st.budget_left,
                burn_rates={window_label(w): r for w, r in st.burn_rates.items()},
                firing=[f"{window_label(a.long_s)}/{window_label(a.short_s)} above "
                        f"{a.factor:g}x" for a in st.firing],
                events=counts(version, slo.window_s).total))
    return out


def sum_counts(parts: list[Counts]) -> Counts:
    return Counts(sum(c.good for c in parts), sum(c.total for c in parts))


def evaluate(slo: SloParams, versions: Mapping[Slot, str | None],
             monitors: Mapping[str, WatchSummary], freshness: Mapping[Slot, Freshness],
             now: float) -> list[tuple[str, bool]]:
    """One look of a time-based SLO, per served version: quality, whether the version's
    live metric (from a quality monitor, over the labels of this step) meets its bound;
    freshness, whether its model (or training data) is younger than max_age. A version
    with no value yet is not evaluated (no evidence is not a bad minute)."""
    out = []
    for slot, version in versions.items():
        if version is None:
            continue
        if slo.sli == "quality":
            assert slo.metric is not None
            name = slo.metric.removeprefix("live_")
            values = [q.values.get(name) for w in monitors.values()
                      for v, q in (w.quality or {}).items() if v == version]
            value = next((x for x in values if x is not None), None)
            if value is None:
                continue
            good = value >= slo.min if slo.min is not None else \
                value <= (slo.max if slo.max is not None else float("inf"))
        else:
            made = freshness.get(slot)
            at = None if made is None else (made.trained_at if slo.of == "model"
                                            else made.data_at)
            if at is None or slo.max_age_s is None:
                continue
            good = now - at <= slo.max_age_s
        out.append((version, good))
    return out
