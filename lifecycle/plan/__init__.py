"""The execution plan: typed stages, canonical JSON, content hashes.

Lives here: the Plan and its stage models discriminated by kind (models.py), the policy
results it carries (policy_report.py), canonical JSON and sha256 (canonical.py), and the
Merkle DAG order and hashing of stages (graph.py).

May import: pydantic and lifecycle.errors. Never lifecycle.spec: the runtime reads plans,
not specs, so a plan must be complete without the spec language.
"""

from .approvals import ApprovalRecord, PlanApprovals, RefusedApproval, plan_digest
from .canonical import canonical_json, content_hash
from .cost import CostEstimate, CostLine, PriceTable, cost_per_1000_predictions
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
from .slo import BurnAlertParams, SloParams, error_budget

__all__ = ["PLAN_SCHEMA_VERSION", "ApprovalRecord", "BurnAlertParams", "CostEstimate", "CostLine",
           "DataStage", "DeployStage", "EvaluateStage", "GateParams", "MonitorParams",
           "MonitorStage", "Plan", "PlanApprovals", "PolicyReport", "PriceTable",
           "RefusedApproval", "RegisterStage", "Resources", "RetireStage", "RolloutStage",
           "RolloutStepParams", "RuleResult", "SearchParam", "SloParams", "Stage", "TrainParams",
           "TrainStage", "TuneStage", "WaiverRecord", "canonical_json", "content_hash",
           "cost_per_1000_predictions", "error_budget", "plan_digest", "topological_order",
           "with_hashes"]
