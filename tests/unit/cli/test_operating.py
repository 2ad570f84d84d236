"""Commands around a run, without a cluster: the same store and registry as `run`
(issue 18, item 3), known cluster misconfigurations as clear errors (item 5), rollout
commands that change nothing exit non-zero with the next step (item 6), stopping a run
by id (item 7)."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lifecycle.cli.main import _locations, _options, _parser, main
from lifecycle.execute import RunOptions, serving
from lifecycle.runtime.contract import (
    CommandReply,
    ModelConfig,
    RolloutCommand,
    RolloutPhase,
    RolloutStatus,
    Slot,
    command_refusal,
)
from lifecycle.store import Journal, Store, read_journal

from ...conftest import ROOT

FRAUD = str(ROOT / "specs" / "fraud.yaml")


# --- item 3: one default store and registry ------------------------------------------

@pytest.mark.parametrize("argv", [
    ["status"], ["stop", "r1"], ["retire", FRAUD], ["monitor", "report", FRAUD],
    ["rollout", "simulate", FRAUD],
], ids=lambda a: " ".join(a[:2]).replace(FRAUD, "SPEC"))
def test_every_command_defaults_to_the_store_and_registry_run_uses(
        argv: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("LIFECYCLE_STORE", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    run = _options(_parser().parse_args(["run", FRAUD]))
    other = _locations(_parser().parse_args(argv))
    assert other.resolved_store() == run.resolved_store() == str(tmp_path / ".lifecycle")
    assert other.resolved_tracking_uri() == run.resolved_tracking_uri()
    given = _locations(_parser().parse_args([*argv, "--store", str(tmp_path / "s")]))
    assert given.resolved_store() == str(tmp_path / "s")


def test_retire_archives_in_the_registry_run_used(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    """`retire` with no options printed `versions archived: none`: it had no registry
    unless MLFLOW_TRACKING_URI was set, while `run` had used sqlite in the store."""
    monkeypatch.chdir(tmp_path)
    for var in ("LIFECYCLE_STORE", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    seen: dict[str, Any] = {}

    def fake_retire(application: str, model: str, explicit: str | None, default: Any,
                    archive: bool, drain_s: float, replaced_by: str | None = None
                    ) -> dict[str, Any]:
        seen["registry"] = serving.registry_of(explicit, {}, default)
        return {"application": application, "deleted": True,
                "archived_versions": ["3"], "drained": None}

    monkeypatch.setattr(serving, "attach", lambda address: None)
    monkeypatch.setattr(serving, "retire", fake_retire)
    assert main(["retire", FRAUD]) == 0
    assert seen["registry"] == f"sqlite:///{tmp_path}/.lifecycle/mlflow.db" == \
        RunOptions(project_root=tmp_path).resolved_tracking_uri()


def test_retire_prefers_the_registry_the_application_was_deployed_from() -> None:
    served = {Slot.STABLE: ModelConfig(model_uri="models:/m/1", slot=Slot.STABLE,
                                       version="1", tracking_uri="http://mlflow:5000")}
    assert serving.registry_of(None, served, lambda: "sqlite:///x") == "http://mlflow:5000"
    assert serving.registry_of("sqlite:///given", served, lambda: "x") == "sqlite:///given"


# --- item 5: misconfigured clusters ----------------------------------------------------

def _run_address(address: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("RAY_") and k != "LIFECYCLE_RAY_ATTACH"}
    clean.update(NO_COLOR="1", COLUMNS="200", HOME=str(tmp_path), **env)  # no token here
    return subprocess.run([sys.executable, "-m", "lifecycle", "run", FRAUD, "--address",
                           address, "--store", str(tmp_path / "store")], cwd=ROOT,
                          env=clean, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def dashboard() -> Iterator[str]:
    """A stand-in for a token-authenticated dashboard: 401 without a token, 403 with
    the wrong one (what Ray 2.60's middleware answers)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            token = self.headers.get("authorization")
            self.send_response(403 if token else 401)
            self.end_headers()
            self.wfile.write(b"Forbidden: Invalid authentication token" if token
                             else b"Unauthorized: Missing authentication token")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_a_cluster_that_wants_a_token_says_how_to_send_it(dashboard: str,
                                                          tmp_path: Path) -> None:
    r = _run_address(dashboard, tmp_path)
    assert r.returncode == 3, r.stderr
    assert "cluster.auth-missing" in r.stderr and "This is a bug" not in r.stderr
    assert f"the cluster at {dashboard} requires a Ray auth token and this client sent " \
           "none" in r.stderr
    assert "export RAY_AUTH_MODE=token" in r.stderr


def test_token_mode_without_a_token_says_where_to_put_it(tmp_path: Path) -> None:
    """What test_cluster.py met on a machine with no ~/.ray/auth_token: the client set
    RAY_AUTH_MODE=token and Ray found no token — once an internal error (exit 4)."""
    r = _run_address("http://127.0.0.1:9", tmp_path, RAY_AUTH_MODE="token")
    assert r.returncode == 3, r.stderr
    assert "cluster.auth-missing" in r.stderr
    assert "RAY_AUTH_MODE=token is set but no Ray auth token is in reach" in r.stderr
    assert "RAY_AUTH_TOKEN_PATH" in r.stderr and "unset RAY_AUTH_MODE" in r.stderr


def test_a_wrong_token_is_refused_by_name(dashboard: str, tmp_path: Path) -> None:
    r = _run_address(dashboard, tmp_path, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="wrong")
    assert r.returncode == 3 and "cluster.auth-rejected" in r.stderr, r.stderr


@pytest.mark.parametrize(("address", "code", "exit_code"), [
    ("http://127.0.0.1:9", "cluster.unreachable", 3),  # nothing listens on port 9
    ("ray://head:10001", "cluster.ray-client", 2),
])
def test_an_address_with_no_jobs_api_is_a_clear_error(
        address: str, code: str, exit_code: int, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--no-color", "run", FRAUD, "--address", address, "--store",
                 str(tmp_path)]) == exit_code
    assert code in capsys.readouterr().err


