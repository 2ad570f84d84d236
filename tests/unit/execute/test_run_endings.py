"""Every ending of a run is journaled as what it was (issue 18, item 1): a walk stopped by
Ctrl-C, SIGTERM, Ray's `sys.exit` on SIGTERM, or an error outside any stage is never
recorded `succeeded`. The runner is driven with stand-in executors, Ray and MLflow (unit
tests start neither)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lifecycle.errors import ExitCode
from lifecycle.execute import RunOptions
from lifecycle.execute.runner import run_plan
from lifecycle.execute.status import run_summaries, run_summary
from lifecycle.plan import Plan
from lifecycle.runtime.contract import RunStatus
from lifecycle.store import Store, read_journal

from ...conftest import ROOT, compile_approved

# trained, not served: serving, the live-quality monitor and the SLOs (which read served
# traffic) removed, and approved for that
TRAIN_ONLY = ["~serve", "~monitors.2", "~slos", "~retirement"]


@pytest.fixture(scope="module")
def plan() -> Plan:
    return compile_approved(ROOT / "specs" / "fraud.yaml", TRAIN_ONLY)


class FakeTracking:
    instances: list[FakeTracking] = []
    fail_with: Exception | None = None

    def __init__(self, uri: str, *args: Any) -> None:
        if FakeTracking.fail_with is not None:
            raise FakeTracking.fail_with
        self.uri, self.parent_id, self.finished = uri, "parent", None
        self.stages: dict[str, str] = {}
        FakeTracking.instances.append(self)

    def set_dataset_digest(self, digest: str) -> None:
        pass

    def log_stage_metrics(self, *args: Any) -> None:
        pass

    def log_artifact(self, *args: Any) -> None:
        pass

    def end_stage(self, stage: str, status: str) -> None:
        self.stages[stage] = status

    def finish(self, status: RunStatus) -> None:
        self.finished = status


def _fakes(monkeypatch: pytest.MonkeyPatch, tune: Callable[[], dict[str, Any]]) -> None:
    outputs = {"data": {"digest": "d", "info": {}}, "tune": {"checkpoint": "c"},
               "evaluate": {"metrics": {"auc": 0.9}}, "register": {"version": "1"},
               "monitor": {"monitors": {}}}

    def executor(kind: str) -> Callable[[Any, Any], dict[str, Any]]:
        return lambda stage, ctx: tune() if kind == "tune" else outputs[kind]

    monkeypatch.setattr("lifecycle.execute.connection.start_local", lambda plan, options: "")
    monkeypatch.setattr("lifecycle.execute.executors.registry",
                        lambda: {k: executor(k) for k in outputs})
    monkeypatch.setattr("lifecycle.execute.tracking.Tracking", FakeTracking)
    FakeTracking.instances, FakeTracking.fail_with = [], None


def _options(tmp_path: Path) -> RunOptions:
    return RunOptions(project_root=ROOT, store=str(tmp_path / "store"),
                      tracking_uri="sqlite:///unused.db", run_id="run-1")


def _sigterm() -> dict[str, Any]:
    os.kill(os.getpid(), signal.SIGTERM)
    raise AssertionError("SIGTERM did not stop the stage")


def _raise(exc: BaseException) -> Callable[[], dict[str, Any]]:
    def stage() -> dict[str, Any]:
        raise exc
    return stage


@pytest.mark.parametrize(("tune", "status", "code"), [
    (_raise(KeyboardInterrupt()), RunStatus.INTERRUPTED, ExitCode.INTERRUPTED),
    (_sigterm, RunStatus.STOPPED, ExitCode.STOPPED),
    (_raise(SystemExit(15)), RunStatus.STOPPED, ExitCode.STOPPED),  # Ray's SIGTERM handler
], ids=["ctrl-c", "sigterm", "ray-sys-exit"])
def test_a_run_stopped_mid_stage_is_journaled_as_stopped_never_succeeded(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, plan: Plan,
        tune: Callable[[], dict[str, Any]], status: RunStatus, code: ExitCode) -> None:
    _fakes(monkeypatch, tune)
    previous = signal.getsignal(signal.SIGTERM)
    result = run_plan(plan, _options(tmp_path))
    assert signal.getsignal(signal.SIGTERM) is previous  # the run's handler is gone again
    assert (result.status, result.exit_code) == (status, code)
    assert [(s.stage, s.status) for s in result.stages] == [
        ("data", "succeeded"), ("tune", status.value), ("evaluate", "not_run"),
        ("register", "not_run"), ("monitor", "not_run")]
    events = list(read_journal(Store(str(tmp_path / "store")), "run-1"))
    assert events[-1]["event"] == "run_finished"
    assert (events[-1]["status"], events[-1]["exit_code"]) == (status.value, int(code))
    assert events[-2] == {**events[-2], "event": f"stage_{status.value}", "stage": "tune"}
    [summary] = run_summaries(Store(str(tmp_path / "store")))
    assert summary["status"] == status.value
    assert summary["stages"]["tune"]["status"] == status.value
    assert FakeTracking.instances[0].finished == status  # MLflow: KILLED, not FINISHED


def test_an_error_outside_any_stage_is_a_failed_run(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path, plan: Plan) -> None:
    _fakes(monkeypatch, lambda: {"checkpoint": "c"})
    FakeTracking.fail_with = RuntimeError("MLflow is unreachable")
    result = run_plan(plan, _options(tmp_path))
    assert (result.status, result.exit_code) == (RunStatus.FAILED, ExitCode.RUNTIME)
    assert result.message == "RuntimeError: MLflow is unreachable"
    events = list(read_journal(Store(str(tmp_path / "store")), "run-1"))
    assert [e["event"] for e in events][-2:] == ["run_error", "run_finished"]
    assert events[-1]["status"] == "failed" and events[-1]["exit_code"] == 3


def test_a_completed_walk_is_succeeded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                       plan: Plan) -> None:
    _fakes(monkeypatch, lambda: {"checkpoint": "c"})
    result = run_plan(plan, _options(tmp_path))
    assert (result.status, result.exit_code) == (RunStatus.SUCCEEDED, ExitCode.OK)
    [summary] = run_summaries(Store(str(tmp_path / "store")))
    assert summary["status"] == "succeeded" and summary["source"]["git_commit"]


def _journal(*events: dict[str, Any], pid: int = 1 << 30) -> list[dict[str, Any]]:
    start = {"event": "run_started", "time": "2026-11-22T00:00:00", "spec": "s", "pid": pid,
             "host": __import__("socket").gethostname()}
    return [start, *events]


def test_status_never_shows_an_unfinished_walk_as_succeeded() -> None:
    """A journal from before endings were recorded: `succeeded` after a stage that
    never ended (a driver killed mid-tune) reads as incomplete."""
    records = _journal({"event": "stage_succeeded", "stage": "data"},
                       {"event": "stage_started", "stage": "tune"},
                       {"event": "run_finished", "status": "succeeded", "exit_code": 0})
    summary = run_summary("r", records)
    assert summary["status"] == "incomplete"
    assert summary["stages"]["tune"]["status"] == "incomplete"


def test_a_run_without_an_ending_is_running_while_its_process_lives() -> None:
    started = {"event": "stage_started", "stage": "tune"}
    assert run_summary("r", _journal(started, pid=os.getpid()))["status"] == "running"
    assert run_summary("r", _journal(started))["status"] == "incomplete"  # no such process


def test_a_driver_whose_working_dir_was_unpacked_again_goes_back_into_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, plan: Plan) -> None:
    """The job's folder deleted and unpacked again at the same path under the driver
    (another node's agent, one machine): its stages run in the new folder."""
    import shutil

    folder = tmp_path / "working_dir"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("PWD", str(folder))
    shutil.rmtree(folder)
    folder.mkdir()
    (folder / "marker").write_text("unpacked again")
    with pytest.raises(FileNotFoundError):
        os.getcwd()
    seen: list[str] = []

    def tune() -> dict[str, Any]:
        seen.append(os.getcwd())
        return {"checkpoint": "c"}

    _fakes(monkeypatch, tune)
    result = run_plan(plan, _options(tmp_path))
    assert result.exit_code == ExitCode.OK, result.message
    assert seen == [str(folder)] and Path("marker").read_text() == "unpacked again"


def test_a_stale_pwd_never_moves_the_driver(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    """PWD naming another folder (a process started without a shell): the driver stays
    where it is rather than move somewhere unrelated."""
    import shutil

    from lifecycle.execute.runner import back_in_working_dir

    folder, elsewhere = tmp_path / "working_dir", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("PWD", str(elsewhere))
    shutil.rmtree(folder)
    back_in_working_dir()
    with pytest.raises(FileNotFoundError):
        os.getcwd()
