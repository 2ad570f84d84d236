"""`train` and `tune`: how a candidate model is produced on Ray Train / Ray Tune."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, JsonValue, model_validator

from .base import Duration, Identifier, SpecModel, pattern

Framework = Literal["torch", "xgboost", "lightgbm", "sklearn"]
ENTRYPOINT_PATTERN = pattern(
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$",
    "an importable module path, a colon and a function name: 'package.module:function'",
    "examples.fraud.model:train_loop")


class Scaling(SpecModel):
    num_workers: int = Field(1, ge=1, le=1024, description="Number of Ray Train workers.")
    use_gpu: bool = Field(False, description="Give each worker GPUs.")
    gpus_per_worker: float = Field(
        1.0, gt=0, le=8, description="GPUs per worker when use_gpu is true (fractions allowed).")
    cpus_per_worker: float = Field(1.0, gt=0, le=256, description="CPUs per worker.")
    resources_per_worker: dict[Identifier, float] = Field(
        default_factory=dict, description="Extra custom Ray resources per worker (CPU, GPU "
        "and Ray's other built-in resources have their own fields).")
    max_failures: int = Field(
        0, ge=0, le=100, description="Worker failures survived by restarting from the last "
        "checkpoint.")

    @property
    def total_gpus(self) -> float:
        return self.num_workers * self.gpus_per_worker if self.use_gpu else 0.0


class Checkpointing(SpecModel):
    num_to_keep: int = Field(2, ge=1, le=100, description="Checkpoints kept on storage.")
    score_metric: str | None = Field(
        None, description="Metric that ranks checkpoints (default: keep the newest).")
    score_mode: Literal["max", "min"] = Field("max", description="Direction of score_metric.")


class TrainSpec(SpecModel):
    entrypoint: str = Field(
        pattern=ENTRYPOINT_PATTERN,
        description="'package.module:function' run on every worker; must start with a module "
        "prefix the policy allows.")
    framework: Framework = Field("torch", description="Training framework and Ray trainer.")
    scaling: Scaling = Field(default_factory=Scaling, description="Workers and resources.")
    checkpointing: Checkpointing = Field(default_factory=Checkpointing,
                                         description="Which checkpoints are kept.")
    config: dict[str, JsonValue] = Field(
        default_factory=dict, description="Hyperparameters passed to the entrypoint.")
    expected_duration: Duration | None = Field(
        None, gt=0, description="How long one training run (or tuning trial) takes, for the "
        "cost estimate only: nothing stops a run that takes longer (default: the price "
        "table's assumption).")

    @model_validator(mode="after")
    def _single_worker_sklearn(self) -> TrainSpec:
        if self.framework == "sklearn" and self.scaling.num_workers != 1:
            raise ValueError("framework 'sklearn' trains on a single worker: set "
                             "train.scaling.num_workers to 1")
        return self


class Distribution(SpecModel):
    """One Ray Tune distribution; exactly one key is set."""

    uniform: tuple[float, float] | None = Field(None, description="tune.uniform(low, high).")
    loguniform: tuple[float, float] | None = Field(None, description="tune.loguniform(low, high).")
    quniform: tuple[float, float, float] | None = Field(
        None, description="tune.quniform(low, high, q).")
    randint: tuple[int, int] | None = Field(None, description="tune.randint(low, high).")
    choice: list[JsonValue] | None = Field(None, min_length=1, description="tune.choice([...]).")
    grid: list[JsonValue] | None = Field(None, min_length=1, description="tune.grid_search([...]).")
    normal: tuple[float, float] | None = Field(None, description="tune.randn(mean, sd).")

    @model_validator(mode="after")
    def _exactly_one(self) -> Distribution:
        set_keys = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(set_keys) != 1:
            raise ValueError("give exactly one of " + ", ".join(type(self).model_fields)
                             + (f" (got {', '.join(set_keys)})" if set_keys else ""))
        key = set_keys[0]
        bounds: Any = getattr(self, key)
        if key in ("uniform", "loguniform", "quniform", "randint") and bounds[0] >= bounds[1]:
            raise ValueError(f"{key}: low ({bounds[0]}) must be below high ({bounds[1]})")
        if key == "loguniform" and bounds[0] <= 0:
            raise ValueError("loguniform: low must be greater than 0")
        if key == "normal" and bounds[1] <= 0:
            raise ValueError("normal: sd must be greater than 0")
        return self

    def kind_and_args(self) -> tuple[str, list[Any]]:
        for key in type(self).model_fields:
            value = getattr(self, key)
            if value is not None:
                return key, list(value)
        raise AssertionError("validated to have one key")


class Scheduler(SpecModel):
    type: Literal["fifo", "asha"] = Field("fifo", description="Trial scheduler.")
    grace_period: int = Field(1, ge=1, description="ASHA: iterations before a trial may stop.")
    reduction_factor: float = Field(2.0, gt=1, description="ASHA: halving rate.")
    max_t: int = Field(100, ge=1, description="ASHA: most iterations a trial runs.")


class TuneSpec(SpecModel):
    metric: str = Field(min_length=1, description="Metric reported by trials to optimise.")
    mode: Literal["max", "min"] = Field(description="Maximise or minimise the metric.")
    num_samples: int = Field(8, ge=1, le=100_000, description="Number of trials.")
    max_concurrent_trials: int = Field(2, ge=1, le=1024, description="Trials run at once.")
    time_budget: Duration | None = Field(None, description="Stop tuning after this long.")
    scheduler: Scheduler = Field(default_factory=Scheduler, description="Trial scheduler.")
    search_space: dict[Identifier, Distribution] = Field(
        min_length=1, description="Hyperparameters to search, merged over train.config.")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description=(
        "Seed for sampling the search space: the same seed draws the same trials. "
        "Also passed to the entrypoint as config['seed'] unless train.config sets one."))
