"""The fraud example's data -> tune (Ray Train in Ray Tune) written by hand against Ray,
without lifecycle: the baseline for benchmarks/run_overhead.py. Same data, same model
code, same trials, same resources."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--num-samples", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--storage", default="/tmp/handwritten-fraud")
    args = ap.parse_args()
    t0 = time.perf_counter()
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    import ray
    from ray import tune
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    ray.init(address="local", num_cpus=max(os.cpu_count() or 1, 4) + 2, include_dashboard=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT),
                                       "RAY_DATA_DISABLE_PROGRESS_BARS": "1"}})
    train = pq.read_table(ROOT / "examples/fraud/data/train.parquet")
    evaluation = pq.read_table(ROOT / "examples/fraud/data/eval.parquet")
    numeric = ["amount", "merchant_risk", "hour", "account_age_days"]
    info = {"label": "is_fraud",
            "features": {"amount": "float", "merchant_risk": "float", "hour": "int",
                         "account_age_days": "int", "channel": "category"},
            "categories": {"channel": ["web", "pos", "app"]},
            "stats": {n: {"mean": pc.mean(train[n]).as_py(),
                          "std": pc.stddev(pc.cast(train[n], "double")).as_py()}
                      for n in numeric}}
    datasets = {"train": ray.data.from_arrow(train), "eval": ray.data.from_arrow(evaluation)}
    from examples.fraud.model import train_loop

    base = {"lr": 0.003, "epochs": args.epochs, "hidden": 32, "batch_size": 256,
            "seed": 7, "lifecycle": info}

    def trial(config: dict) -> None:
        trainer = TorchTrainer(
            train_loop, train_loop_config={**base, **config},
            torch_config=TorchConfig(backend="gloo"),
            scaling_config=ScalingConfig(num_workers=2, resources_per_worker={"CPU": 1}),
            run_config=RunConfig(name=f"hw-{tune.get_context().get_trial_id()}",
                                 storage_path=args.storage,
                                 failure_config=FailureConfig(max_failures=1),
                                 checkpoint_config=CheckpointConfig(num_to_keep=2),
                                 callbacks=[TuneReportCallback()]),
            datasets=datasets)
        trainer.fit()

    tuner = tune.Tuner(
        tune.with_resources(trial, {"cpu": 0.1}),
        param_space={"lr": tune.loguniform(0.002, 0.02), "hidden": tune.choice([32, 64])},
        tune_config=tune.TuneConfig(metric="val_auc", mode="max", num_samples=args.num_samples,
                                    max_concurrent_trials=2, time_budget_s=1200,
                                    search_alg=BasicVariantGenerator(random_state=7,
                                                                     max_concurrent=2),
                                    scheduler=ASHAScheduler(max_t=args.epochs, grace_period=1)),
        run_config=tune.RunConfig(name="hw-tune", storage_path=args.storage))
    best = tuner.fit().get_best_result("val_auc", "max", scope="all")
    ray.shutdown()
    print(json.dumps({"seconds": time.perf_counter() - t0,
                      "val_auc": best.metrics.get("val_auc"), "best_config": best.config}))


if __name__ == "__main__":
    main()
