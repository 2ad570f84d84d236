"""The spec language: what users write, as strict pydantic v2 models.

Lives here: one module per section (data, train/tune, evaluate/register, serve, monitor,
governance) on the shared constrained types of base.py, every field described (docs/spec.md
and the JSON Schema are generated from them); checks.py, the cross-field rules, one small
registered function each; problems.py, pydantic's errors turned into findings with key
paths, "did you mean" and a fix.

May import: pydantic only (not even lifecycle.errors: its findings become Problems in
compile). Knows nothing of files, Hydra, policies or plans: the loader hands it a
mapping, and plan never imports it.
"""

from .base import Duration, SpecModel, parse_duration
from .data import DataContract, DataSource, DataSpec, FeatureContract
from .evaluate import EvaluateSpec, Gate, RegisterSpec
from .governance import Approval, Retirement, Waiver
from .model import TIERS, RiskTier, Spec
from .monitor import MonitorSpec
from .serve import Rollout, RolloutStep, ServeGate, ServeSpec, Shadow
from .slo import BurnAlert, SloSpec
from .train import Distribution, Scaling, TrainSpec, TuneSpec

__all__ = [
    "TIERS",
    "Approval",
    "BurnAlert",
    "DataContract",
    "DataSource",
    "DataSpec",
    "Distribution",
    "Duration",
    "EvaluateSpec",
    "FeatureContract",
    "Gate",
    "MonitorSpec",
    "RegisterSpec",
    "Retirement",
    "RiskTier",
    "Rollout",
    "RolloutStep",
    "Scaling",
    "ServeGate",
    "ServeSpec",
    "Shadow",
    "SloSpec",
    "Spec",
    "SpecModel",
    "TrainSpec",
    "TuneSpec",
    "Waiver",
    "parse_duration",
]
