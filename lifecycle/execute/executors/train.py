"""train: the user's entrypoint on Ray Train (TorchTrainer with DDP, the XGBoost and
LightGBM trainers, or one worker for scikit-learn)."""

from __future__ import annotations

import os
from typing import Any

from ...errors import ExitCode
from ...plan import TrainParams, TrainStage
from ..context import StageContext, StageFailed
from ..datasets import ray_datasets
from ..progress import train_progress


def check_entrypoint(entrypoint: str) -> None:
    from ...runtime.entrypoint import EntrypointError, resolve

    try:
        resolve(entrypoint)
    except EntrypointError as exc:
        raise StageFailed(f"train.entrypoint '{entrypoint}': {exc}", ExitCode.INVALID_INPUT,
                          hint="the module must be importable from the project root "
                          "(the folder you run lifecycle in)") from None


def check_gpus(params: TrainParams, parallel: int = 1) -> None:
    if not params.use_gpu:
        return
    import ray

    need = params.num_workers * params.gpus_per_worker
    have = float(ray.cluster_resources().get("GPU", 0.0))
    if need > have:
        raise StageFailed(f"the plan needs {need:g} GPU(s) per training run "
                          f"({params.num_workers} workers x {params.gpus_per_worker:g}); the "
                          f"cluster has {have:g}", ExitCode.RUNTIME,
                          hint="lower train.scaling.num_workers or gpus_per_worker, or run on "
                          "a cluster with more GPUs (--address)")


def loop_config(params: TrainParams, data_out: dict[str, Any],
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = dict(params.config)
    config.update(extra or {})
    config["lifecycle"] = {**data_out["info"], "entrypoint": params.entrypoint}
    return config


def make_trainer(params: TrainParams, config: Any, datasets: dict[str, Any],
                 run_config: Any) -> Any:
    from ray.train import ScalingConfig

    from ...runtime.entrypoint import run_train_loop

    resources: dict[str, float] = {"CPU": params.cpus_per_worker,
                                   **params.resources_per_worker}
    if params.use_gpu:
        resources["GPU"] = params.gpus_per_worker
    scaling = ScalingConfig(num_workers=params.num_workers, use_gpu=params.use_gpu,
                            resources_per_worker=resources)
    common = dict(train_loop_per_worker=run_train_loop, train_loop_config=config,
                  scaling_config=scaling, run_config=run_config, datasets=datasets)
    if params.framework == "torch":
        from ray.train.torch import TorchConfig, TorchTrainer

        backend = os.environ.get("LIFECYCLE_TORCH_BACKEND") or (
            "nccl" if params.use_gpu else "gloo")
        return TorchTrainer(torch_config=TorchConfig(backend=backend), **common)
    if params.framework in ("xgboost", "lightgbm"):
        try:
            if params.framework == "xgboost":
                from ray.train.xgboost import XGBoostTrainer as Trainer
            else:
                from ray.train.lightgbm import LightGBMTrainer as Trainer  # type: ignore[assignment]
        except ImportError:
            raise StageFailed(f"framework '{params.framework}' needs the {params.framework} "
                              "package", ExitCode.INVALID_INPUT,
                              hint=f"pip install {params.framework}") from None
        return Trainer(**common)
    from ray.train.v2.api.data_parallel_trainer import DataParallelTrainer

    return DataParallelTrainer(**common)


def run_config(params: TrainParams, storage: tuple[str, Any], name: str,
               callbacks: list[Any] | None = None) -> Any:
    """`storage`: the store's `ray_storage()` (a path, and the filesystem of a remote
    store: checkpoints land in the store, where every node can read them)."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig

    ck = params.checkpointing
    storage_path, filesystem = storage
    return RunConfig(
        name=name, storage_path=storage_path, storage_filesystem=filesystem,
        failure_config=FailureConfig(max_failures=params.max_failures),
        checkpoint_config=CheckpointConfig(
            num_to_keep=ck.num_to_keep, checkpoint_score_attribute=ck.score_metric,
            checkpoint_score_order=ck.score_mode),
        callbacks=callbacks or None)


def run(stage: TrainStage, ctx: StageContext) -> dict[str, Any]:
    params = stage.train
    check_entrypoint(params.entrypoint)
    check_gpus(params)
    data_out = ctx.upstream["data"]
    try:
        with train_progress(ctx.store, ctx.run_id, stage.id, params, ctx.emit) as reports:
            trainer = make_trainer(params, loop_config(params, data_out),
                                   ray_datasets(data_out, ctx.root),
                                   run_config(params, ctx.store.ray_storage("ray"),
                                              f"{ctx.run_id}-train", [reports]))
            result = trainer.fit()
    except Exception as exc:
        raise StageFailed(f"training failed: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}", ExitCode.RUNTIME,
                          hint="see the worker logs above; LIFECYCLE_FULL_ERROR=1 for the "
                          "traceback") from exc
    if result.checkpoint is None:
        raise StageFailed("training reported no checkpoint", ExitCode.RUNTIME,
                          hint="call ray.train.report(metrics, checkpoint=...) from rank 0")
    metrics = {k: v for k, v in (result.metrics or {}).items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return {"checkpoint": result.checkpoint.path, "metrics": metrics,
            "checkpoint_fs": "local" if ctx.store.is_local else ctx.store.uri}
