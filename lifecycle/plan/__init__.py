"""The execution plan (typed stages, canonical JSON, content hashes)."""

from .approvals import ApprovalRecord, PlanApprovals, RefusedApproval, plan_digest
from .canonical import canonical_json, content_hash
from .graph import topological_order, with_hashes
from .models import (
                     PLAN_SCHEMA_VERSION,
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
                     RolloutStage,
                     RolloutStepParams,
                     SearchParam,
                     Stage,
                     TrainParams,
                     TrainStage,
                     TuneStage,
)
from .policy_report import PolicyReport, RuleResult, WaiverRecord

__all__ = ["PLAN_SCHEMA_VERSION", "ApprovalRecord", "DataStage", "DeployStage", "EvaluateStage",
           "GateParams", "MonitorParams", "MonitorStage", "Plan", "PlanApprovals", "PolicyReport",
           "RefusedApproval", "RegisterStage", "Resources", "RetireStage", "RolloutStage",
           "RolloutStepParams", "RuleResult", "SearchParam", "Stage", "TrainParams", "TrainStage",
           "TuneStage", "WaiverRecord", "canonical_json", "content_hash", "plan_digest",
           "topological_order", "with_hashes"]
