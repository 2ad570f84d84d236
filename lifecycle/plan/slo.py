"""SLOs as the plan carries them: what the runtime enforces on rollouts and what the
Prometheus rules compiled from the plan measure. Outside every stage on purpose: an
objective changed is a new promise, not a reason to redeploy."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Sli = Literal["availability", "latency", "quality", "freshness"]
SloAction = Literal["alert", "block_promotion", "rollback"]


class _SloModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def error_budget(objective: float) -> float:
    """The share of events (or of the time) allowed to be bad: 99.9 -> 0.001. Rounded
    to 12 digits so the arithmetic and the rules use the same number (100 - 99.9 is
    0.09999999999999432 in binary floating point)."""
    return float(f"{(100.0 - objective) / 100.0:.12g}")


class BurnAlertParams(_SloModel):
    long_s: float = Field(gt=0, description="Long window (seconds).")
    short_s: float = Field(gt=0, description="Short window (seconds): stops the alert "
                           "soon after the burn stops.")
    factor: float = Field(gt=0, description="Fires when the burn rate is above this over "
                          "both windows.")
    severity: Literal["page", "ticket"] = Field(description="Who is told.")


class SloParams(_SloModel):
    name: str = Field(description="The SLO's name (unique in the spec).")
    sli: Sli = Field(description="What is measured.")
    objective: float = Field(gt=0, lt=100, description="Percent of good events (or of "
                             "the time) promised over the window.")
    window_s: float = Field(gt=0, description="The SLO window (seconds).")
    threshold_ms: float | None = Field(None, description="Latency: the threshold written "
                                       "in the spec.")
    bucket_ms: float | None = Field(None, description="Latency: the histogram bucket bound "
                                    "the rules count under (the largest at or below "
                                    "threshold_ms).")
    metric: str | None = Field(None, description="Quality: the live metric.")
    min: float | None = Field(None, description="Quality: good when the metric is at or "
                              "above this.")
    max: float | None = Field(None, description="Quality: good when the metric is at or "
                              "below this.")
    of: Literal["model", "training_data"] | None = Field(
        None, description="Freshness: whose age is measured.")
    max_age_s: float | None = Field(None, description="Freshness: the oldest that is good.")
    burn_alerts: list[BurnAlertParams] = Field(description="Multiwindow burn-rate alerts.")
    on_burn: list[SloAction] = Field(description="Actions while a burn alert fires (and, "
                                     "for block_promotion, while the budget is exhausted).")

    @property
    def error_budget(self) -> float:
        return error_budget(self.objective)

    @property
    def request_based(self) -> bool:
        """Availability and latency count requests; quality and freshness count time
        (evaluations that were good)."""
        return self.sli in ("availability", "latency")
