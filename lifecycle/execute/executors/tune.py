"""tune: Ray Tune trials, each a Ray Train run of the same entrypoint; the best trial's
checkpoint becomes the candidate. Saves the results table and a metric-vs-trial chart."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from ...errors import ExitCode
from ...plan import TuneStage
from ..context import StageContext, StageFailed
from ..datasets import ray_datasets
from ..progress import sink, tune_callback
from .train import check_entrypoint, check_gpus, loop_config, make_trainer, run_config


def _distribution(kind: str, args: list[Any]) -> Any:
    from ray import tune

    return {"uniform": lambda: tune.uniform(*args), "loguniform": lambda: tune.loguniform(*args),
            "quniform": lambda: tune.quniform(*args), "randint": lambda: tune.randint(*args),
            "choice": lambda: tune.choice(args), "grid": lambda: tune.grid_search(args),
            "normal": lambda: tune.randn(*args)}[kind]()


def run(stage: TuneStage, ctx: StageContext) -> dict[str, Any]:
    from ray import tune
    from ray.tune.integration.ray_train import TuneReportCallback
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    params = stage.train
    check_entrypoint(params.entrypoint)
    check_gpus(params)
    data_out = ctx.upstream["data"]
    datasets = ray_datasets(data_out, ctx.root)
    base = loop_config(params, data_out)
    if stage.seed is not None:
        base.setdefault("seed", stage.seed)
    run_id = ctx.run_id
    storage = ctx.store.ray_storage("ray")

    def trial(config: dict[str, Any]) -> None:  # shipped to Ray: captures plain values only
        merged = {**base, **config}
        name = f"{run_id}-trial-{tune.get_context().get_trial_id()}"
        trainer = make_trainer(params, merged, datasets,
                               run_config(params, storage, name, [TuneReportCallback()]))
        trainer.fit()

    sched = stage.scheduler
    scheduler = (ASHAScheduler(max_t=sched.max_t, grace_period=sched.grace_period,
                               reduction_factor=sched.reduction_factor,
                               time_attr="training_iteration")
                 if sched.type == "asha" else FIFOScheduler())
    with sink(ctx.emit) as key:  # trials as they finish, for the person watching
        tuner = tune.Tuner(
            tune.with_resources(trial, {"cpu": 0.1}),
            param_space={p.name: _distribution(p.distribution, list(p.args))
                         for p in stage.search_space},
            tune_config=tune.TuneConfig(metric=stage.metric, mode=stage.mode,
                                        num_samples=stage.num_samples,
                                        max_concurrent_trials=stage.max_concurrent_trials,
                                        scheduler=scheduler, time_budget_s=stage.time_budget_s,
                                        # an explicit search_alg ignores max_concurrent_trials
                                        search_alg=BasicVariantGenerator(
                                            random_state=stage.seed,
                                            max_concurrent=stage.max_concurrent_trials)),
            run_config=tune.RunConfig(
                name=f"{run_id}-tune", storage_path=storage[0], storage_filesystem=storage[1],
                callbacks=[tune_callback(key, stage.id, stage.metric, stage.mode,
                                         stage.num_samples)]),
        )
        try:
            results = tuner.fit()
        except Exception as exc:
            raise StageFailed(f"tuning failed: {type(exc).__name__}: {exc}",
                              ExitCode.RUNTIME) from exc
    try:
        best = results.get_best_result(stage.metric, stage.mode, scope="all")
    except Exception as exc:
        raise StageFailed(f"no trial reported '{stage.metric}'", ExitCode.RUNTIME,
                          hint="report the tune metric with ray.train.report") from exc
    # Train-in-Tune passes the Train run's checkpoint path as a metric
    checkpoint = (best.metrics or {}).get("checkpoint_path") or (
        best.checkpoint.path if best.checkpoint is not None else None)
    if checkpoint is None:
        raise StageFailed("the best trial reported no checkpoint", ExitCode.RUNTIME,
                          hint="call ray.train.report(metrics, checkpoint=...) from rank 0")
    artifacts = _save_results(results, stage, ctx)
    from ray.tune.result import AUTO_RESULT_KEYS

    return {"checkpoint": checkpoint,  # the entrypoint's metrics, not Tune's bookkeeping
            "metrics": {k: v for k, v in (best.metrics or {}).items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)
                        and k not in AUTO_RESULT_KEYS},
            "best_config": {k: v for k, v in (best.config or {}).items()},
            "trials": len(results), "errors": len(results.errors), "artifacts": artifacts}


def _save_results(results: Any, stage: TuneStage, ctx: StageContext) -> dict[str, str]:
    """The results table and chart: in the store's run folder (written locally first on
    a remote store, then copied there), and logged to the tune stage's MLflow run."""
    folder = ctx.artifacts_dir("tune") if ctx.store.is_local else tempfile.mkdtemp()
    os.makedirs(folder, exist_ok=True)
    frame = results.get_dataframe()
    table = os.path.join(folder, "tune_results.csv")
    frame.to_csv(table, index=False)
    out = {"results_table": table}
    if stage.metric in frame.columns:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.bar(range(len(frame)), frame[stage.metric].fillna(0).to_numpy())
        ax.set_xlabel("trial")
        ax.set_ylabel(stage.metric)
        ax.set_title(f"{stage.metric} per trial ({stage.mode})")
        fig.tight_layout()
        png = os.path.join(folder, "tune_metric.png")
        fig.savefig(png)
        plt.close(fig)
        out["chart"] = png
    if not ctx.store.is_local:
        ctx.store.upload_dir(folder, f"runs/{ctx.run_id}/artifacts/tune")
    return out
