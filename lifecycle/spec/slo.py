"""`slos`: the operational contract of a served model — availability, latency, live
quality and freshness, each an objective over a window with an error budget, burn-rate
alerts (the SRE workbook's multiwindow alerts) and actions on burn. Which fields go with
which SLI, and how windows relate, are cross-field rules in checks.py."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Duration, Identifier, SpecModel

Sli = Literal["availability", "latency", "quality", "freshness"]
# the monitors' actions that make sense for a budget: block_promotion is the SRE's
# "error-budget freeze"
SloAction = Literal["alert", "block_promotion", "rollback"]
LIVE_METRIC_EXAMPLES = ("live_auc", "live_accuracy", "live_precision", "live_recall",
                        "live_f1", "live_log_loss")
# the fields each SLI reads (besides name, objective, window, alerts and actions)
SLI_FIELDS: dict[str, tuple[str, ...]] = {
    "availability": (),
    "latency": ("threshold_ms",),
    "quality": ("metric", "min", "max"),
    "freshness": ("of", "max_age"),
}


class BurnAlert(SpecModel):
    """Fires while the budget burns faster than `factor` over both windows.

    The long window makes an alert significant, the short one makes it stop soon after
    the burn does (the SRE workbook's multiwindow, multi-burn-rate alerts)."""

    long_window: Duration = Field(ge=60, description="Long window, e.g. 1h.")
    short_window: Duration = Field(ge=60, description="Short window, e.g. 5m (the SRE "
                                   "workbook uses a twelfth of the long one).")
    factor: float = Field(gt=0, le=10_000, description="Burn rate that fires it (1 spends "
                          "exactly the budget over the SLO window).")
    severity: Literal["page", "ticket"] = Field("page", description="Who is told: page "
                                                "someone now, or open a ticket.")


DEFAULT_ON_BURN: tuple[SloAction, ...] = ("alert",)
DEFAULT_BURN_ALERTS = (
    BurnAlert(long_window=3600, short_window=300, factor=14.4),
    BurnAlert(long_window=6 * 3600, short_window=1800, factor=6.0),
)


class SloSpec(SpecModel):
    name: Identifier = Field(description="Unique SLO name (a label on its Prometheus "
                             "series and alerts).")
    sli: Sli = Field(description="What is measured: availability (share of answers that "
                     "are not 5xx), latency (share of requests at or under threshold_ms), "
                     "quality (share of the time a live metric from ground truth meets its "
                     "bound), freshness (share of the time the model or its training data is "
                     "younger than max_age).")
    description: str = Field("", max_length=500, description="What the SLO protects.")
    objective: float = Field(gt=0, lt=100, description="Percent of requests (or of the time) "
                             "that must be good over the window, e.g. 99.9. The error budget "
                             "is the rest.")
    window: Duration = Field(28 * 86400.0, ge=3600, le=366 * 86400,
                             description="The SLO window the budget is counted over.")
    threshold_ms: float | None = Field(None, gt=0, description="Latency: a request is good "
                                       "when answered in this many ms or less; a histogram "
                                       "bucket bound (1, 2, 5, 10, 20, 50, 100, 200, 500, "
                                       "1000, 2000, 5000).")
    metric: str | None = Field(None, min_length=1, description="Quality: the live metric, "
                               "e.g. live_auc or live_accuracy.")
    min: float | None = Field(None, description="Quality: good when the metric is at or "
                              "above this.")
    max: float | None = Field(None, description="Quality: good when the metric is at or "
                              "below this (for losses).")
    of: Literal["model", "training_data"] | None = Field(
        None, description="Freshness: the age of the served model, or of its training data.")
    max_age: Duration | None = Field(None, gt=0, description="Freshness: the oldest that "
                                     "is still good.")
    burn_alerts: list[BurnAlert] = Field(
        default_factory=lambda: list(DEFAULT_BURN_ALERTS),
        description="Multiwindow burn-rate alerts (default: the SRE workbook's pages, 14.4x "
        "over 1h and 5m, 6x over 6h and 30m).")
    on_burn: list[SloAction] = Field(
        default_factory=lambda: list(DEFAULT_ON_BURN),
        description="Actions while a burn alert fires: alert; rollback (a candidate whose "
        "own traffic burns the budget); block_promotion (also while the budget is "
        "exhausted: the error-budget freeze).")