# --- item 6: rollout commands that change nothing ------------------------------------

@pytest.mark.parametrize(("phase", "command", "refusal"), [
    (RolloutPhase.PROMOTED, RolloutCommand.PROMOTE, "the rollout has ended (promoted)"),
    (RolloutPhase.ROLLED_BACK, RolloutCommand.RESUME, "the rollout has ended (rolled_back)"),
    (RolloutPhase.FAILED, RolloutCommand.ROLLBACK, "the rollout has ended (failed)"),
    (RolloutPhase.PAUSED, RolloutCommand.PAUSE, "the rollout is already paused"),
    (RolloutPhase.RUNNING, RolloutCommand.RESUME, "the rollout is not paused (running)"),
    (RolloutPhase.RUNNING, RolloutCommand.PAUSE, None),
    (RolloutPhase.BLOCKED, RolloutCommand.RESUME, None),
    (RolloutPhase.PAUSED, RolloutCommand.PROMOTE, None),
])
def test_a_command_is_refused_exactly_when_it_would_change_nothing(
        phase: RolloutPhase, command: RolloutCommand, refusal: str | None) -> None:
    assert command_refusal(phase, command) == refusal


class FakeController:
    def __init__(self, phase: RolloutPhase) -> None:
        self.phase = phase
        self.send = self
        self.status = SimpleNamespace(remote=lambda: RolloutStatus(  # a candidate left
            application="fraud-detector", strategy="canary", phase=phase, step=0,
            versions={Slot.STABLE: "1", Slot.CANDIDATE: "2"}))

    def remote(self, command: str) -> CommandReply:
        refusal = command_refusal(self.phase, RolloutCommand(command))
        return CommandReply(accepted=refusal is None, phase=self.phase,
                            message=refusal or f"{command} requested")


