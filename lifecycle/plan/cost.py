"""What a plan costs: the platform's price table (conf/cost/) and the estimate priced
with it. The plan carries both, so `lifecycle diff` of two compiled plans shows the cost
change and the runtime turns replica-seconds into a price per 1,000 predictions without
reading conf/."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .canonical import content_hash

SECONDS_PER_HOUR = 3600.0


class _CostModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Assumptions(_CostModel):
    """What the estimate assumes where a spec does not say."""

    training_run_hours: float = Field(
        1.0, gt=0, le=10_000, description="How long one training run (or one tuning trial) "
        "takes, when the spec gives no train.expected_duration.")
    memory_gb_per_cpu: float = Field(
        4.0, ge=0, le=1024, description="Memory priced per CPU where the spec reserves none "
        "(training workers, routers, monitors, replicas without memory_mb).")
    hours_per_month: float = Field(730.0, gt=0, le=744, description="Hours a served model "
                                   "runs in a month (730: a year's hours over 12).")


class PriceTable(_CostModel):
    """A platform's prices (conf/cost/default.yaml). The platform replaces it with its own
    (LIFECYCLE_COST_PATH, or its own conf/ via LIFECYCLE_CONF); a spec cannot bring one."""

    name: str = Field(description="The table's name (its file stem).")
    description: str = Field("", description="Where the prices come from.")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. USD.")
    cpu_hour: float = Field(ge=0, description="Price of one CPU for one hour.")
    memory_gb_hour: float = Field(ge=0, description="Price of one GB of memory for one hour.")
    gpu_hour: dict[str, float] = Field(min_length=1, description="Price of one GPU for one "
                                       "hour, by accelerator type (A100, H100, T4, ...).")
    default_gpu: str = Field(description="The accelerator type GPUs are priced at (specs "
                             "do not name one yet).")
    assume: Assumptions = Field(default_factory=Assumptions,
                                description="Assumptions where a spec does not say.")

    @model_validator(mode="after")
    def _default_gpu_priced(self) -> PriceTable:
        if self.default_gpu not in self.gpu_hour:
            raise ValueError(f"default_gpu '{self.default_gpu}' has no price in gpu_hour "
                             f"(priced: {', '.join(sorted(self.gpu_hour))})")
        if any(p < 0 for p in self.gpu_hour.values()):
            raise ValueError("gpu_hour prices cannot be negative")
        return self

    @property
    def digest(self) -> str:
        return content_hash(self.model_dump(mode="json"))

    def hourly(self, cpus: float, gpus: float = 0.0, memory_gb: float | None = None) -> float:
        """One worker's or replica's price per hour."""
        memory = cpus * self.assume.memory_gb_per_cpu if memory_gb is None else memory_gb
        return (cpus * self.cpu_hour + gpus * self.gpu_hour[self.default_gpu]
                + memory * self.memory_gb_hour)


class CostLine(_CostModel):
    item: str = Field(description="What is priced: training, tuning, model replicas, "
                      "router, monitor.")
    stage: str = Field(description="The plan stage it belongs to.")
    per: Literal["run", "month"] = Field(description="A run of the plan, or a month served.")
    low: float = Field(ge=0, description="At the minimum (min replicas); = high for runs.")
    high: float = Field(ge=0, description="At the maximum (max replicas, full time budget).")
    basis: str = Field(description="How it was computed, e.g. '2 workers × $3.06/h × 1h'.")


class CostEstimate(_CostModel):
    currency: str
    price_table: str = Field(description="Name of the price table used.")
    price_table_hash: str = Field(description="sha256 of the price table used.")
    training: float = Field(ge=0, description="One run of the plan's training or tuning.")
    monthly_serving_min: float = Field(ge=0, description="A month served at min replicas.")
    monthly_serving_max: float = Field(ge=0, description="A month served at max replicas.")
    lines: list[CostLine] = Field(description="The estimate, item by item.")
    assumptions: list[str] = Field(description="What the estimate assumed.")
    replica_hourly: dict[str, float] = Field(
        default_factory=dict, description="Serve deployment -> price of one replica-hour "
        "(what the runtime prices replica-seconds at).")

    def policy_view(self) -> dict[str, float]:
        """What policy rules read as `cost.*`."""
        return {"training": self.training, "monthly_serving_min": self.monthly_serving_min,
                "monthly_serving_max": self.monthly_serving_max}


def cost_per_1000_predictions(replica_seconds: Mapping[str, float], predictions: int,
                              replica_hourly: Mapping[str, float]) -> float | None:
    """The serving cost of 1,000 predictions over some period: the replica-seconds each
    deployment held (router and monitor included) priced at the plan's replica-hour,
    over the predictions answered (shadow copies cost, but predict nothing). None
    without predictions."""
    unknown = sorted(set(replica_seconds) - set(replica_hourly))
    if unknown:
        raise ValueError(f"no price for deployment(s) {', '.join(unknown)}; priced: "
                         f"{', '.join(sorted(replica_hourly))}")
    if predictions <= 0:
        return None
    spent = sum(seconds / SECONDS_PER_HOUR * replica_hourly[name]
                for name, seconds in replica_seconds.items())
    return spent / predictions * 1000.0
