"""The cluster path: a `ray start --head --block` child process on explicit ports, with
two logical GPUs; `lifecycle run --address` submits the plan as a Ray Job, streams its
logs and maps its exit status. The same cluster checks GPU placement without a GPU."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lifecycle.store import Store, read_journal

from ..conftest import ROOT, approved_copy
from .test_run import FRAUD, TRAIN_ONLY, _data

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port, dash = _free_port(), _free_port()
    temp = tmp_path_factory.mktemp("ray")
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
           f"--port={port}", f"--dashboard-port={dash}", "--dashboard-host=127.0.0.1",
           "--num-cpus=6", "--num-gpus=2", "--include-dashboard=true",
           f"--temp-dir={temp}", "--min-worker-port=22000", "--max-worker-port=22400"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), RAY_DATA_DISABLE_PROGRESS_BARS="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    address = f"http://127.0.0.1:{dash}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{address}/api/version", timeout=2)
                break
            except urllib.error.HTTPError:  # it answers (token auth may refuse us): up
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("ray start exited")
                time.sleep(1)
        else:
            pytest.fail("the cluster's dashboard never came up")
        yield address
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the whole session we started, nothing else
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def _command(address: str, overrides: list[str], tmp: Path
             ) -> tuple[list[str], dict[str, str]]:
    # signed for the overrides alone: a flag such as --allow-protected-overrides is not one
    spec = approved_copy(FRAUD, tmp, [o for o in overrides if not o.startswith("--")])
    cmd = [sys.executable, "-m", "lifecycle", "run", str(spec), *overrides,
           "--address", address, "--store", str(tmp / "store"),
           "--tracking-uri", f"sqlite:///{tmp}/mlflow.db"]
    env = dict(os.environ, NO_COLOR="1", RAY_AUTH_MODE="token",
               LIFECYCLE_TORCH_BACKEND="gloo")
    env.pop("RAY_ADDRESS", None)
    return cmd, env


def _run(address: str, overrides: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    cmd, env = _command(address, overrides, tmp)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_plan_runs_on_a_cluster_as_a_ray_job(cluster: str, data_dir: str,
                                             tmp_path: Path) -> None:
    r = _run(cluster, _data(data_dir) + TRAIN_ONLY, tmp_path)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "submitted Ray Job" in r.stdout
    store = Store(str(tmp_path / "store"))
    [run_id] = store.list_dir("runs")
    events = list(read_journal(store, run_id))
    done = {e["stage"] for e in events if e["event"] == "stage_succeeded"}
    assert done == {"data", "train", "evaluate", "register", "monitor"}  # detectors fit there
    # the job's working dir has no .git: the client's commit travelled with the plan
    from mlflow.tracking import MlflowClient

    from lifecycle.execute.provenance import git_source

    version = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").get_model_version_by_alias(
        "fraud-detector", "challenger")
    assert version.tags["lifecycle.git_commit"] == git_source(str(ROOT)).git_commit


def test_failing_job_maps_to_the_documented_exit_code(cluster: str, data_dir: str,
                                                      tmp_path: Path) -> None:
    r = _run(cluster, _data(data_dir) + TRAIN_ONLY + [
        "train.entrypoint=examples.fraud.nothere:train_loop"], tmp_path)
    assert r.returncode == 2, r.stdout[-3000:] + r.stderr[-3000:]


def test_workers_get_their_gpu_share_and_see_cuda_visible_devices(
        cluster: str, data_dir: str, tmp_path: Path) -> None:
    probe = ROOT / data_dir / "probe"
    r = _run(cluster, _data(data_dir) + TRAIN_ONLY + [
        "risk_tier=low", "~monitors", "~register", "~evaluate", "~retirement",
        "approvals=[]", "train.entrypoint=examples.probe.gpu:train_loop",
        "train.scaling.use_gpu=true", "train.scaling.num_workers=2",
        "train.scaling.cpus_per_worker=1", f"+train.config.probe_dir={probe}",
        "--allow-protected-overrides"], tmp_path)  # risk_tier and approvals: a probe run
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    records = [json.loads((probe / f"rank-{i}.json").read_text()) for i in (0, 1)]
    gpus = sorted(rec["gpu_ids"][0] for rec in records)
    assert gpus == ["0", "1"]  # one GPU each, different ones
    for rec in records:
        assert rec["cuda_visible_devices"] is not None
        assert rec["gpu_ids"][0] in rec["cuda_visible_devices"].split(",")


# --- how a run on a cluster ends (issue 18, items 1 and 7) ----------------------------

@contextmanager
def _started(address: str, overrides: list[str], tmp: Path
             ) -> Iterator[subprocess.Popen[str]]:
    """The client running; killed with its session if the test leaves it running."""
    cmd, env = _command(address, overrides, tmp)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _training(tmp: Path, proc: subprocess.Popen[str]) -> tuple[str, dict[str, object]]:
    """The run id and its run_started record, once the job's train stage has started."""
    store = Store(str(tmp / "store"))
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        for run_id in store.list_dir("runs"):
            events = list(read_journal(store, run_id))
            if any(e["event"] == "stage_started" and e["stage"] == "train" for e in events):
                return run_id, events[0]
        time.sleep(0.5)
    out = proc.stdout.read() if proc.stdout else ""
    pytest.fail(f"training never started: {out[-3000:]}")


def test_a_driver_killed_mid_stage_is_recorded_failed_never_succeeded(
        cluster: str, data_dir: str, tmp_path: Path) -> None:
    with _started(cluster, _data(data_dir) + TRAIN_ONLY, tmp_path) as proc:
        _, started = _training(tmp_path, proc)
        os.kill(int(str(started["pid"])), signal.SIGKILL)  # the job's driver, hard
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 3, out[-3000:]
    from lifecycle.execute.status import run_summaries

    [summary] = run_summaries(Store(str(tmp_path / "store")))
    assert summary["status"] == "failed" and summary["stages"]["train"]["status"] == "failed"
    assert "ended FAILED" in summary["message"]


def test_ctrl_c_on_the_client_stops_the_job_and_the_run_records_it(
        cluster: str, data_dir: str, tmp_path: Path) -> None:
    with _started(cluster, _data(data_dir) + TRAIN_ONLY, tmp_path) as proc:
        run_id, _ = _training(tmp_path, proc)
        os.kill(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143, out[-3000:]
    assert f"stopping Ray Job lifecycle-{run_id}" in out
    events = list(read_journal(Store(str(tmp_path / "store")), run_id))
    end = [e for e in events if e["event"] == "run_finished"]
    assert [e["status"] for e in end] == ["stopped"]  # by the run itself, on SIGTERM
    assert any(e["event"] == "stage_stopped" and e["stage"] == "train" for e in events)