@pytest.mark.parametrize(("phase", "command", "code", "hint"), [
    (RolloutPhase.PROMOTED, "rollback", "rollout.refused", f"`lifecycle run {FRAUD}`"),
    # refused as ended, never first sent to the registry for the candidate's approvals
    (RolloutPhase.ROLLED_BACK, "promote", "rollout.refused", f"`lifecycle run {FRAUD}`"),
    (RolloutPhase.PAUSED, "pause", "rollout.refused", f"`lifecycle resume {FRAUD}`"),
    (None, "promote", "rollout.none", f"`lifecycle run {FRAUD}` registers one"),
])
def test_an_operator_command_that_did_nothing_exits_3_with_the_next_step(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        phase: RolloutPhase | None, command: str, code: str, hint: str) -> None:
    import ray

    from lifecycle.runtime.rollout import controller

    monkeypatch.setattr(serving, "attach", lambda address: None)
    monkeypatch.setattr(controller, "find",
                        lambda app: None if phase is None else FakeController(phase))
    monkeypatch.setattr(ray, "get", lambda ref, timeout=None: ref)
    assert main(["--no-color", command, FRAUD]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert code in err and "nothing was done" in err and hint in err


def test_an_accepted_command_exits_0(monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    import ray

    from lifecycle.runtime.rollout import controller

    monkeypatch.setattr(serving, "attach", lambda address: None)
    monkeypatch.setattr(controller, "find", lambda app: FakeController(RolloutPhase.RUNNING))
    monkeypatch.setattr(ray, "get", lambda ref, timeout=None: ref)
    assert main(["--no-color", "pause", FRAUD]) == 0
    assert "pause: pause requested" in capsys.readouterr().out


# --- item 7: stop a run by id ------------------------------------------------------------

SLOW_RUN = """
import sys, time
from pathlib import Path
from lifecycle.execute import RunOptions, runner
import lifecycle.execute.connection as connection
import lifecycle.execute.executors as executors
import lifecycle.execute.tracking as tracking
from tests.conftest import compile_approved
from tests.unit.execute.test_run_endings import FakeTracking, TRAIN_ONLY

def slow(stage, ctx):
    print("training", flush=True)
    time.sleep(300)

connection.start_local = lambda plan, options: ""
tracking.Tracking = FakeTracking
executors.registry = lambda: {"data": lambda s, c: {"digest": "d"}, "tune": slow}
plan = compile_approved(Path("specs/fraud.yaml"), TRAIN_ONLY)
result = runner.run_plan(plan, RunOptions(store=sys.argv[1], tracking_uri="sqlite:///x",
                                          run_id="r1"))
sys.exit(int(result.exit_code))
"""


def test_stop_ends_a_local_run_by_its_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    store = str(tmp_path / "store")
    proc = subprocess.Popen([sys.executable, "-c", SLOW_RUN, store], cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "training\n"
        assert main(["--no-color", "stop", "r1", "--store", store]) == 0
        assert proc.wait(timeout=30) == 143
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
    out = " ".join(capsys.readouterr().out.split())
    assert f"stop requested: SIGTERM to process {proc.pid}" in out
    assert "run r1 ended stopped" in out
    events = list(read_journal(Store(store), "r1"))
    assert [e["event"] for e in events][-3:] == ["stop_requested", "stage_stopped",
                                                 "run_finished"]
    assert events[-1]["status"] == "stopped"


def test_stop_stops_the_runs_ray_job(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    Journal(store, "r1").append("run_started", spec="fraud-detector", pid=7, host="node-2",
                                ray_job={"id": "lifecycle-r1", "address": "http://head:8265"})
    stopped: list[tuple[str, str]] = []

    class Jobs:
        def __init__(self, address: str) -> None:
            self.address = address

        def stop_job(self, job_id: str) -> bool:
            stopped.append((self.address, job_id))
            Journal(store, "r1").append("run_finished", status="stopped", exit_code=143)
            return True

    monkeypatch.setattr("lifecycle.execute.cluster.jobs_client", Jobs)
    assert main(["stop", "r1", "--store", store.uri]) == 0
    assert stopped == [("http://head:8265", "lifecycle-r1")]


def test_stopping_an_ended_run_says_nothing_was_stopped(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    store = Store(str(tmp_path / "store"))
    journal = Journal(store, "r1")
    journal.append("run_started", spec="fraud-detector", pid=os.getpid(), host="x")
    journal.append("run_finished", status="failed", exit_code=3)
    assert main(["--no-color", "stop", "r1", "--store", store.uri]) == 2
    assert "stop.ended" in capsys.readouterr().err
    time.sleep(0)  # nothing else to wait for
