"""A real Prometheus server scraping a real lifecycle deployment on Ray Serve, evaluating
the rules `lifecycle compile --prometheus-rules` writes for the plan: the fast-burn page
(`LifecycleErrorBudgetBurn`, 14.4x over 1h and 5m) fires for a candidate whose own traffic
fails, and stays quiet for the stable version serving beside it. Needs Debian's
`prometheus` (which .ci/run installs); Ray exports its metrics every 10 s by default, so
the page fires some 20-40 s after the failures start."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from examples.fraud.make_data import write
from lifecycle.errors import ExitCode
from lifecycle.execute import RunOptions
from lifecycle.execute.runner import run_plan

from ..conftest import ROOT
from .test_serve import (
    FRAUD,
    NOT_SERVED,
    SERVE,
    TRAIN,
    Background,
    _rollout,
    _until,
    compile_approved,
)

pytestmark = pytest.mark.integration
APP = "fraud-detector"
# the spec's availability SLO, acting by alert only: the page is Prometheus' to fire, and
# a controller rolling the candidate back would end the burn this test watches
SLOS = "slos=[{name: availability, sli: availability, objective: 99.9, on_burn: [alert]}]"
# half of the candidate's answers fail (burn rate ~500); no gate ends its step early
FAULTY = ["train.config.hidden=8", "train.config.serve_fault={error_rate: 0.5}",
          *_rollout("canary", "[{weight: 50, hold: 10m}, {weight: 100}]")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_targets() -> list[str]:
    """Where each live node's metrics agent serves Prometheus' text format (what Ray
    writes to prom_metrics_service_discovery.json in its session folder, less the
    dashboard and autoscaler: the Router's metrics are a node's)."""
    import ray

    return [f"{n['NodeManagerAddress']}:{n['MetricsExportPort']}" for n in ray.nodes()
            if n["Alive"]]


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """start(rule_file_text) -> the base URL of a Prometheus scraping this session's Ray
    every second and evaluating the rules every second; stopped at the end."""
    binary = shutil.which("prometheus")
    if binary is None:
        if not os.environ.get("CI"):
            pytest.skip("prometheus is not installed (apt-get install prometheus)")
        pytest.fail("prometheus is missing on CI: .ci/run installs Debian's package")
    started: dict[str, Any] = {}

    def start(rules: str) -> str:
        folder = tmp_path / "prometheus"
        folder.mkdir()
        (folder / "rules.yml").write_text(rules)
        (folder / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(folder / "rules.yml")],
            "scrape_configs": [{"job_name": "ray",
                                "static_configs": [{"targets": _ray_targets()}]}]}))
        port = _free_port()
        log = (folder / "prometheus.log").open("w")
        started["log"], started["path"] = log, folder / "prometheus.log"
        started["process"] = subprocess.Popen(
            [binary, f"--config.file={folder / 'prometheus.yml'}",
             f"--storage.tsdb.path={folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert started["process"].poll() is None, started["path"].read_text()[-3000:]
            try:
                return requests.get(f"{base}/-/ready", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        _until(ready, 60, "Prometheus to start")
        return base

    try:
        yield {"start": start}
    finally:
        process = started.get("process")
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
            started["log"].close()


def _series(name: str, **labels: str) -> str:
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    r = requests.get(f"{base}/api/v1/query", params={"query": expr}, timeout=10)
    r.raise_for_status()
    return r.json()["data"]["result"]  # type: ignore[no-any-return]


def _alerts(base: str) -> list[dict[str, Any]]:
    r = requests.get(f"{base}/api/v1/alerts", timeout=10)
    r.raise_for_status()
    return r.json()["data"]["alerts"]  # type: ignore[no-any-return]


def test_real_prometheus_fires_the_fast_burn_page_for_a_failing_candidate_only(
        ray_session: str, serve_port: int, prometheus: dict[str, Any], data_dir: str,
        tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from lifecycle.api import prometheus_rules
    from lifecycle.runtime.rollout import controller as rollout
    from lifecycle.runtime.serve import control

    write(ROOT / data_dir, rows=3000)
    data = [f"data.train.path={data_dir}/train.parquet",
            f"data.eval.path={data_dir}/eval.parquet"]
    options = RunOptions(project_root=ROOT, store=str(tmp_path / "store"),
                         tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", spec_path=str(FRAUD),
                         show_progress=False, serve_host="127.0.0.1", serve_port=serve_port,
                         serve_timeout_s=240)
    stable = run_plan(compile_approved(FRAUD, data + TRAIN + NOT_SERVED), options)
    assert stable.exit_code == ExitCode.OK, stable.message
    client = MlflowClient(options.tracking_uri)
    v1 = str(client.get_model_version_by_alias(APP, "challenger").version)
    client.set_registered_model_alias(APP, "champion", v1)

    plan = compile_approved(FRAUD, data + TRAIN + SERVE + FAULTY + [SLOS])
    base = prometheus["start"](prometheus_rules(plan))  # the file compile writes
    try:
        result = run_plan(plan, options)  # returns with the canary step live
        assert result.exit_code == ExitCode.OK, result.message
        versions = result.outcome("deploy").outputs["versions"]  # type: ignore[union-attr]
        v2 = versions["candidate"]
        assert versions["stable"] == v1 and v2 != v1
        page = {"alertname": "LifecycleErrorBudgetBurn", "application": APP, "slo": "availability",
                "long_window": "1h", "short_window": "5m"}

        def firing(slot: str, version: str) -> list[dict[str, Any]]:
            return [a for a in _alerts(base) if a["state"] == "firing"
                    and a["labels"].items() >= {**page, "slot": slot, "version": version}.items()]

        with Background(f"http://127.0.0.1:{serve_port}/fraud") as traffic:
            t0 = time.time()
            fired = _until(lambda: firing("candidate", v2), 150, "the candidate's fast-burn page")
            print(f"fast-burn page fired {time.time() - t0:.0f} s after the failures began")
            # the stable version's budget is read over the same seconds: recorded, unburnt
            stable_burn = _query(base, _series("lifecycle:slo_burn_rate:rate5m",
                                               slo="availability", slot="stable", version=v1))
            stable_alerts = _query(base, _series("ALERTS", alertname=page["alertname"],
                                                 slot="stable"))
            candidate_ratio = _query(base, _series("lifecycle:slo_error_ratio:rate5m",
                                                   slo="availability", slot="candidate",
                                                   version=v2))
        assert len(fired) == 1, fired
        assert fired[0]["labels"]["severity"] == "page"
        assert fired[0]["annotations"]["actions"] == "alert"
        assert len(stable_burn) == 1, stable_burn
        assert float(stable_burn[0]["value"][1]) == 0.0, stable_burn
        assert stable_alerts == []
        # Prometheus' error ratio is the candidate's: about half of its answers failed
        assert 0.3 <= float(candidate_ratio[0]["value"][1]) <= 0.7, candidate_ratio
        failed = [r for r in traffic.results if r[1] != 200]
        assert failed and all("slot 'candidate' failed" in (r[3] or "") for r in failed)
    finally:
        control.delete(APP)
        controller = rollout.find(APP)
        if controller is not None:
            import ray

            ray.kill(controller)
