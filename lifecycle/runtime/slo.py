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
