"""`serve`: the Ray Serve application, its traffic split, shadow and rollout."""

from __future__ import annotations

import ipaddress
import itertools
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from .base import Duration, Fraction, Identifier, Percent, SpecModel, pattern

ServeMetric = Literal["error_rate", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
                      "drift", "outlier_rate", "shadow_diff",
                      "live_auc", "live_accuracy", "live_f1", "live_precision",
                      "live_recall", "live_rmse", "live_mae", "estimated_auc",
                      "estimated_accuracy"]
QUALITY_GATES = ("live_auc", "live_accuracy", "live_f1", "live_precision", "live_recall",
                 "live_rmse", "live_mae", "estimated_auc", "estimated_accuracy")
COMPARABLE = ("error_rate", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
              "live_auc", "live_accuracy", "live_f1", "live_precision", "live_recall",
              "live_rmse", "live_mae")
LIVE_LOWER_IS_BETTER = ("live_rmse", "live_mae")


def _ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"expected an IP address such as 127.0.0.1 or 0.0.0.0, got "
                         f"{value!r}") from None


IPAddress = Annotated[str, AfterValidator(_ip_address)]


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
    custom: dict[Identifier, float] = Field(
        default_factory=dict, description="Extra custom Ray resources per replica: places "
        "replicas on the nodes that advertise them (a node pool's label).")


class Batching(SpecModel):
    max_batch_size: int = Field(1, ge=1, le=4096, description="Requests batched per call.")
    batch_wait_timeout: Duration = Field(0.01, description="Longest wait to fill a batch.")


class ServeGate(SpecModel):
    metric: ServeMetric = Field(description="Live signal measured on the candidate "
                                "(shadow_diff: mean |candidate - stable| over shadow copies).")
    max: float | None = Field(None, description="Fail when the signal is above this.")
    min: float | None = Field(None, description="Fail when the signal is below this.")
    monitor: Identifier | None = Field(None, description="For drift/outlier_rate: which monitor.")
    vs: Literal["stable"] | None = Field(
        None, description="Compare with the stable version measured over the same window, "
        "with the rollout's sequential statistics (docs/serve.md).")
    max_increase: float | None = Field(
        None, gt=0, le=1, description="vs stable, error_rate: the increase (absolute, e.g. "
        "0.01 = one point) the gate must catch.")
    max_ratio: float | None = Field(
        None, gt=1, le=100, description="vs stable, latency_pNN_ms: the ratio of the "
        "candidate's percentile to the stable version's the gate must catch.")
    max_decrease: float | None = Field(
        None, gt=0, le=1, description="vs stable, live_auc/accuracy/f1/precision/recall: "
        "the loss against the stable version's live value the gate must catch.")

    @model_validator(mode="after")
    def _bound(self) -> ServeGate:
        if (self.metric in ("drift", "outlier_rate") or self.metric in QUALITY_GATES) \
                and self.monitor is None:
            raise ValueError(f"metric '{self.metric}' needs monitor: <name of a monitor>")
        if self.vs is None:
            if self.max_increase is not None or self.max_ratio is not None \
                    or self.max_decrease is not None:
                raise ValueError("max_increase and max_ratio compare with the stable "
                                 "version: add vs: stable, or use max/min")
            if self.max is None and self.min is None:
                raise ValueError("a rollout gate needs max or min (or vs: stable with "
                                 "max_increase / max_ratio)")
            return self
        if self.metric not in COMPARABLE:
            raise ValueError(f"metric '{self.metric}' is not compared with the stable "
                             f"version; vs: stable applies to {', '.join(COMPARABLE)}")
        if self.max is not None or self.min is not None:
            raise ValueError("a gate vs stable takes max_increase (error_rate) or "
                             "max_ratio (latency), not max/min")
        if self.metric.startswith("live_"):
            wants = "max_increase" if self.metric in LIVE_LOWER_IS_BETTER else "max_decrease"
            if getattr(self, wants) is None or (self.max_ratio is not None) or \
                    (wants == "max_decrease" and self.max_increase is not None) or \
                    (wants == "max_increase" and self.max_decrease is not None):
                raise ValueError(f"{self.metric} vs stable takes {wants} (e.g. 0.03) alone")
            return self
        if self.max_decrease is not None:
            raise ValueError("max_decrease compares live quality: use it with live_<metric>")
        if self.metric == "error_rate" and self.max_increase is None:
            raise ValueError("error_rate vs stable needs max_increase (e.g. 0.01)")
        if self.metric.startswith("latency_") and self.max_ratio is None:
            raise ValueError(f"{self.metric} vs stable needs max_ratio (e.g. 1.2)")
        if (self.metric == "error_rate" and self.max_ratio is not None) or \
                (self.metric.startswith("latency_") and self.max_increase is not None):
            raise ValueError("error_rate takes max_increase; latency takes max_ratio")
        return self


