"""`serve`: the Ray Serve application, its traffic split, shadow and rollout."""

from __future__ import annotations

import itertools
from typing import Literal

from pydantic import Field, model_validator

from .base import Duration, Fraction, Identifier, Percent, SpecModel, pattern

ServeMetric = Literal["error_rate", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
                      "drift", "outlier_rate"]


class Autoscaling(SpecModel):
    min_replicas: int = Field(1, ge=0, le=1000, description="Fewest replicas per version.")
    max_replicas: int = Field(1, ge=1, le=1000, description="Most replicas per version.")
    target_ongoing_requests: float = Field(2.0, gt=0, description="Requests in flight per "
                                           "replica that autoscaling aims for.")

    @model_validator(mode="after")
    def _order(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) is greater than max_replicas "
                             f"({self.max_replicas})")
        return self


class ServeResources(SpecModel):
    num_cpus: float = Field(1.0, ge=0, le=256, description="CPUs per replica.")
    num_gpus: float = Field(0.0, ge=0, le=8, description="GPUs per replica (fractions allowed).")
    memory_mb: int | None = Field(None, ge=1, description="Memory reserved per replica.")


class Batching(SpecModel):
    max_batch_size: int = Field(1, ge=1, le=4096, description="Requests batched per call.")
    batch_wait_timeout: Duration = Field(0.01, description="Longest wait to fill a batch.")


class ServeGate(SpecModel):
    metric: ServeMetric = Field(description="Live signal measured on the candidate.")
    max: float | None = Field(None, description="Fail when the signal is above this.")
    min: float | None = Field(None, description="Fail when the signal is below this.")
    monitor: Identifier | None = Field(None, description="For drift/outlier_rate: which monitor.")

    @model_validator(mode="after")
    def _bound(self) -> ServeGate:
        if self.max is None and self.min is None:
            raise ValueError("a rollout gate needs max or min")
        if self.metric in ("drift", "outlier_rate") and self.monitor is None:
            raise ValueError(f"metric '{self.metric}' needs monitor: <name of a monitor>")
        return self


class RolloutStep(SpecModel):
    weight: Percent = Field(description="Share of traffic (percent) sent to the candidate.")
    hold: Duration = Field(0.0, description="How long to stay at this weight.")
    gates: list[ServeGate] = Field(default_factory=list,
                                   description="Checked every gate_interval while holding.")


class Rollout(SpecModel):
    strategy: Literal["canary", "blue_green", "ab"] = Field(description="How traffic moves.")
    steps: list[RolloutStep] = Field(min_length=1, description="Traffic steps, in order.")
    gate_interval: Duration = Field(30.0, gt=0, description="How often gates are checked.")
    on_failure: Literal["rollback", "pause", "alert"] = Field(
        "rollback", description="What a failed gate does: roll back automatically, pause, or "
        "only alert.")
    sticky_key: str | None = Field(
        None, min_length=1, description="A/B: request field or header hashed to pin a caller "
        "to a version.")

    @model_validator(mode="after")
    def _shape(self) -> Rollout:
        weights = [s.weight for s in self.steps]
        if self.strategy == "canary":
            if any(b < a for a, b in itertools.pairwise(weights)):
                raise ValueError(f"canary step weights must not decrease (got {weights})")
            if weights[-1] != 100:
                raise ValueError("the last canary step must have weight 100")
        elif self.strategy == "blue_green":
            if any(w not in (0, 100) for w in weights) or weights[-1] != 100:
                raise ValueError("blue_green steps have weight 0 (preview) or 100 (switch), "
                                 "ending at 100")
        elif self.strategy == "ab":
            if len(self.steps) != 1 or not 0 < weights[0] < 100:
                raise ValueError("ab takes exactly one step with a weight between 0 and 100")
            if self.sticky_key is None:
                raise ValueError("ab needs sticky_key so a caller keeps its version")
        if self.sticky_key is not None and self.strategy != "ab":
            raise ValueError("sticky_key applies only to strategy 'ab'")
        return self


class Shadow(SpecModel):
    target: Literal["candidate", "champion"] = Field(
        "candidate", description="Version that receives the copies.")
    fraction: Fraction = Field(description="Share of requests copied to the shadow.")
    max_queued: int = Field(8, ge=1, le=1000, description="Most copies in flight at once; "
                            "copies also go only into the target's spare slots. Others are "
                            "dropped and counted, so copies never queue ahead of the "
                            "target's own callers.")


class ServeSpec(SpecModel):
    route_prefix: str = Field(pattern=pattern(
        r"^/[A-Za-z0-9/_-]*$", "a URL path starting with '/': letters, digits, '/', '_' and "
        "'-'", "/fraud"), description="HTTP route prefix.")
    replicas: int | None = Field(None, ge=1, le=1000,
                                 description="Fixed replicas per version (or autoscaling).")
    autoscaling: Autoscaling | None = Field(None, description="Replica autoscaling per version.")
    resources: ServeResources = Field(default_factory=ServeResources,
                                      description="Resources per replica.")
    batching: Batching | None = Field(None, description="Request batching in the model server.")
    rollout: Rollout | None = Field(None, description="Progressive rollout of the candidate.")
    shadow: Shadow | None = Field(None, description="Copy live traffic to a version off the "
                                  "response path.")

    @model_validator(mode="after")
    def _replicas(self) -> ServeSpec:
        if self.replicas is not None and self.autoscaling is not None:
            raise ValueError("give replicas or autoscaling, not both")
        return self
