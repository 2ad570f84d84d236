"""`evaluate` and `register`: the gates a candidate must pass, and where it is registered."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import Identifier, SpecModel

EvalMetric = Literal["accuracy", "auc", "f1", "precision", "recall", "logloss",
                     "rmse", "mae", "r2"]
LOWER_IS_BETTER = frozenset({"logloss", "rmse", "mae"})


class Gate(SpecModel):
    metric: EvalMetric = Field(description="Metric computed on the evaluation data.")
    min: float | None = Field(None, description="Fail if the metric is below this.")
    max: float | None = Field(None, description="Fail if the metric is above this.")
    vs: Literal["champion"] | None = Field(
        None, description="Compare against the model holding the champion alias.")
    max_regression: float | None = Field(
        None, ge=0, description="With vs: champion, the largest allowed loss against the "
        "champion (in the metric's units).")

    @model_validator(mode="after")
    def _check(self) -> Gate:
        if self.vs is None:
            if self.min is None and self.max is None:
                raise ValueError("a gate needs a bound: min, max, or vs: champion with "
                                 "max_regression")
            if self.max_regression is not None:
                raise ValueError("max_regression needs vs: champion")
        elif self.max_regression is None:
            raise ValueError("vs: champion needs max_regression (0 allows no regression)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self

    @property
    def higher_is_better(self) -> bool:
        return self.metric not in LOWER_IS_BETTER


class EvaluateSpec(SpecModel):
    metrics: list[EvalMetric] = Field(
        default_factory=list, description="Metrics to compute (gated metrics are added).")
    gates: list[Gate] = Field(default_factory=list, description="Every gate must pass before "
                              "the model is registered.")


class RegisterSpec(SpecModel):
    model: Identifier = Field(description="Registered model name in the MLflow registry.")
    alias: Identifier = Field("challenger", description="Alias set on the new version.")
    tags: dict[Identifier, str] = Field(default_factory=dict,
                                        description="Extra tags on the model version.")
