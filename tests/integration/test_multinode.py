"""Several nodes, faults, and state that lives off the client (issue 16, items 2 and 3).

A head and a worker node (`ray start` processes on explicit ports, each with its own CPUs,
a `trainer` resource and a `node_<name>` label), an S3-compatible server (moto's) holding
the data and the run store, and an MLflow server with its artifact root on the same S3.
One `lifecycle run --address` is followed through:

- training spreads over both nodes (one `trainer` per node, one per worker); the worker
  node is killed mid-training, a replacement node joins, and training resumes from its
  last checkpoint (`max_failures`);
- serving: the Router pinned to the head (`serve.router.custom`), the model's replicas
  spread over the nodes; the node holding a model replica is killed under load: fewer
  than 0.1% of requests fail and the Router and the rollout controller carry on;
- a second client in an empty folder, with nothing local, reads `status` and writes the
  `monitor report` from the store, and `promote`s and `retire`s on the cluster;
- the journal, the plan, the stage cache, checkpoints, models, detector folders and
  reports lie on S3, and no credential appears in any of them nor in any log.

The store's credentials are `secret://` references resolved on each node; the data's
come from the nodes' environment (the AWS variables), as a KubeRay pod's would."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from examples.fraud.make_data import make, write
from lifecycle.store import Store, read_journal

from ..conftest import ROOT, approved_copy
from .servers import (
    S3_ENV,
    Cluster,
    free_port,
    mlflow_server,
    ray_cluster,
    s3_client,
    s3_server,
    wait_for,
)

pytestmark = pytest.mark.integration
FRAUD = ROOT / "specs" / "fraud.yaml"
BUCKET = "lifecycle-it"
APP = "fraud-detector"
# the store's credentials by reference: resolved from these variables on every node
STORE_SECRETS = {"IT_S3_KEY": S3_ENV["AWS_ACCESS_KEY_ID"],
                 "IT_S3_SECRET": S3_ENV["AWS_SECRET_ACCESS_KEY"]}
ROWS = make(100, seed=11).drop_columns(["is_fraud"]).to_pylist()


@dataclass
class World:
    cluster: Cluster
    endpoint: str
    tracking: str
    store: str
    data: list[str]
    url: str
    folder: Path
    logs: list[str] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)

    def lifecycle(self, args: list[str], cwd: Path, timeout: float = 300
                  ) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([sys.executable, "-m", "lifecycle", *args], cwd=cwd,
                           env=self.cluster.client_env, capture_output=True, text=True,
                           timeout=timeout)
        self.logs.append(r.stdout + r.stderr)
        return r

    def bucket_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in s3_client(self.endpoint).get_paginator("list_objects_v2").paginate(
                Bucket=BUCKET, Prefix=prefix):
            keys.extend(o["Key"] for o in page.get("Contents", []))
        return keys

    def read_object(self, key: str) -> bytes:
        return bytes(s3_client(self.endpoint).get_object(Bucket=BUCKET, Key=key)["Body"]
                     .read())


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """This process reads the store too (by the same references): the variables set for
    the module, and restored after."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("multinode")
    with _environment({**S3_ENV, **STORE_SECRETS}), s3_server(tmp) as endpoint:
        s3_client(endpoint).create_bucket(Bucket=BUCKET)
        with mlflow_server(tmp, f"s3://{BUCKET}/mlflow", endpoint) as tracking:
            serve_port = free_port()
            env = {**S3_ENV, **STORE_SECRETS, "LIFECYCLE_SERVE_HOST": "127.0.0.1",
                   "LIFECYCLE_SERVE_PORT": str(serve_port), "LIFECYCLE_TORCH_BACKEND": "gloo",
                   "PYTHONFAULTHANDLER": "1"}  # a crash prints every thread's stack
            with ray_cluster(tmp / "ray", env) as cluster:
                cluster.start_head(num_cpus=4, resources={"trainer": 1, "ingress": 1})
                cluster.start_worker("a", num_cpus=3, resources={"trainer": 1})
                # one HTTP proxy, on the head: every node of this machine shares its IP
                out = subprocess.run(
                    [sys.executable, "-m", "ray.serve.scripts", "start", f"--address={cluster.gcs}",
                     "--http-host=127.0.0.1", f"--http-port={serve_port}",
                     "--proxy-location=HeadOnly"], env=cluster.client_env,
                    capture_output=True, text=True, timeout=180, cwd=ROOT)
                assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
                data = _upload_data(endpoint, tmp)
                query = f"endpoint_override={endpoint}&scheme=http"
                store = (f"s3://{BUCKET}/store?{query}"
                         "&access_key=secret://IT_S3_KEY&secret_key=secret://IT_S3_SECRET")
                yield World(cluster, endpoint, tracking, store, data,
                            f"http://127.0.0.1:{serve_port}/fraud", tmp)


