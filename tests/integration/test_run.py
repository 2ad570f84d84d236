"""`lifecycle run` on real Ray (Train, Tune, Data), a real MLflow sqlite store and real
Parquet files: the example end to end, resumption after a killed driver, a killed
training worker, and the three ways a run must stop cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from examples.fraud.make_data import make, write
from lifecycle.errors import ExitCode
from lifecycle.execute.runner import run_plan
from lifecycle.store import Store, read_journal

from ..conftest import ROOT, approved_copy, compile_approved

pytestmark = pytest.mark.integration
FRAUD = ROOT / "specs" / "fraud.yaml"
# these tests are about training and registration: serving is tested in test_serve.py
SMALL = ["train.config.epochs=3", "train.config.hidden=16", "train.config.lr=0.02",
         "train.config.batch_size=64", "~serve",
         "~monitors.2", "~slos"]  # live-quality and SLOs read served traffic
TRAIN_ONLY = SMALL + ["~tune"]


def _data(rel: str, rows: int = 4000) -> list[str]:
    write(ROOT / rel, rows=rows)
    return [f"data.train.path={rel}/train.parquet", f"data.eval.path={rel}/eval.parquet"]


def _events(options: Any, run_id: str) -> list[dict[str, Any]]:
    return list(read_journal(Store(options.resolved_store()), run_id))


def _client(options: Any) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(options.resolved_tracking_uri())


def test_example_trains_tunes_evaluates_and_registers(ray_session: str, data_dir: str,
                                                      run_options: Any) -> None:
    plan = compile_approved(FRAUD, _data(data_dir, 4000) + SMALL + [
        "tune.num_samples=2", "tune.max_concurrent_trials=2",
        "tune.search_space.lr.loguniform=[0.015,0.03]"])
    shown: list[tuple[str, dict[str, Any]]] = []
    result = run_plan(plan, run_options, lambda event, fields: shown.append((event, fields)))
    assert result.exit_code == ExitCode.OK, result.message
    trials = [f for e, f in shown if e == "progress" and f["stage"] == "tune"]
    assert trials[-1]["done"] == trials[-1]["total"] == 2  # the live bar of trials
    assert [(s.stage, s.status) for s in result.stages][:4] == [
        ("data", "succeeded"), ("tune", "succeeded"), ("evaluate", "succeeded"),
        ("register", "succeeded")]
    tune = result.outcome("tune")
    assert tune is not None and tune.outputs["trials"] == 2
    assert os.path.exists(tune.outputs["artifacts"]["results_table"])
    assert os.path.exists(tune.outputs["artifacts"]["chart"])
    evaluate = result.outcome("evaluate")
    assert evaluate is not None and evaluate.outputs["metrics"]["auc"] > 0.8
    client = _client(run_options)
    version = client.get_model_version_by_alias("fraud-detector", "challenger")
    assert version.tags["lifecycle.plan_hash"] == plan.plan_hash
    assert version.tags["lifecycle.dataset_digest"] == result.outcome("data").outputs["digest"]
    assert version.tags["lifecycle.policy_bundle"].startswith("high@")
    assert "alice@example.com" in version.tags["lifecycle.approvals"]
    assert version.tags["lifecycle.overrides"] == json.dumps(plan.overrides)[:5000]
    assert "| command-line overrides | " in version.description
    assert version.description.startswith("# Model card: fraud-detector")
    children = client.search_runs(
        [client.get_experiment_by_name("fraud-detector").experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.mlflow_run_id}'")
    assert {r.data.tags["lifecycle.stage"] for r in children} >= {"tune", "evaluate", "register"}
    artifacts = [a.path for a in client.list_artifacts(result.mlflow_run_id)]
    assert "model_card.md" in artifacts
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model("models:/fraud-detector@challenger")
    scores = model.predict(make(50, seed=3).to_pandas())
    assert len(scores) == 50 and ((0 <= scores) & (scores <= 1)).all()
    records = _events(run_options, result.run_id)
    events = [e["event"] for e in records]
    assert events[0] == "run_started" and events[-1] == "run_finished"
    assert records[0]["overrides"] == plan.overrides


def test_unchanged_stages_are_skipped_and_force_redoes_them(
        ray_session: str, data_dir: str, run_options: Any) -> None:
    plan = compile_approved(FRAUD, _data(data_dir) + TRAIN_ONLY)
    shown: list[tuple[str, dict[str, Any]]] = []
    first = run_plan(plan, run_options, lambda event, fields: shown.append((event, fields)))
    assert first.exit_code == ExitCode.OK, first.message
    epochs = [f for e, f in shown if e == "progress" and f["stage"] == "train"]
    assert epochs[-1]["done"] == epochs[-1]["total"] == 3  # the live bar of epochs
    second = run_plan(plan, run_options)
    assert [(s.stage, s.status) for s in second.stages][:4] == [
        ("data", "succeeded"), ("train", "skipped"), ("evaluate", "skipped"),
        ("register", "skipped")]
    run_options.force = True
    third = run_plan(plan, run_options)
    assert third.outcome("train").status == "succeeded"  # type: ignore[union-attr]


def test_killed_driver_resumes_without_redoing_finished_stages(
        ray_session: str, data_dir: str, tmp_path: Path) -> None:
    overrides = _data(data_dir) + TRAIN_ONLY
    store = tmp_path / "store"
    spec = approved_copy(FRAUD, tmp_path, overrides)
    cmd = [sys.executable, "-m", "lifecycle", "run", str(spec), *overrides,
           "--store", str(store), "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"]
    env = dict(os.environ, LIFECYCLE_RAY_ATTACH=ray_session, NO_COLOR="1")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 300
        killed_run = None
        while time.time() < deadline and killed_run is None:
            time.sleep(0.5)
            for run_id in Store(str(store)).list_dir("runs"):
                events = list(read_journal(Store(str(store)), run_id))
                if any(e["event"] == "stage_succeeded" and e["stage"] == "train"
                       for e in events):
                    killed_run = run_id
        assert killed_run is not None, "training never finished"
        os.killpg(proc.pid, signal.SIGKILL)  # mid-run: evaluate/register not done yet
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    runs = [r for r in Store(str(store)).list_dir("runs") if r != killed_run]
    events = list(read_journal(Store(str(store)), runs[-1]))
    started = {e["stage"] for e in events if e["event"] == "stage_started"}
    skipped = {e["stage"] for e in events if e["event"] == "stage_skipped"}
    assert "train" in skipped and "train" not in started
    # the killed run reads as what it was; Ray's output went to the rerun's log
    from lifecycle.execute.status import run_summaries

    status = {r["run_id"]: r["status"] for r in run_summaries(Store(str(store)))}
    assert status == {killed_run: "incomplete", runs[-1]: "succeeded"}
    assert len(again.stdout.splitlines()) < 40, again.stdout
    assert (store / "runs" / runs[-1] / "run.log").stat().st_size > 0


def test_contract_violation_stops_before_training(ray_session: str, data_dir: str,
                                                  run_options: Any) -> None:
    overrides = _data(data_dir)
    table = pq.read_table(ROOT / data_dir / "train.parquet")
    amounts = table.column("amount").to_pylist()
    amounts[:7] = [-1.0] * 7
    table = table.set_column(table.column_names.index("amount"), "amount",
                             pa.array(amounts, pa.float64()))
    pq.write_table(table, ROOT / data_dir / "train.parquet")
    result = run_plan(compile_approved(FRAUD, overrides + TRAIN_ONLY), run_options)
    assert result.exit_code == ExitCode.POLICY
    assert "column 'amount' breaks min 0: 7 row(s) are below 0" in result.message
    assert [s.status for s in result.stages][:3] == ["failed", "not_run", "not_run"]
    failed = [e for e in _events(run_options, result.run_id) if e["event"] == "stage_failed"]
    assert failed[0]["details"]["violations"][0]["offending"] == 7
    assert _client(run_options).search_registered_models() == []


def test_failing_gate_stops_before_registration(ray_session: str, data_dir: str,
                                                run_options: Any) -> None:
    plan = compile_approved(FRAUD, _data(data_dir) + TRAIN_ONLY + [
        "evaluate.gates=[{metric: auc, min: 0.999}]"])
    result = run_plan(plan, run_options)
    assert result.exit_code == ExitCode.POLICY
    assert "auc >= 0.999: value" in result.message and "bound 0.9990" in result.message
    assert result.outcome("register").status == "not_run"  # type: ignore[union-attr]
    assert _client(run_options).search_registered_models() == []
    events = _events(run_options, result.run_id)
    assert any(e["event"] == "stage_failed" and e["stage"] == "evaluate" for e in events)
    assert events[-1]["event"] == "run_finished" and events[-1]["exit_code"] == 1


def test_champion_gate_refuses_a_regression(ray_session: str, data_dir: str,
                                            run_options: Any) -> None:
    """A real champion (alias set in MLflow) scored on the same eval data: a worse
    candidate is refused with the champion's value and the bound, and not registered."""
    first = run_plan(compile_approved(FRAUD, _data(data_dir) + TRAIN_ONLY), run_options)
    assert first.exit_code == ExitCode.OK, first.message
    client = _client(run_options)
    v1 = client.get_model_version_by_alias("fraud-detector", "challenger")
    client.set_registered_model_alias("fraud-detector", "champion", v1.version)
    worse = compile_approved(FRAUD, _data(data_dir) + TRAIN_ONLY + [
        "train.config.epochs=1", "train.config.lr=0.00001",
        "evaluate.gates=[{metric: auc, vs: champion, max_regression: 0.005}]"])
    second = run_plan(worse, run_options)
    assert second.exit_code == ExitCode.POLICY, second.message
    evaluate = second.outcome("evaluate")
    assert evaluate is not None and evaluate.status == "failed"
    assert "auc >= champion - 0.005: value" in second.message
    events = [e for e in _events(run_options, second.run_id) if e["event"] == "stage_failed"]
    details = events[0]["details"]
    assert str(details["champion_version"]) == str(v1.version)
    assert details["champion_metrics"]["auc"] > details["metrics"]["auc"] + 0.005
    versions = client.search_model_versions("name='fraud-detector'")
    assert [str(v.version) for v in versions] == [str(v1.version)]  # nothing half-registered


