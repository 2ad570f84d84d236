"""The execution plan (typed stages, canonical JSON, content hashes)."""

from .canonical import canonical_json, content_hash
from .clock import today
from .graph import topological_order, with_hashes
from .models import (
                     PLAN_SCHEMA_VERSION,
                     AlertParams,
                     CheckpointParams,
                     DataStage,
                     DeployStage,
                     EvaluateStage,
                     GateParams,
                     MonitorParams,
                     MonitorStage,
                     Plan,
                     RegisterStage,
                     Resources,
                     RetireStage,
                     RetrainParams,
                     RolloutGateParams,
                     RolloutStage,
                     RolloutStepParams,
                     SchedulerParams,
                     SearchParam,
                     Stage,
                     TrainParams,
                     TrainStage,
                     TuneStage,
)
from .policy_report import PolicyReport, RuleResult, WaiverRecord

__all__ = [
    "PLAN_SCHEMA_VERSION", "AlertParams", "CheckpointParams", "DataStage", "DeployStage",
    "EvaluateStage", "GateParams", "MonitorParams", "MonitorStage", "Plan", "PolicyReport",
    "RegisterStage", "Resources", "RetireStage", "RetrainParams", "RolloutGateParams",
    "RolloutStage", "RolloutStepParams", "RuleResult", "SchedulerParams", "SearchParam",
    "Stage", "TrainParams", "TrainStage", "TuneStage", "WaiverRecord", "canonical_json",
    "content_hash", "today", "topological_order", "with_hashes",
]
