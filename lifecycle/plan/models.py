"""The execution plan: what `lifecycle run` executes. A typed DAG of stages, each with
its resources and a content hash, plus the resolved spec, the policy results and the
Ray Serve config the plan implies. Self-contained: a cluster needs nothing else.

This module never imports the spec package: the runtime reads plans, not specs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from .approvals import PlanApprovals
from .canonical import canonical_json, content_hash
from .cost import CostEstimate
from .policy_report import PolicyReport
from .slo import SloParams

PLAN_SCHEMA_VERSION = 1


class PlanModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Resources(PlanModel):
    cpus: float = Field(0.0, ge=0, description="CPUs the stage holds at peak.")
    gpus: float = Field(0.0, ge=0, description="GPUs the stage holds at peak.")
    workers: int = Field(1, ge=0, description="Ray workers/replicas/trials at peak.")


class StageBase(PlanModel):
    id: str = Field(description="Unique stage id (its kind, e.g. 'train').")
    depends_on: list[str] = Field(default_factory=list, description="Stages that run first.")
    resources: Resources = Field(default_factory=Resources, description="Peak resources.")
    content_hash: str = Field("", description="sha256 over the stage's inputs and the hashes "
                              "of the stages it depends on.")


class DataStage(StageBase):
    kind: Literal["data"] = "data"
    sources: dict[str, dict[str, JsonValue]] = Field(description="Role -> source (path, "
                                                     "format, columns).")
    contract: dict[str, JsonValue] = Field(description="The data contract to check.")


class CheckpointParams(PlanModel):
    num_to_keep: int
    score_metric: str | None
    score_mode: Literal["max", "min"]


class SchedulerParams(PlanModel):
    type: Literal["fifo", "asha"]
    grace_period: int
    reduction_factor: float
    max_t: int


class TrainParams(PlanModel):
    entrypoint: str
    framework: str
    num_workers: int
    use_gpu: bool
    cpus_per_worker: float
    gpus_per_worker: float
    resources_per_worker: dict[str, float]
    max_failures: int
    checkpointing: CheckpointParams
    config: dict[str, JsonValue]


class TrainStage(StageBase):
    kind: Literal["train"] = "train"
    train: TrainParams


class SearchParam(PlanModel):
    name: str
    distribution: Literal["uniform", "loguniform", "quniform", "randint", "choice", "grid",
                          "normal"]
    args: list[JsonValue]


class TuneStage(StageBase):
    kind: Literal["tune"] = "tune"
    train: TrainParams = Field(description="The training function each trial runs.")
    metric: str
    mode: Literal["max", "min"]
    num_samples: int
    max_concurrent_trials: int
    time_budget_s: float | None
    scheduler: SchedulerParams
    search_space: list[SearchParam]
    seed: int | None = None


class GateParams(PlanModel):
    metric: str
    min: float | None = None
    max: float | None = None
    vs: Literal["champion"] | None = None
    max_regression: float | None = None
    higher_is_better: bool = True


class EvaluateStage(StageBase):
    kind: Literal["evaluate"] = "evaluate"
    metrics: list[str]
    gates: list[GateParams]


class RegisterStage(StageBase):
    kind: Literal["register"] = "register"
    model: str
    alias: str
    tags: dict[str, str]


class AlertParams(PlanModel):
    webhook: str | None = None
    command: list[str] | None = None
    retries: int


class RetrainParams(PlanModel):
    cooldown: float = Field(description="Least seconds between two retrains.")
    max_per_week: int
    recent_data: float | None = Field(description="Train only on rows this recent (s).")


class SliceParams(PlanModel):
    feature: str
    bins: list[float] | None = None


class QualityParams(PlanModel):
    """A quality monitor: metrics on labelled predictions, per version and slice."""

    metrics: list[str]
    slices: list[SliceParams]
    min: dict[str, float]
    max: dict[str, float]
    on_drop: list[str]
    estimate: bool
    horizon_s: float
    threshold: float = Field(0.5, description="Class threshold for accuracy/f1/precision/"
                             "recall on predicted probabilities.")


class MonitorParams(PlanModel):
    name: str
    kind: Literal["detector", "quality"] = "detector"
    detector: str = Field(description="The alibi-detect detector ('quality' for a quality "
                          "monitor).")
    features: list[str]
    window: int
    window_duration_s: float | None
    min_window: int = Field(description="Fewest rows a window closed by time may have "
                            "(the detector's minimum).")
    p_val: float
    correction: str
    online: bool
    ert: int
    n_bootstraps: int | None = None  # online only: calibration simulations
    backend: str
    reference_size: int
    threshold: float | None
    max_outlier_rate: float
    preprocess: dict[str, JsonValue]
    on_drift: list[str]
    on_outlier: list[str]
    alert: AlertParams | None
    retrain: RetrainParams | None
    quality: QualityParams | None = None


class MonitorStage(StageBase):
    kind: Literal["monitor"] = "monitor"
    monitors: list[MonitorParams]


class LoggingParams(PlanModel):
    sample: float
    redact: list[str]
    redaction: Literal["hash", "drop"]
    retention_s: float
    flush_rows: int
    flush_interval_s: float
    max_buffered: int


class DeployStage(StageBase):
    kind: Literal["deploy"] = "deploy"
    application: str
    route_prefix: str
    model: str
    topology: Literal["fused", "routed"] = Field(
        description="fused: the Router replicas score every version; routed: a model "
        "deployment per version behind the Router.")
    router_replicas: int = Field(description="Router replicas (at least; autoscaled above).")
    replicas: int | None
    autoscaling: dict[str, JsonValue] | None
    replica_resources: dict[str, JsonValue]
    batching: dict[str, JsonValue] | None
    shadow: dict[str, JsonValue] | None
    logging: LoggingParams | None = None
    feedback_token: str = Field("secret://LIFECYCLE_FEEDBACK_TOKEN", description="The "
                                "feedback route's credential (a secret reference).")


class RolloutGateParams(PlanModel):
    metric: str
    max: float | None = None
    min: float | None = None
    monitor: str | None = None
    vs: Literal["stable"] | None = None
    max_increase: float | None = None
    max_ratio: float | None = None
    max_decrease: float | None = None

    @property
    def bound(self) -> str:
        if self.vs is not None:
            if self.max_increase is not None:
                return f"vs stable, max +{self.max_increase:g}"
            if self.max_decrease is not None:
                return f"vs stable, max -{self.max_decrease:g}"
            return f"vs stable, max x{self.max_ratio:g}"
        return f"max {self.max:g}" if self.max is not None else f"min {self.min:g}"

    @property
    def name(self) -> str:
        """How status, journal and metrics name the gate."""
        of = f"({self.monitor})" if self.monitor else ""
        return f"{self.metric}{of}" + (" vs stable" if self.vs else "")

    def breaks(self, value: float) -> bool:
        return (self.max is not None and value > self.max) or \
            (self.min is not None and value < self.min)


class RolloutStepParams(PlanModel):
    weight: float
    hold_s: float
    max_hold_s: float = Field(description="Longest the step may be extended while its gates "
                              "are inconclusive.")
    gates: list[RolloutGateParams]


class RolloutStage(StageBase):
    kind: Literal["rollout"] = "rollout"
    strategy: Literal["canary", "blue_green", "ab"]
    steps: list[RolloutStepParams]
    gate_interval_s: float
    on_failure: Literal["rollback", "pause", "alert"]
    sticky_key: str | None
    preview_max_queued: int = Field(description="Shadow copies in flight while a blue/green "
                                    "step previews the candidate (serve.shadow.max_queued).")
    confidence: float = Field(description="Gates vs stable: 1 - their error rates.")
    on_inconclusive: Literal["extend", "pause", "rollback"]
    traffic: float | None = Field(description="Requests per second the spec expects.")
    approved_digest: str | None = Field(
        None, description="The approval digest the plan's signed approvals cover: the "
        "version promoted must carry it (plan.approvals.promotion_refusal). None: no signed "
        "approval, nothing to check.")


class RetireStage(StageBase):
    kind: Literal["retire"] = "retire"
    after: str | None
    drain_s: float
    archive: bool
    replaced_by: str | None


Stage = Annotated[
    DataStage | TrainStage | TuneStage | EvaluateStage | RegisterStage | MonitorStage
    | DeployStage | RolloutStage | RetireStage,
    Field(discriminator="kind"),
]


class Plan(PlanModel):
    schema_version: int = Field(PLAN_SCHEMA_VERSION, description="Plan format version.")
    name: str = Field(description="The spec's name.")
    risk_tier: str = Field(description="The spec's risk tier.")
    spec_hash: str = Field(description="sha256 of the resolved spec.")
    spec: dict[str, JsonValue] = Field(description="The resolved spec (defaults filled).")
    presets: list[str] = Field(description="conf/ presets the spec was composed from.")
    overrides: list[str] = Field(description="Command-line overrides applied.")
    protected_overrides: list[str] = Field(
        default_factory=list, description="Keys the policy bundle protects that the "
        "command line changed, allowed by an explicit opt-in (--allow-protected-overrides).")
    policy: PolicyReport = Field(description="Policy results at compile time.")
    stages: list[Stage] = Field(description="Stages in a valid execution order.")
    serve_config: dict[str, JsonValue] | None = Field(
        None, description="Ray Serve config (ServeDeploySchema) the plan implies.")
    approvals: PlanApprovals | None = Field(
        None, description="The approval digest and which approvals count (None: the spec "
        "has no approvals).")
    slos: list[SloParams] = Field(default_factory=list, description="The SLOs the runtime "
                                  "keeps and the compiled Prometheus rules measure.")
    cost: CostEstimate | None = Field(None, description="The plan priced with the "
                                      "platform's price table.")

    def stage(self, stage_id: str) -> Any:
        for s in self.stages:
            if s.id == stage_id:
                return s
        raise KeyError(stage_id)

    def to_json(self) -> str:
        return canonical_json(self.model_dump(mode="json")) + "\n"

    @property
    def plan_hash(self) -> str:
        return content_hash(self.model_dump(mode="json"))