class RolloutStep(SpecModel):
    weight: Percent = Field(description="Share of traffic (percent) sent to the candidate.")
    hold: Duration = Field(0.0, description="How long to stay at this weight.")
    max_hold: Duration | None = Field(
        None, description="on_inconclusive extend: the longest the step may be extended "
        "(default: 3 x hold).")

    @model_validator(mode="after")
    def _max_hold(self) -> RolloutStep:
        if self.max_hold is not None and self.max_hold < self.hold:
            raise ValueError(f"max_hold ({self.max_hold:g}s) is shorter than hold "
                             f"({self.hold:g}s)")
        return self
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
    confidence: float = Field(0.95, ge=0.5, le=0.9999, description="Gates vs stable: the "
                              "chance a candidate like the stable version passes, and one "
                              "worse by the gate's amount fails.")
    on_inconclusive: Literal["extend", "pause", "rollback"] = Field(
        "extend", description="A step whose gates vs stable have not decided when its hold "
        "ends: extend it (to max_hold, then pause), pause for an operator, or roll back.")
    traffic: float | None = Field(
        None, gt=0, description="Requests per second the application expects: `plan` and "
        "`diff` say from it how long each step needs to judge its gates.")

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


class RouterSpec(SpecModel):
    replicas: int = Field(2, ge=1, le=1000, description="Router replicas (the ingress): two or "
                          "more, so losing one fails almost nothing.")
    autoscaling: Autoscaling | None = Field(None, description="Autoscale the Router instead "
                                            "(min_replicas is then the floor).")
    custom: dict[Identifier, float] = Field(
        default_factory=dict, description="Extra custom Ray resources per Router replica: "
        "keeps the ingress on the nodes that advertise them, e.g. nodes that are not "
        "preempted (fused, a Router replica needs serve.resources.custom too).")

    @model_validator(mode="after")
    def _floor(self) -> RouterSpec:
        if self.autoscaling is not None and self.autoscaling.min_replicas < 1:
            raise ValueError("the Router needs at least one replica: "
                             "autoscaling.min_replicas >= 1")
        return self


class Logging(SpecModel):
    sample: Fraction = Field(0.1, description="Share of requests whose predictions are "
                             "logged.")
    redact: list[Identifier] = Field(default_factory=list, description="Features never "
                                     "logged as they came (see redaction).")
    redaction: Literal["hash", "drop"] = Field(
        "hash", description="hash: a redacted feature is logged as a sha256 of its value "
        "(joins and counts still work); drop: not logged at all.")
    retention: Duration = Field(30 * 86_400.0, gt=0, description="Logs older than this are "
                                "removed.")
    flush_rows: int = Field(1000, ge=1, le=1_000_000, description="Write once this many "
                            "records are buffered ...")
    flush_interval: Duration = Field(10.0, gt=0, description="... or this long after the "
                                     "last write.")
    max_buffered: int = Field(20_000, ge=1, le=10_000_000, description="Records held before "
                              "new ones are dropped (and counted): a slow store never "
                              "slows serving.")


class Feedback(SpecModel):
    token: str = Field("secret://LIFECYCLE_FEEDBACK_TOKEN",
                       pattern=pattern(r"^secret://[A-Za-z0-9_./-]+$",
                                       "a secret reference: secret:// and the name of an "
                                       "environment variable",
                                       "secret://LIFECYCLE_FEEDBACK_TOKEN"),
                       description="The credential callers of the feedback route send "
                       "(Authorization: Bearer ...): a secret reference, read at run time "
                       "from the environment variable it names.")


class ServeSpec(SpecModel):
    route_prefix: str = Field(pattern=pattern(
        r"^/[A-Za-z0-9/_-]*$", "a URL path starting with '/': letters, digits, '/', '_' and "
        "'-'", "/fraud"), description="HTTP route prefix.")
    host: IPAddress = Field(
        "127.0.0.1", description="The address Serve's HTTP proxies bind: "
        "127.0.0.1 (the default) answers only on each node itself; 0.0.0.0 (or ::) exposes "
        "the application on every interface, to other machines. `run --serve-host` "
        "overrides it for one run.")
    replicas: int | None = Field(None, ge=1, le=1000,
                                 description="Fixed replicas per version (or autoscaling).")
    autoscaling: Autoscaling | None = Field(None, description="Replica autoscaling per version.")
    resources: ServeResources = Field(default_factory=ServeResources,
                                      description="Resources per replica.")
    batching: Batching | None = Field(None, description="Request batching in the model server.")
    rollout: Rollout | None = Field(None, description="Progressive rollout of the candidate.")
    shadow: Shadow | None = Field(None, description="Copy live traffic to a version off the "
                                  "response path.")
    topology: Literal["auto", "fused", "routed"] = Field(
        "auto", description="fused: the Router replicas score every version themselves (no "
        "second hop); routed: one model deployment per version behind the Router. auto: "
        "routed for GPU, batched or large (memory_mb >= 2048) models, else fused.")
    router: RouterSpec = Field(default_factory=RouterSpec,
                               description="The Router (ingress) replicas.")
    logging: Logging | None = Field(None, description="A sampled log of predictions, in "
                                    "Parquet in the run store.")
    feedback: Feedback = Field(default_factory=Feedback,
                               description="POST {route_prefix}/feedback: labels for answered "
                               "requests, by request id.")

    @model_validator(mode="after")
    def _replicas(self) -> ServeSpec:
        if self.replicas is not None and self.autoscaling is not None:
            raise ValueError("give replicas or autoscaling, not both")
        if self.topology == "fused" and (self.batching is not None
                                         or self.resources.num_gpus > 0):
            raise ValueError("topology 'fused' scores in the Router's replicas, without "
                             "batching or GPUs: use topology 'routed' (or 'auto') for "
                             "batched or GPU models")
        return self
