"""The root of the spec language."""

from __future__ import annotations

import warnings
from typing import Literal

from pydantic import Field

from .base import Email, Identifier, Slug, SpecModel
from .data import DataSpec
from .evaluate import EvaluateSpec, RegisterSpec
from .governance import Approval, Retirement, Waiver
from .monitor import MonitorSpec
from .serve import ServeSpec
from .slo import SloSpec
from .train import TrainSpec, TuneSpec

RiskTier = Literal["low", "medium", "high"]
TIERS: tuple[str, ...] = ("low", "medium", "high")


warnings.filterwarnings("ignore", message='Field name "register" in "Spec" shadows')


class Spec(SpecModel):
    """A lifecycle spec: one model, from data to retirement."""

    name: Slug = Field(description="Name of the model lifecycle (lowercase, digits, dashes).")
    owner: Email = Field(description="Team or person accountable for the model.")
    risk_tier: RiskTier = Field(description="Risk tier; selects the policy bundle.")
    description: str = Field("", max_length=2000, description="What the model is for.")
    policy: Identifier | None = Field(
        None, description="Policy bundle checked on top of the risk tier's bundle, which "
        "applies either way (so naming one only adds rules); not one for a lower tier.")
    data: DataSpec = Field(description="Training/evaluation data and its contract.")
    train: TrainSpec | None = Field(None, description="How the model is trained.")
    tune: TuneSpec | None = Field(None, description="Hyperparameter search over train.")
    evaluate: EvaluateSpec | None = Field(None, description="Evaluation metrics and gates.")
    register: RegisterSpec | None = Field(None, description="MLflow registration.")
    serve: ServeSpec | None = Field(None, description="Ray Serve deployment and rollout.")
    monitors: list[MonitorSpec] = Field(default_factory=list,
                                        description="Drift and outlier monitors.")
    slos: list[SloSpec] = Field(default_factory=list, description="Service level objectives "
                                "of the served model, with error budgets and burn-rate alerts.")
    approvals: list[Approval] = Field(
        default_factory=list, description="Unsigned sign-offs: they count where the tier's "
        "bundle allows unsigned approvals. Signed approvals live beside the spec, in "
        "SPEC.approvals/ (lifecycle approve; docs/approvals.md).")
    waivers: list[Waiver] = Field(default_factory=list, description="Approved exceptions to "
                                  "policy rules.")
    retirement: Retirement | None = Field(None, description="When and how to retire.")
    labels: dict[Identifier, str] = Field(default_factory=dict,
                                          description="Free-form labels (team, cost centre).")


__all__ = ["TIERS", "Email", "Identifier", "RiskTier", "Spec"]
