"""The execution plan: typed stages, canonical JSON, content hashes.

Lives here: the Plan and its stage models discriminated by kind (models.py), the policy
results it carries (policy_report.py), canonical JSON and sha256 (canonical.py), and the
Merkle DAG order and hashing of stages (graph.py), and figures derived from a plan alone
(judging.py: how long a rollout step needs to decide).

May import: pydantic, lifecycle.errors and lifecycle.stats. Never lifecycle.spec: the
runtime reads plans, not specs, so a plan must be complete without the spec language.
"""

from .approvals import ApprovalRecord, PlanApprovals, RefusedApproval, plan_digest
from .canonical import canonical_json, content_hash
from .cost import CostEstimate, CostLine, PriceTable, cost_per_1000_predictions
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
from .slo import BurnAlertParams, SloParams, error_budget

__all__ = [
    "PLAN_SCHEMA_VERSION", "AlertParams", "ApprovalRecord", "BurnAlertParams", "CheckpointParams",
    "CostEstimate", "CostLine", "DataStage", "DeployStage", "EvaluateStage", "GateParams",
    "LoggingParams", "MonitorParams", "MonitorStage", "Plan", "PlanApprovals", "PolicyReport",
    "PriceTable", "QualityParams", "RefusedApproval", "RegisterStage", "Resources", "RetireStage",
    "RetrainParams", "RolloutGateParams", "RolloutStage", "RolloutStepParams", "RuleResult",
    "SchedulerParams", "SearchParam", "SliceParams", "SloParams", "Stage", "TrainParams",
    "TrainStage", "TuneStage", "WaiverRecord", "canonical_json", "content_hash",
    "cost_per_1000_predictions", "error_budget", "plan_digest", "topological_order",
    "with_hashes",
]
