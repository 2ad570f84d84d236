"""`run --address` as the client sees it, against a stand-in Jobs API: the client's git
commit travels with the plan (item 4), Ctrl-C or SIGTERM stops the job (item 7), and a
job whose driver was killed before it could journal an ending gets that ending recorded
(item 1)."""

from __future__ import annotations

import json
import os
import shlex
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from lifecycle.errors import ExitCode
from lifecycle.execute import RunOptions
from lifecycle.execute.card import model_card
from lifecycle.execute.connection import submit_job
from lifecycle.execute.provenance import git_source
from lifecycle.execute.status import run_summaries
from lifecycle.execute.tracking import lineage_tags
from lifecycle.plan import Plan
from lifecycle.runtime.contract import JOB_ENV, SOURCE_ENV, JobRef, Source
from lifecycle.store import Journal, Store, read_journal

from ...conftest import ROOT, compile_approved
from .test_run_endings import TRAIN_ONLY


@pytest.fixture(scope="module")
def plan() -> Plan:
    return compile_approved(ROOT / "specs" / "fraud.yaml", TRAIN_ONLY)


class FakeJobs:
    """A Jobs API: records what was submitted; `during_logs` runs while logs stream."""

    def __init__(self, status: str = "SUCCEEDED", message: str = "",
                 during_logs: Callable[[], None] | None = None) -> None:
        self.submitted: dict[str, Any] = {}
        self.stopped: list[str] = []
        self.status, self.message, self.during_logs = status, message, during_logs

    def submit_job(self, entrypoint: str, runtime_env: dict[str, Any],
                   submission_id: str | None) -> str:
        self.submitted = {"entrypoint": entrypoint, "runtime_env": runtime_env,
                          "submission_id": submission_id}
        return str(submission_id)

    async def tail_job_logs(self, job_id: str) -> AsyncIterator[str]:
        yield "a line of the job's output\n"
        if self.during_logs is not None:
            self.during_logs()

    def get_job_status(self, job_id: str) -> str:
        return self.status

    def get_job_info(self, job_id: str) -> Any:
        return type("Info", (), {"message": self.message})()

    def stop_job(self, job_id: str) -> bool:
        self.stopped.append(job_id)
        self.status = "STOPPED"
        return True


def _submit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, plan: Plan,
            jobs: FakeJobs) -> tuple[ExitCode, list[str]]:
    monkeypatch.setattr("lifecycle.execute.cluster.jobs_client", lambda address: jobs)
    options = RunOptions(project_root=ROOT, store=str(tmp_path / "store"),
                         tracking_uri="sqlite:///x.db", address="http://head:8265",
                         run_id="r1", spec_path="specs/fraud.yaml")
    lines: list[str] = []
    return submit_job(plan, options, lines.append), lines


def test_the_clients_git_commit_and_run_id_travel_with_the_job(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, plan: Plan) -> None:
    jobs = FakeJobs()
    code, lines = _submit(monkeypatch, tmp_path, plan, jobs)
    assert code == ExitCode.OK
    env = jobs.submitted["runtime_env"]["env_vars"]
    source = Source.model_validate_json(env[SOURCE_ENV])
    assert source == git_source(str(ROOT)) and source.git_commit  # the job has no .git
    assert JobRef.model_validate_json(env[JOB_ENV]) == JobRef(id="lifecycle-r1",
                                                             address="http://head:8265")
    argv = shlex.split(jobs.submitted["entrypoint"])
    assert argv[argv.index("--run-id") + 1] == "r1"
    assert jobs.submitted["submission_id"] == "lifecycle-r1"
    assert lines[0] == ("submitted Ray Job lifecycle-r1 to http://head:8265 as run r1 "
                        "(`lifecycle stop r1` stops it)")


def test_the_commit_tags_runs_versions_and_the_model_card(plan: Plan) -> None:
    tags = lineage_tags(plan, "r1", "specs/fraud.yaml",
                        Source(git_commit="abc123", git_dirty=True))
    assert (tags["git_commit"], tags["git_dirty"]) == ("abc123", "true")
    card = model_card(plan, {}, tags)
    assert "| git commit | `abc123` (with uncommitted changes) |" in card


def test_run_plan_in_a_job_takes_its_source_from_the_client(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SOURCE_ENV, Source(git_commit="abc123", git_dirty=False)
                       .model_dump_json())
    options = RunOptions(project_root=Path("/nonexistent"),
                         source=RunOptions.source_from_env())
    assert options.resolved_source() == Source(git_commit="abc123", git_dirty=False)


