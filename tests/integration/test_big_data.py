"""Data bigger than the driver (issue 16, item 1). A Parquet source generated more than
four times larger than a memory cap put on the driver process (RLIMIT_DATA: every
private allocation beyond it fails); the driver attaches to a `ray start` cluster that
runs outside the cap. Its peak RSS stays under the cap through data, train and evaluate,
and the contract violations planted in the source are counted exactly — by
Ray Data tasks on the cluster and by the driver's own stream alike. The cap is real: the
same source read whole under it fails."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from examples.fraud.make_data import write, write_large
from lifecycle.store import Store, read_journal

from ..conftest import ROOT, approved_copy
from .servers import Cluster, ray_cluster

pytestmark = pytest.mark.integration
FRAUD = ROOT / "specs" / "fraud.yaml"
CAP_MB = int(os.environ.get("LIFECYCLE_TEST_DRIVER_CAP_MB", "640"))
ROW_BYTES = 47  # write_large's rows on disk
PLANTED = {"amount_below_min": 1_234, "hour_above_max": 567, "channel_outside": 89,
           "merchant_risk_null": 42}
# data, train and evaluate: the stages that read the data. Registering reads none, and
# MLflow's model logging alone reserves more address space than this cap leaves it
SMALL_RUN = ["risk_tier=low", "approvals=[]",  # protected keys: the run opts in
             "~tune", "~serve", "~monitors", "~slos", "~retirement", "~register",
             "train.entrypoint=examples.fraud.linear:train_loop", "train.framework=sklearn",
             "train.scaling.num_workers=1", "train.scaling.max_failures=0",
             "train.config.epochs=1", "train.config.batch_size=65536", "train.config.lr=0.5",
             "evaluate.gates=[{metric: auc, min: 0.6}]"]
# the planted values, allowed: the run that must succeed
RELAXED = ["data.contract.features.amount.min=null", "data.contract.features.hour.max=null",
           "data.contract.features.channel.categories=[web,pos,app,atm]",
           "data.contract.features.merchant_risk.max_null_fraction=0.001"]


@dataclass(frozen=True)
class Big:
    rel: str  # the folder, relative to the repository (specs read only inside it)
    rows: int
    bytes: int
    planted: dict[str, int]

    @property
    def data(self) -> list[str]:
        return [f"data.train.path={self.rel}/big.parquet",
                f"data.eval.path={self.rel}/eval.parquet"]


@pytest.fixture(scope="module")
def big() -> Iterator[Big]:
    rel = f".test-data/big-{uuid.uuid4().hex[:8]}"
    folder = ROOT / rel
    folder.mkdir(parents=True)
    try:
        rows = int(4.2 * CAP_MB * 1024 * 1024 / ROW_BYTES)
        planted = write_large(folder / "big.parquet", rows, PLANTED)
        write(folder / "small", rows=4000)
        (folder / "small" / "eval.parquet").rename(folder / "eval.parquet")
        size = (folder / "big.parquet").stat().st_size
        assert size >= 4 * CAP_MB * 1024 * 1024, size
        yield Big(rel, rows, size, planted)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with ray_cluster(tmp_path_factory.mktemp("bigdata")) as c:
        c.start_head(num_cpus=4, resources={}, object_store_mb=700)
        yield c


# RLIMIT_DATA counts reserved address space, not only what is touched (a cgroup's limit,
# as on Kubernetes, counts memory used): allocators that reserve ahead are kept small, so
# the cap measures data, not reservations — Arrow's jemalloc pool retains what it mapped,
# and OpenBLAS maps a buffer per thread on its first call (numpy's and scipy's each).
UNRESERVED = {"ARROW_DEFAULT_MEMORY_POOL": "system", "MALLOC_ARENA_MAX": "2",
              "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def _cap() -> None:
    """Each of the ~30 threads an attached Ray driver runs reserves an 8 MiB stack by
    default: threads get 2 MiB (RLIMIT_STACK), and the cap measures data, not stacks."""
    limit = CAP_MB * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    resource.setrlimit(resource.RLIMIT_STACK, (2 * 1024 * 1024, 2 * 1024 * 1024))


def _capped(cmd: list[str], env: dict[str, str]) -> tuple[int, str, float]:
    """Run `cmd` under the cap: (exit code, output, peak RSS in MiB)."""
    with open(os.devnull, "rb") as stdin:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**env, **UNRESERVED}, stdin=stdin,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, preexec_fn=_cap)
        assert proc.stdout is not None
        watchdog = threading.Timer(900, proc.kill)  # a hung driver fails, never hangs
        watchdog.start()
        try:
            output = proc.stdout.read().decode(errors="replace")
        finally:
            watchdog.cancel()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, output, usage.ru_maxrss / 1024


def _run(cluster: Cluster, big: Big, extra: list[str], tmp: Path,
         distributed_bytes: int) -> tuple[int, str, float, list[dict[str, Any]]]:
    env = {**cluster.client_env, "LIFECYCLE_RAY_ATTACH": cluster.gcs,
           "LIFECYCLE_DATA_DISTRIBUTED_BYTES": str(distributed_bytes)}
    code, out, peak = _capped(
        [sys.executable, "-m", "lifecycle", "run",
         str(approved_copy(FRAUD, tmp, [*big.data, *SMALL_RUN, *extra])),
         *big.data, *SMALL_RUN, *extra, "--store", str(tmp / "store"), "--tracking-uri",
         f"sqlite:///{tmp}/mlflow.db",
         "--allow-protected-overrides"], env)
    store = Store(str(tmp / "store"))
    runs = store.list_dir("runs")
    assert len(runs) == 1, out[-4000:]
    run_id = runs[0]
    print(f"driver peak RSS {peak:.0f} MiB under a {CAP_MB} MiB cap, source "
          f"{big.bytes / 2**20:.0f} MiB ({big.bytes / (CAP_MB * 2**20):.1f}x)")
    return code, out, peak, list(read_journal(store, run_id))


def test_the_cap_bites_a_whole_table_read(cluster: Cluster, big: Big) -> None:
    code, out, _ = _capped([sys.executable, "-c", "import pyarrow.parquet as pq; "
                            f"pq.read_table({str(ROOT / big.rel / 'big.parquet')!r})"],
                           cluster.client_env)
    assert code != 0 and ("MemoryError" in out or "OutOfMemory" in out), out[-2000:]


def test_planted_violations_are_counted_exactly_by_ray_data_tasks(
        cluster: Cluster, big: Big, tmp_path: Path) -> None:
    # and a type the data does not have: every row breaks it
    code, out, peak, events = _run(cluster, big, [
        "data.contract.features.account_age_days.type=timestamp",
        "~data.contract.features.account_age_days.min"], tmp_path, 1)
    assert code == 1, out[-4000:]
    [failed] = [e for e in events if e["event"] == "stage_failed"]
    assert failed["stage"] == "data"
    counts = {(v["source"], v["column"], v["rule"]): v["offending"]
              for v in failed["details"]["violations"]}
    assert counts == {
        ("data.train", "amount", "min 0"): big.planted["amount_below_min"],
        ("data.train", "hour", "max 23"): big.planted["hour_above_max"],
        ("data.train", "channel", "categories"): big.planted["channel_outside"],
        ("data.train", "merchant_risk", "max_null_fraction 0"): big.planted["merchant_risk_null"],
        ("data.train", "account_age_days", "type timestamp"): big.rows,
        ("data.eval", "account_age_days", "type timestamp"): 800}
    assert failed["details"]["sources"]["train"]["engine"] == "ray-data"
    assert peak < CAP_MB


def test_a_run_over_the_source_succeeds_under_the_cap(cluster: Cluster, big: Big,
                                                      tmp_path: Path) -> None:
    code, out, peak, events = _run(cluster, big, RELAXED, tmp_path, 10**13)
    assert code == 0, out[-4000:]
    done = {e["stage"]: e for e in events if e["event"] == "stage_succeeded"}
    assert set(done) == {"data", "train", "evaluate"}
    train = done["data"]["outputs"]["profile"]["train"]
    assert (train["engine"], train["rows"]) == ("stream", big.rows)
    # within the relaxed contract the counts are still exact, and journaled
    assert train["columns"]["merchant_risk"] == {"nulls": big.planted["merchant_risk_null"]}
    assert done["train"]["outputs"]["metrics"]["rows"] == big.rows  # trained on every row
    assert done["evaluate"]["outputs"]["metrics"]["auc"] > 0.6
    assert peak < CAP_MB
