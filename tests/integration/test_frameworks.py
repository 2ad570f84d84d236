"""The scikit-learn path (one Ray Train worker) with CSV data: the low-risk batch example."""

from __future__ import annotations

from typing import Any

import pytest

from examples.demand.make_data import write
from lifecycle.api import compile_spec
from lifecycle.errors import ExitCode
from lifecycle.execute.runner import run_plan

from ..conftest import ROOT

pytestmark = pytest.mark.integration


def test_sklearn_batch_model_on_csv(ray_session: str, data_dir: str, run_options: Any) -> None:
    write(ROOT / data_dir, rows=1500)
    plan = compile_spec(ROOT / "specs" / "demand-batch.yaml", [
        f"data.train.path={data_dir}/train.csv", f"data.eval.path={data_dir}/eval.csv",
        "train.config.n_estimators=30"])
    result = run_plan(plan, run_options)
    assert result.exit_code == ExitCode.OK, result.message
    assert [s.status for s in result.stages] == ["succeeded"] * 4
    evaluate = result.outcome("evaluate")
    assert evaluate is not None and evaluate.outputs["metrics"]["rmse"] < 25
    assert result.outcome("register").outputs["model"] == "demand-forecast"  # type: ignore[union-attr]


def _churn(data_dir: str, *overrides: str) -> Any:
    from examples.churn.make_data import write as write_churn

    write_churn(ROOT / data_dir, rows=4000)
    return compile_spec(ROOT / "specs" / "churn-service.yaml", [
        f"data.train.path={data_dir}/train.parquet", f"data.eval.path={data_dir}/eval.parquet",
        "~serve", "~monitors", "~slos", "train.scaling.cpus_per_worker=0.5", *overrides])


def _booster_run(plan: Any, run_options: Any, framework: str) -> dict[str, Any]:
    result = run_plan(plan, run_options)
    assert result.exit_code == ExitCode.OK, result.message
    assert [s.stage for s in result.stages] == ["data", "train", "evaluate", "register"]
    assert all(s.status == "succeeded" for s in result.stages)
    print(framework, {s.stage: round(s.seconds, 1) for s in result.stages})
    train = result.outcome("train")
    assert train is not None and train.outputs["metrics"]["val_auc"] > 0.75
    evaluate = result.outcome("evaluate")
    assert evaluate is not None and evaluate.outputs["metrics"]["auc"] > 0.75
    register = result.outcome("register")
    assert register is not None and register.outputs["model"] == "churn-score"
    # the registered model scores through MLflow's pyfunc (what a Serve replica loads)
    import mlflow
    import pandas as pd

    model = mlflow.pyfunc.load_model(f"models:/churn-score/{register.outputs['version']}")
    rows = pd.DataFrame([{"tenure_months": 2, "monthly_spend": 30.0, "support_tickets": 4,
                          "plan": "basic"},
                         {"tenure_months": 70, "monthly_spend": 90.0, "support_tickets": 0,
                          "plan": "pro"}])
    scores = list(model.predict(rows))
    assert 0 <= scores[1] < scores[0] <= 1, (framework, scores)
    return train.outputs


def test_xgboost_on_two_workers_survives_a_killed_worker(ray_session: str, data_dir: str,
                                                         run_options: Any) -> None:
    import mlflow

    mlflow.set_tracking_uri(run_options.tracking_uri)
    marker = ROOT / data_dir / "crashed"
    plan = _churn(data_dir, "train.config.num_boost_round=60", "+train.config.checkpoint_every=10",
                  f"+train.config.fault_injection={{round: 25, marker: '{marker}'}}")
    assert plan.stage("train").train.framework == "xgboost"  # type: ignore[union-attr]
    assert plan.stage("train").train.num_workers == 2  # type: ignore[union-attr]
    outputs = _booster_run(plan, run_options, "xgboost")
    assert marker.exists(), "the fault was never injected: the test proves nothing"
    # the restarted workers went on from a checkpoint (round 10 or 20: the last one Ray
    # Train had registered when the worker died), not from scratch
    assert outputs["metrics"]["rounds"] == 60 and outputs["metrics"]["resumed_from"] in (10, 20)


def test_lightgbm_on_two_workers(ray_session: str, data_dir: str, run_options: Any) -> None:
    import mlflow

    mlflow.set_tracking_uri(run_options.tracking_uri)
    plan = _churn(data_dir, "train=lightgbm", "train.entrypoint=examples.churn.model:train_lgbm",
                  "train.config.num_boost_round=60")
    assert plan.stage("train").train.framework == "lightgbm"  # type: ignore[union-attr]
    outputs = _booster_run(plan, run_options, "lightgbm")
    assert outputs["metrics"]["rounds"] == 60 and outputs["metrics"]["resumed_from"] == 0