@pytest.mark.parametrize("stop", [
    lambda: (_ for _ in ()).throw(KeyboardInterrupt()),
    lambda: os.kill(os.getpid(), signal.SIGTERM),
], ids=["ctrl-c", "sigterm"])
def test_stopping_the_client_stops_the_job(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           plan: Plan, stop: Callable[[], None]) -> None:
    jobs = FakeJobs(status="RUNNING", during_logs=stop)
    code, lines = _submit(monkeypatch, tmp_path, plan, jobs)
    assert jobs.stopped == ["lifecycle-r1"]
    assert code == ExitCode.STOPPED
    assert any("stopping Ray Job lifecycle-r1" in line for line in lines)


def test_a_job_that_failed_without_an_ending_is_recorded_failed(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, plan: Plan) -> None:
    """The driver was killed mid-tune (SIGKILL, its node lost): it journaled no ending;
    the job ended FAILED, and the client records that — never `succeeded`."""
    store = Store(str(tmp_path / "store"))
    journal = Journal(store, "r1")
    journal.append("run_started", spec=plan.name, pid=1 << 30, host="a-cluster-node")
    journal.append("stage_started", stage="tune")
    jobs = FakeJobs(status="FAILED", message="Job entrypoint command failed with exit "
                    "code -9")
    code, _ = _submit(monkeypatch, tmp_path, plan, jobs)
    assert code == ExitCode.RUNTIME
    end = list(read_journal(store, "r1"))[-1]
    assert (end["event"], end["status"], end["exit_code"]) == ("run_finished", "failed", 3)
    assert end["message"] == ("its Ray Job lifecycle-r1 ended FAILED: Job entrypoint "
                              "command failed with exit code -9")
    [summary] = run_summaries(store)
    assert summary["status"] == "failed" and summary["stages"]["tune"]["status"] == "failed"
    json.dumps(summary)


@pytest.mark.parametrize(("message", "code"), [
    ("Job entrypoint command failed with exit code 1", ExitCode.POLICY),
    ("Job entrypoint command failed with exit code 2", ExitCode.INVALID_INPUT),
    ("Job entrypoint command failed with exit code 137", ExitCode.RUNTIME),  # SIGKILLed
    ("Job entrypoint command failed with exit code -9", ExitCode.RUNTIME),
    ("Job entrypoint command failed with exit code 143", ExitCode.STOPPED),
    ("the node died", ExitCode.RUNTIME),
])
def test_a_failed_jobs_exit_code_is_read_whole(message: str, code: ExitCode) -> None:
    """'exit code 137' once read as exit code 1 (a failed gate) by a substring match."""
    from lifecycle.execute.connection import exit_code_of

    assert exit_code_of(message) == code


@pytest.mark.parametrize(("address", "submits"), [
    ("http://head:8265", True), ("https://head", True), ("ray://head:10001", True),
    ("auto", False), ("head:6379", False)])
def test_only_a_dashboard_url_submits_a_job(address: str, submits: bool) -> None:
    """`RAY_ADDRESS=auto`, which the runner itself recommends for serving that outlives
    the command, once went to the Jobs client as http://auto: an internal error."""
    assert RunOptions(address=address).submits_job is submits


def test_a_retrain_carries_the_deploying_runs_commit(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path, plan: Plan) -> None:
    """A monitor's retrain reruns the package the deploying run uploaded: its commit is
    that run's, not whatever the cluster node's folder says."""
    import ray.job_submission

    from lifecycle.runtime.contract import RetrainConfig, RetrainRequest
    from lifecycle.runtime.monitor import retrain

    jobs = FakeJobs()
    monkeypatch.setattr(retrain, "jobs_address", lambda: "http://head:8265")
    monkeypatch.setattr(ray.job_submission, "JobSubmissionClient", lambda address: jobs)
    store = Store(str(tmp_path))
    store.write_json("runs/r0/plan.json", plan.model_dump(mode="json"))
    source = Source(git_commit="abc123", git_dirty=False)
    config = RetrainConfig(plan="runs/r0/plan.json", store=store.uri, tracking_uri=None,
                           spec_path="specs/fraud.yaml", project="gcs://_ray_pkg_1.zip",
                           project_is_local=False, source=source)
    retrain.start(config, RetrainRequest(run_id="r1", reason="drift", monitor="m"))
    env = jobs.submitted["runtime_env"]["env_vars"]
    assert Source.model_validate_json(env[SOURCE_ENV]) == source
    assert JobRef.model_validate_json(env[JOB_ENV]).id == "lifecycle-retrain-r1"
