"""The execution plan (typed stages, canonical JSON, content hashes).

What lives here: the plan's pydantic models (`models`), canonical JSON and hashing, the
DAG order, the policy report, and figures derived from a plan alone (`judging`: how long
a rollout step needs to decide). May import: `lifecycle.errors`, `lifecycle.stats`.
Never the spec: the runtime reads plans, not specs."""

from .canonical import canonical_json, content_hash
from .graph import topological_order, with_hashes
from .models import (
    PLAN_SCHEMA_VERSION,
    AlertParams,
    CheckpointParams,
    DataStage,
    DeployStage,
    EvaluateStage,
    GateParams,
    LoggingParams,
    MonitorParams,
    MonitorStage,
    Plan,
    QualityParams,
    RegisterStage,
    Resources,
    RetireStage,
    RetrainParams,
    RolloutGateParams,
    RolloutStage,
    RolloutStepParams,
    SchedulerParams,
    SearchParam,
    SliceParams,
    Stage,
    TrainParams,
    TrainStage,
    TuneStage,
)
from .policy_report import PolicyReport, RuleResult, WaiverRecord

__all__ = [
    "PLAN_SCHEMA_VERSION", "AlertParams", "CheckpointParams", "DataStage", "DeployStage",
    "EvaluateStage", "GateParams", "LoggingParams", "MonitorParams", "MonitorStage", "Plan",
    "PolicyReport", "QualityParams", "RegisterStage", "Resources", "RetireStage",
    "RetrainParams", "RolloutGateParams", "RolloutStage", "RolloutStepParams", "RuleResult",
    "SchedulerParams", "SearchParam", "SliceParams", "Stage", "TrainParams", "TrainStage",
    "TuneStage", "WaiverRecord", "canonical_json", "content_hash", "topological_order",
    "with_hashes",
]