def test_missing_entrypoint_stops_with_exit_2(ray_session: str, data_dir: str,
                                              run_options: Any) -> None:
    plan = compile_approved(FRAUD, _data(data_dir) + TRAIN_ONLY + [
        "train.entrypoint=examples.fraud.nothere:train_loop"])
    result = run_plan(plan, run_options)
    assert result.exit_code == ExitCode.INVALID_INPUT
    assert "cannot import module 'examples.fraud.nothere'" in result.message
    assert _client(run_options).search_registered_models() == []


def test_a_killed_training_worker_is_survived(ray_session: str, data_dir: str,
                                              run_options: Any, tmp_path: Path) -> None:
    marker = tmp_path / "crashed"
    plan = compile_approved(FRAUD, _data(data_dir) + TRAIN_ONLY + [
        "train.scaling.max_failures=1",
        f"+train.config.fault_injection={{epoch: 0, marker: '{marker}'}}"])
    result = run_plan(plan, run_options)
    assert marker.exists(), "the fault was never injected"
    assert result.exit_code == ExitCode.OK, result.message
    assert result.outcome("train").outputs["metrics"]["epoch"] == 2  # type: ignore[union-attr]


def test_more_gpus_than_the_cluster_has_fails_before_training(
        ray_session: str, data_dir: str, run_options: Any) -> None:
    plan = compile_approved(FRAUD, _data(data_dir) + TRAIN_ONLY + ["train.scaling.use_gpu=true"])
    t0 = time.perf_counter()
    result = run_plan(plan, run_options)
    assert result.exit_code == ExitCode.RUNTIME
    assert "needs 2 GPU(s) per training run (2 workers x 1); the cluster has 0" in result.message
    assert time.perf_counter() - t0 < 30


def test_status_lists_runs_and_stages(ray_session: str, data_dir: str,
                                      run_options: Any) -> None:
    from lifecycle.api import run_status

    plan = compile_approved(FRAUD, _data(data_dir) + TRAIN_ONLY + [
        "train.entrypoint=examples.fraud.nothere:train_loop"])
    result = run_plan(plan, run_options)
    [summary] = run_status(run_options)
    assert summary["run_id"] == result.run_id and summary["status"] == "failed"
    assert summary["stages"]["train"]["status"] == "failed"
    assert json.dumps(summary)
