"""Which Ray: a local one started on demand (the default), or an existing cluster the
plan is submitted to as a Ray Job (Ray Client breaks Ray Data in 2.60; Jobs work)."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import ExitCode
from ..plan import Plan
from ..runtime.contract import SERVE_FAST_MODE
from .context import StageFailed
from .options import RunOptions


def start_local(plan: Plan, options: RunOptions) -> str:
    """ray.init for this process, unless Ray is already up (a job, a test session).
    Logical CPUs cover the plan's peak (Ray Data starves when training workers take
    every CPU); the user's code travels to workers through PYTHONPATH."""
    import ray

    if ray.is_initialized():
        return ""
    peak = max((s.resources.cpus for s in plan.stages if s.kind in ("train", "tune")),
               default=1.0)
    # Ray 2.60 does not release a Train V2 worker group's resources when Tune stops its
    # trial early (ray-project/ray#54305): on the local cluster every trial gets logical
    # CPUs of its own, so an early-stopped trial cannot starve the next one.
    leaked = sum(s.train.num_workers * s.train.cpus_per_worker * s.num_samples
                 for s in plan.stages if s.kind == "tune")
    kwargs: dict[str, Any] = dict(
        # logical CPUs: the peak of training plus room for Ray Data's read tasks
        num_cpus=max(os.cpu_count() or 1, int(max(peak, leaked) + 0.999)) + 2,
        # a monitor's retrain is a Ray Job, and the Jobs API is the dashboard's
        include_dashboard=_retrains(plan), dashboard_host="127.0.0.1", log_to_driver=True,
        runtime_env={"env_vars": {"PYTHONPATH": _pythonpath(str(options.project_root)),
                                  "RAY_DATA_DISABLE_PROGRESS_BARS": "1"}})
    # inside a Ray Job the supervisor sets RAY_ADDRESS; tests attach a second driver
    attach = os.environ.get("LIFECYCLE_RAY_ATTACH") or os.environ.get("RAY_ADDRESS")
    if attach:
        # a Ray Job's driver (a retrain, `run --address`) already has the job's runtime
        # env, PYTHONPATH included: Ray refuses a second one naming the same variables
        in_job = "RAY_JOB_CONFIG_JSON_ENV_VAR" in os.environ
        kwargs = {"address": attach, **({} if in_job else {
            "runtime_env": kwargs["runtime_env"]})}
    else:
        kwargs["address"] = "local"
    kwargs.update(options.ray_init)
    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    if kwargs["address"] == "local":
        with serve_fast_mode():
            ray.init(**kwargs)
    else:
        ray.init(**kwargs)
    # "local": this process owns the cluster, which (with its Serve apps) ends with it
    return "local" if kwargs["address"] == "local" else "attached"


@contextmanager
def serve_fast_mode() -> Iterator[dict[str, str]]:
    """Ray Serve's high-throughput settings for the Ray started inside this block (every
    Ray process reads them when it starts, so they are set around `ray.init` only, and
    a `ray start` this process launches later does not inherit them). A setting already
    in the environment wins: `RAY_SERVE_ENABLE_HA_PROXY=0` opts out. HAProxy's files and
    its stats and metrics ports are made this Ray's own, so two local Rays on one machine
    (a test session and a cluster it starts) do not share them. Yields what it set."""
    applied = {k: v for k, v in SERVE_FAST_MODE.items() if k not in os.environ}
    if os.environ.get("RAY_SERVE_ENABLE_HA_PROXY", applied.get("RAY_SERVE_ENABLE_HA_PROXY")) \
            == "1":
        folder = tempfile.mkdtemp(prefix="lc-hap-", dir="/tmp")  # a UNIX socket path is short
        atexit.register(shutil.rmtree, folder, True)
        applied.update({
            "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": f"{folder}/haproxy.cfg",
            "RAY_SERVE_HAPROXY_SOCKET_PATH": f"{folder}/admin.sock",
            "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": folder,
            "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": f"{folder}/server-state",
            "RAY_SERVE_HAPROXY_STATS_PORT": str(_free_port()),
            "RAY_SERVE_HAPROXY_METRICS_PORT": str(_free_port()),
            # lifecycle's routes are idempotent (scoring changes nothing; a label posted
            # twice counts once), so a request whose replica died before answering (the
            # connection closed, nothing sent back) is replayed on another replica rather
            # than failed: HAProxy's default retries connection failures only
            "RAY_SERVE_HAPROXY_RETRY_ON": "conn-failure empty-response junk-response",
            "RAY_SERVE_HAPROXY_RETRIES": "2"})
        applied = {k: v for k, v in applied.items() if k not in os.environ}
    os.environ.update(applied)
    try:
        yield applied
    finally:
        for k in applied:
            os.environ.pop(k, None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _retrains(plan: Plan) -> bool:
    return any("retrain" in m.on_drift + m.on_outlier
               for s in plan.stages if s.kind == "monitor" for m in s.monitors)


def _pythonpath(root: str) -> str:
    existing = os.environ.get("PYTHONPATH")
    return root + (os.pathsep + existing if existing else "")


def submit_job(plan: Plan, options: RunOptions, on_line: Callable[[str], None]) -> ExitCode:
    """Submit the self-contained plan as a Ray Job; stream its logs; map its status."""
    from ray.job_submission import JobStatus, JobSubmissionClient

    address = options.address or os.environ["RAY_ADDRESS"]
    if address.startswith("ray://"):
        raise StageFailed("ray:// (Ray Client) is not supported: it breaks Ray Data",
                          ExitCode.INVALID_INPUT,
                          hint="give the dashboard address instead, e.g. http://head:8265")
    if not address.startswith("http"):
        address = f"http://{address}"
    from ..runtime.jobs import submit_plan

    client = JobSubmissionClient(address)
    args = ["--store", options.resolved_store(), "--tracking-uri",
            options.resolved_tracking_uri(), "--spec-path", options.spec_path]
    if options.force:
        args.append("--force")
    if options.wait:
        args.append("--wait")
    job_id = submit_plan(client, plan.to_json(), args, str(options.project_root))
    on_line(f"submitted Ray Job {job_id} to {address}")
    import asyncio

    async def tail() -> None:
        async for chunk in client.tail_job_logs(job_id):
            for line in chunk.splitlines():
                on_line(line)

    try:
        asyncio.run(tail())
    except Exception:  # log streaming is best effort; the status below is what counts
        pass
    while True:
        status = client.get_job_status(job_id)
        if status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED):
            break
        time.sleep(1)
    if status == JobStatus.SUCCEEDED:
        return ExitCode.OK
    info = client.get_job_info(job_id)
    message = info.message or ""
    for code in (ExitCode.POLICY, ExitCode.INVALID_INPUT, ExitCode.RUNTIME):
        if f"exit code {int(code)}" in message or f"exited with code {int(code)}" in message:
            return code
    return ExitCode.RUNTIME


