"""A run of a stored plan as a Ray Job: what `lifecycle run --address` submits from a
laptop and what a Monitor's retrain submits from inside the cluster — one path. The job
runs `lifecycle run-plan` with the plan in LIFECYCLE_PLAN_JSON, so the cluster needs
nothing but the plan and the project's code."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# what never travels with the project's code: environments and state
EXCLUDES = [".venv", "venv", ".git", ".lifecycle", "**/__pycache__", ".mypy_cache",
            ".pytest_cache", ".hypothesis", "*.egg-info", "build", "dist", "mlruns",
            "mlflow.db"]
ENV_PASSED = ("MLFLOW_TRACKING_URI", "LIFECYCLE_STORE", "LIFECYCLE_TODAY",
              "LIFECYCLE_TORCH_BACKEND", "LIFECYCLE_DATA_DISTRIBUTED_BYTES")


class NoJobsApi(RuntimeError):
    """The cluster runs without its dashboard, which serves the Jobs API."""


def jobs_address() -> str:
    """The Jobs API of the cluster this process is connected to (its dashboard)."""
    from ray._private.services import get_webui_url_from_internal_kv

    url = os.environ.get("LIFECYCLE_JOBS_ADDRESS") or get_webui_url_from_internal_kv()
    if not url:
        raise NoJobsApi("this Ray cluster runs without its dashboard, which serves the Jobs "
                        "API: start it with --include-dashboard=true (KubeRay: the head's "
                        "dashboard is on by default)")
    return url if url.startswith("http") else f"http://{url}"


@contextmanager
def _gitignored_files_travel() -> Iterator[None]:
    """The project travels as the job's working_dir, data under it included (Ray would
    drop what .gitignore lists, and data folders usually are): EXCLUDES keep environments
    and state out. Large data belongs on a pyarrow.fs URI."""
    previous = os.environ.get("RAY_RUNTIME_ENV_IGNORE_GITIGNORE")
    os.environ["RAY_RUNTIME_ENV_IGNORE_GITIGNORE"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("RAY_RUNTIME_ENV_IGNORE_GITIGNORE", None)
        else:
            os.environ["RAY_RUNTIME_ENV_IGNORE_GITIGNORE"] = previous


def submit_plan(client: Any, plan_json: str, args: list[str], project: str | None,
                env: dict[str, str] | None = None, submission_id: str | None = None,
                local_project: bool = False) -> str:
    """Submit `lifecycle run-plan ARGS` on `plan_json`; returns the job id.

    `project` is the project's code: a folder uploaded as the job's working_dir, or the
    package URI an earlier job uploaded (`gcs://_ray_pkg_...zip`); with `local_project`
    the folder is already on the node that runs the job (a local cluster), and the job
    runs there instead of uploading it again."""
    env_vars = {"LIFECYCLE_PLAN_JSON": plan_json}
    env_vars.update({k: os.environ[k] for k in ENV_PASSED if os.environ.get(k)})
    env_vars.update(env or {})
    command = " ".join(map(shlex.quote, [sys.executable, "-m", "lifecycle", "run-plan",
                                         *args]))
    runtime_env: dict[str, Any] = {"env_vars": env_vars}
    if project is not None and local_project:
        command = f"cd {shlex.quote(project)} && {command}"
        runtime_env["env_vars"]["PYTHONPATH"] = project + (
            os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
    elif project is not None:
        runtime_env.update(working_dir=project, excludes=EXCLUDES)
    with _gitignored_files_travel():
        return str(client.submit_job(entrypoint=command, runtime_env=runtime_env,
                                     submission_id=submission_id))