def _upload_data(endpoint: str, tmp: Path) -> list[str]:
    write(tmp / "data", rows=3000)
    client = s3_client(endpoint)
    for role in ("train", "eval"):
        client.upload_file(str(tmp / "data" / f"{role}.parquet"), BUCKET,
                           f"data/{role}.parquet")
    query = f"endpoint_override={endpoint}&scheme=http"
    return [f"data.{role}.path='s3://{BUCKET}/data/{role}.parquet?{query}'"
            for role in ("train", "eval")]


RUN = [
    "~tune", "train.config.epochs=24", "train.config.hidden=16", "train.config.lr=0.02",
    "train.config.batch_size=64", "train.scaling.num_workers=2",
    "train.scaling.cpus_per_worker=0.5", "train.scaling.max_failures=2",
    "+train.scaling.resources_per_worker={trainer: 1}",
    "evaluate.gates=[{metric: auc, min: 0.5}]",
    "serve.topology=routed", "serve.autoscaling=null", "serve.replicas=2",
    "serve.resources.num_cpus=0.25", "+serve.router.custom={ingress: 0.01}",
    "monitors.0.on_drift=[alert]",
    # policy MR-005: at least two gated steps held 10 minutes or more (the test promotes)
    "serve.rollout.steps=[{weight: 10, hold: 30m, gates: [{metric: error_rate, max: 0.05}]},"
    " {weight: 50, hold: 30m, gates: [{metric: error_rate, max: 0.05}]}, {weight: 100}]",
    "serve.rollout.gate_interval=2s",
    # the spec's latency SLO (99% under 50 ms) burns on 2 shared cores running two nodes
    # and their losses, and a burning SLO freezes promotion, which the test asks for
    "slos.1.threshold_ms=5000",
]


@pytest.fixture(scope="module")
def deployed(world: World) -> World:
    """The run, with the worker node killed once training has checkpointed."""
    cluster = world.cluster
    spec = approved_copy(FRAUD, world.folder / "approved", [*world.data, *RUN])
    cmd = [sys.executable, "-m", "lifecycle", "run", str(spec), *world.data, *RUN,
           # submitted as a Ray Job to the dashboard, as from a laptop; its driver runs
           # on the head
           "--address", cluster.dashboard, "--store", world.store,
           "--tracking-uri", world.tracking]
    log = world.folder / "run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=cluster.client_env, stdout=out,
                                stderr=subprocess.STDOUT)
        def running(value: Any) -> Any:
            if proc.poll() is not None:
                raise AssertionError(f"the run ended ({proc.returncode}) too early:\n"
                                     + log.read_text()[-6000:])
            return value

        try:
            store = Store(world.store)
            run_id = wait_for(lambda: running(next(iter(store.list_dir("runs")), None)), 180,
                              "the run to start")
            wait_for(lambda: running(any(
                k.rsplit("/", 2)[-2].startswith("checkpoint_")
                for k in world.bucket_keys(f"store/ray/{run_id}-train/") if k.count("/") >= 4)),
                300, "training's first checkpoint on S3", interval=0.5)
            world.run["train_nodes"] = sorted(a["node"] for a in cluster.actors()
                                              if a["class_name"] == "RayTrainWorker")
            cluster.nodes["a"].kill()  # a node lost: raylet and workers, SIGKILL
            world.run["killed_at"] = time.time()
            cluster.start_worker("b", num_cpus=3, resources={"trainer": 1})
            code = proc.wait(timeout=600)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- the run's output ---\n{log.read_text()[-6000:]}"
                                 + _driver_logs(cluster, world.store)) from None
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log.read_text()
    world.logs.append(text)
    assert code == 0, text[-6000:] + _driver_logs(cluster, world.store)
    world.run["id"] = run_id
    return world


