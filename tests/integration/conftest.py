"""One real local Ray for the whole session (NOTES: ray.init ~4 s), shared by every
integration test; each test gets its own store and MLflow sqlite database."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import ROOT


@pytest.fixture(scope="session")
def ray_session() -> Iterator[str]:
    import ray

    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    # logical CPUs beyond the 2 cores: Tune's early-stopped trials leak their Train
    # resources (ray-project/ray#54305) and Serve replicas hold theirs; 6 deadlocked a
    # later training test once serving tests were added
    import socket

    with socket.socket() as s:  # the dashboard serves the Jobs API a monitor's retrain uses
        s.bind(("127.0.0.1", 0))
        dashboard_port = s.getsockname()[1]
    from lifecycle.execute.connection import serve_fast_mode

    # the feedback route's credential (serve.feedback.token's default reference): in the
    # environment the Router replicas inherit
    os.environ.setdefault("LIFECYCLE_FEEDBACK_TOKEN", "integration-feedback-token")

    with serve_fast_mode():  # Serve runs in the mode lifecycle's own local Ray starts with
        ray.init(address="local", num_cpus=12, include_dashboard=True,
                 dashboard_host="127.0.0.1", dashboard_port=dashboard_port,
                 object_store_memory=512 * 1024 * 1024, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(ROOT),
                                           "RAY_DATA_DISABLE_PROGRESS_BARS": "1"}})
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture
def data_dir() -> Iterator[str]:
    """A data folder inside the repository (specs may not read outside it), removed
    afterwards; returned relative to the repository root."""
    rel = f".test-data/{uuid.uuid4().hex[:8]}"
    (ROOT / rel).mkdir(parents=True)
    try:
        yield rel
    finally:
        shutil.rmtree(ROOT / rel, ignore_errors=True)


@pytest.fixture
def run_options(tmp_path: Path):  # type: ignore[no-untyped-def]
    from lifecycle.execute import RunOptions

    return RunOptions(project_root=ROOT, store=str(tmp_path / "store"),
                      tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", spec_path="specs/fraud.yaml",
                      show_progress=False)


@pytest.fixture(scope="session")
def serve_port(ray_session: str) -> Iterator[int]:
    """Ray Serve on the session's Ray, HTTP on 127.0.0.1 and a free port; every
    application and rollout controller left behind is removed at the end."""
    import socket

    import ray
    from ray import serve

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        yield port
    finally:
        from lifecycle.runtime.contract import NAMESPACE

        for name in ray.util.list_named_actors(all_namespaces=True):
            if name.get("namespace") == NAMESPACE:
                ray.kill(ray.get_actor(name["name"], namespace=NAMESPACE))
        serve.shutdown()
