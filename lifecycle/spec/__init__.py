"""The spec language: what users write, as strict pydantic v2 models."""

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
