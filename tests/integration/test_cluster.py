"""The cluster path: a `ray start --head --block` child process on explicit ports, with
two logical GPUs and a token of the test's own (servers.TokenAuth: the cluster and every
client get it through the environment, whatever ~/.ray holds); `lifecycle run
--address` submits the plan as a Ray Job, streams its logs and maps its exit status.
The same cluster checks GPU placement without a GPU, and that an edit elsewhere in the
project (which renames the uploaded package) retrains nothing (issue 18, item 2)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lifecycle.diff import compare
from lifecycle.execute.runner import LIVE
from lifecycle.store import Store, read_journal

from ..conftest import ROOT, approved_copy, compile_approved
from .servers import Cluster, ray_cluster
from .test_run import FRAUD, TRAIN_ONLY, _data

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with ray_cluster(tmp_path_factory.mktemp("cluster")) as c:
        c.start_head(num_cpus=6, resources={}, extra=("--num-gpus=2",))
        yield c


def _command(cluster: Cluster, overrides: list[str], tmp: Path,
             allow_protected: bool = False) -> tuple[list[str], dict[str, str]]:
    cmd = [sys.executable, "-m", "lifecycle", "run", str(approved_copy(FRAUD, tmp, overrides)),
           *overrides, "--address", cluster.dashboard, "--store", str(tmp / "store"),
           "--tracking-uri", f"sqlite:///{tmp}/mlflow.db",
           *(["--allow-protected-overrides"] if allow_protected else [])]
    env = {**cluster.client_env, "NO_COLOR": "1", "LIFECYCLE_TORCH_BACKEND": "gloo"}
    return cmd, env


def _run(cluster: Cluster, overrides: list[str], tmp: Path,
         allow_protected: bool = False) -> subprocess.CompletedProcess[str]:
    cmd, env = _command(cluster, overrides, tmp, allow_protected)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _stages(store: Store, run_id: str) -> dict[str, str]:
    out = {}
    for e in read_journal(store, run_id):
        if e["event"] in ("stage_succeeded", "stage_skipped", "stage_failed"):
            out[e["stage"]] = e["event"].removeprefix("stage_")
    return out


def test_plan_runs_on_a_cluster_as_a_ray_job(cluster: Cluster, data_dir: str,
                                             tmp_path: Path) -> None:
    r = _run(cluster, _data(data_dir) + TRAIN_ONLY, tmp_path)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "submitted Ray Job" in r.stdout
    store = Store(str(tmp_path / "store"))
    [run_id] = store.list_dir("runs")
    assert set(_stages(store, run_id).items()) == {
        (s, "succeeded") for s in ("data", "train", "evaluate", "register", "monitor")}
    # the job's working dir has no .git: the client's commit travelled with the plan
    from mlflow.tracking import MlflowClient

    from lifecycle.execute.provenance import git_source

    version = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").get_model_version_by_alias(
        "fraud-detector", "challenger")
    assert version.tags["lifecycle.git_commit"] == git_source(str(ROOT)).git_commit


def test_an_edit_elsewhere_in_the_project_retrains_nothing_and_run_agrees_with_diff(
        cluster: Cluster, data_dir: str, tmp_path: Path) -> None:
    """Any edit renames the uploaded package the job reads the data from: the data's
    digest, and so every stage that reads only unchanged inputs, must not change. What
    `diff` says will rerun is what the second run reruns."""
    before = _data(data_dir) + TRAIN_ONLY
    after = before + ["monitors.0.p_val=0.002"]
    first = _run(cluster, before, tmp_path)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    (ROOT / data_dir / "NOTES.md").write_text("an edit: the job's package gets a new name\n")
    second = _run(cluster, after, tmp_path)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    store = Store(str(tmp_path / "store"))
    run1, run2 = store.list_dir("runs")
    digests = [next(e["outputs"]["digest"] for e in read_journal(store, r)
                    if e["event"] == "stage_succeeded" and e["stage"] == "data")
               for r in (run1, run2)]
    assert digests[0] == digests[1]
    stages = _stages(store, run2)
    assert {s for s, how in stages.items() if how == "skipped"} == {
        "train", "evaluate", "register"}
    diff = compare(compile_approved(FRAUD, before), compile_approved(FRAUD, after),
                   path="fraud")
    said = {c.stage for c in diff.stages}
    rerun = {s for s, how in stages.items() if how == "succeeded"}
    assert said == rerun - LIVE == {"monitor"}


def test_failing_job_maps_to_the_documented_exit_code(cluster: Cluster, data_dir: str,
                                                      tmp_path: Path) -> None:
    r = _run(cluster, _data(data_dir) + TRAIN_ONLY + [
        "train.entrypoint=examples.fraud.nothere:train_loop"], tmp_path)
    assert r.returncode == 2, r.stdout[-3000:] + r.stderr[-3000:]


def test_workers_get_their_gpu_share_and_see_cuda_visible_devices(
        cluster: Cluster, data_dir: str, tmp_path: Path) -> None:
    probe = ROOT / data_dir / "probe"
    r = _run(cluster, _data(data_dir) + TRAIN_ONLY + [
        "risk_tier=low", "~monitors", "~register", "~evaluate", "~retirement",
        "approvals=[]", "train.entrypoint=examples.probe.gpu:train_loop",
        "train.scaling.use_gpu=true", "train.scaling.num_workers=2",
        "train.scaling.cpus_per_worker=1", f"+train.config.probe_dir={probe}"], tmp_path,
        allow_protected=True)  # risk_tier and approvals: a probe run
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    records = [json.loads((probe / f"rank-{i}.json").read_text()) for i in (0, 1)]
    gpus = sorted(rec["gpu_ids"][0] for rec in records)
    assert gpus == ["0", "1"]  # one GPU each, different ones
    for rec in records:
        assert rec["cuda_visible_devices"] is not None
        assert rec["gpu_ids"][0] in rec["cuda_visible_devices"].split(",")


# --- how a run on a cluster ends (issue 18, items 1 and 7) ----------------------------

@contextmanager
def _started(cluster: Cluster, overrides: list[str], tmp: Path
             ) -> Iterator[subprocess.Popen[str]]:
    """The client running; killed with its session if the test leaves it running."""
    cmd, env = _command(cluster, overrides, tmp)
    # SIGINT as a terminal delivers it: a suite started in the background by a shell
    # inherits SIGINT ignored, and Python then never raises KeyboardInterrupt for it
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
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
        cluster: Cluster, data_dir: str, tmp_path: Path) -> None:
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
        cluster: Cluster, data_dir: str, tmp_path: Path) -> None:
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