def _driver_logs(cluster: Cluster, store_uri: str) -> str:
    """For a failure's message (the cluster's folder is removed with it): the drivers'
    core-worker logs (a native crash leaves its last words there) and how each run's
    journal ends. Never raises: it must not hide the failure it explains."""
    try:
        out = "".join(f"\n--- {p.name} ---\n{p.read_text(errors='replace')[-4000:]}"
                      for p in cluster.session_logs()
                      if p.name.startswith(("job-driver-", "python-core-driver-")))
        store = Store(store_uri)
        for run_id in store.list_dir("runs"):
            ended = [e for e in read_journal(store, run_id)
                     if e["event"] in ("stage_failed", "run_finished")]
            out += f"\n--- journal {run_id} ---\n" + "\n".join(
                json.dumps(e)[:3000] for e in ended)
        return out
    except Exception as exc:  # diagnostics only
        return f"\n(no driver logs: {type(exc).__name__}: {exc})"


def _journal(world: World) -> list[dict[str, Any]]:
    return list(read_journal(Store(world.store), world.run["id"]))


def test_training_spreads_over_both_nodes_and_resumes_after_one_is_lost(
        deployed: World) -> None:
    assert deployed.run["train_nodes"] == ["a", "head"]
    events = _journal(deployed)
    [train] = [e for e in events if e["event"] == "stage_succeeded" and e["stage"] == "train"]
    # the resumed attempt started after the checkpoint it found, and finished the run
    assert train["outputs"]["metrics"]["started_at_epoch"] >= 1
    assert train["outputs"]["metrics"]["epoch"] == 23
    assert not [e for e in events if e["event"] == "stage_failed"]
    data = next(e for e in events if e["event"] == "stage_succeeded" and e["stage"] == "data")
    assert {p["digest_kind"] for p in data["outputs"]["profile"].values()} == {"s3-etag"}


def _load(url: str, seconds: float, workers: int = 8) -> list[tuple[float, int]]:
    """One-row requests from `workers` threads for `seconds`: (time, status) of each."""
    stop = time.time() + seconds

    def worker(i: int) -> list[tuple[float, int]]:
        out = []
        with requests.Session() as session:
            while time.time() < stop:
                try:
                    status = session.post(url, json={"rows": [ROWS[i % len(ROWS)]]},
                                          timeout=30).status_code
                except requests.RequestException:
                    status = 0
                out.append((time.time(), status))
                i += workers
        return out

    with cf.ThreadPoolExecutor(workers) as pool:
        return [r for part in pool.map(worker, range(workers)) for r in part]


def _serve_replicas(cluster: Cluster) -> dict[str, list[str]]:
    """Deployment -> the nodes its replicas run on."""
    out: dict[str, list[str]] = {}
    for actor in cluster.actors():
        if actor["class_name"].startswith(f"ServeReplica:{APP}:"):
            out.setdefault(actor["class_name"].rsplit(":", 1)[1], []).append(actor["node"])
    return {k: sorted(v) for k, v in out.items()}


