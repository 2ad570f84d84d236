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