def _status(world: World, cwd: Path) -> dict[str, Any]:
    r = world.lifecycle(["status", APP, "--address", world.cluster.gcs, "--format", "json"],
                        cwd)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_a_node_lost_under_serving_load_fails_under_a_thousandth(deployed: World,
                                                                 tmp_path: Path) -> None:
    cluster = deployed.cluster
    placed = _serve_replicas(cluster)
    assert placed["Router"] == ["head", "head"], placed  # pinned by serve.router.custom
    assert "b" in placed["Model_candidate"], placed  # the node we lose holds a replica
    before = _status(deployed, tmp_path)["rollout"]
    with cf.ThreadPoolExecutor(1) as pool:
        during = pool.submit(_load, deployed.url, 25.0)
        time.sleep(6.0)
        cluster.nodes["b"].kill()
        killed = time.time()
        results = during.result()
    failed = [r for r in results if r[1] != 200]
    after_kill = [r for r in results if r[0] > killed]
    print(f"node lost under load: {len(failed)} of {len(results)} requests failed, "
          f"{len(after_kill)} answered after the kill")
    assert len(after_kill) > 200  # the test saw real traffic after the loss
    assert len(failed) / len(results) < 0.001, failed[:10]
    state = _status(deployed, tmp_path)
    assert "error" not in state["router"], state["router"]  # the Router carries on...
    assert _serve_replicas(cluster)["Router"] == ["head", "head"]
    rollout = state["rollout"]  # ...and so does the rollout controller, at its step
    assert (rollout["phase"], rollout["step"]) == ("running", before["step"])
    wait_for(lambda: len(_serve_replicas(cluster).get("Model_candidate", [])) == 2, 120,
             "Serve to replace the lost model replica")


def test_a_fresh_client_reads_and_operates_from_the_shared_state(deployed: World,
                                                                 tmp_path: Path) -> None:
    fresh = tmp_path / "elsewhere"
    fresh.mkdir()
    r = deployed.lifecycle(["status", "--store", deployed.store, "--format", "json"], fresh)
    assert r.returncode == 0, r.stderr[-3000:]
    [run] = json.loads(r.stdout)
    assert run["run_id"] == deployed.run["id"] and run["status"] == "succeeded"
    assert run["stages"]["train"]["status"] == "succeeded"
    r = deployed.lifecycle(["monitor", "report", APP, "--store", deployed.store], fresh)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "copied to the store" in r.stdout and "logged to MLflow" in r.stdout
    assert any(k.endswith(".html") for k in deployed.bucket_keys(f"store/reports/{APP}/"))
    r = deployed.lifecycle(["promote", APP, "--address", deployed.cluster.gcs], fresh)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    try:
        wait_for(lambda: _status(deployed, fresh)["rollout"]["phase"] == "promoted", 120,
                 "the promotion")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {_status(deployed, fresh)['rollout']}") from None
    from mlflow.tracking import MlflowClient

    client = MlflowClient(deployed.tracking)
    assert client.get_model_version_by_alias("fraud-detector", "champion").version == "1"
    r = deployed.lifecycle(["retire", APP, "--address", deployed.cluster.gcs,
                            "--tracking-uri", deployed.tracking, "--store", deployed.store,
                            "--drain", "2s"], fresh)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "application deleted" in r.stdout and "versions archived: 1" in r.stdout
    assert list(fresh.iterdir()) == []  # nothing local was needed, nothing was left


def test_state_lies_on_s3_and_no_credential_is_written_anywhere(deployed: World) -> None:
    run_id = deployed.run["id"]
    keys = deployed.bucket_keys("")
    def under(prefix: str) -> list[str]:
        return [k for k in keys if k.startswith(prefix)]

    assert under(f"store/runs/{run_id}/journal/") and under(f"store/runs/{run_id}/plan.json")
    assert under("store/stages/fraud-detector/train/")  # the stage cache
    assert under(f"store/ray/{run_id}-train/checkpoint_")  # checkpoints
    assert under(f"store/runs/{run_id}/artifacts/monitor/input-drift/")  # detectors
    assert [k for k in under("mlflow/") if k.endswith("MLmodel")]  # the model (MLflow's)
    secrets = [*S3_ENV.values(), deployed.cluster.auth.path.read_text()]
    secrets.remove("us-east-1")
    written = {k: deployed.read_object(k) for k in under("store/")}
    logs = {f"log {i}": text.encode() for i, text in enumerate(deployed.logs)}
    session_logs = {str(p): p.read_bytes() for p in deployed.cluster.session_logs()}
    tracking_db = {"mlflow.db": (deployed.folder / "mlflow.db").read_bytes()}
    assert session_logs and len(logs) >= 6
    for name, blob in {**written, **logs, **session_logs, **tracking_db}.items():
        for secret in secrets:
            assert secret.encode() not in blob, f"a credential in {name}"
