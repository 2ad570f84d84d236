"""Which Ray: a local one started on demand (the default), or an existing cluster the
plan is submitted to as a Ray Job (Ray Client breaks Ray Data in 2.60; Jobs work)."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import ExitCode
from ..plan import Plan
from ..runtime.contract import (
    HAPROXY_RETRIES,
    JOB_ENV,
    SERVE_FAST_MODE,
    SOURCE_ENV,
    JobRef,
    RunStatus,
)
from ..store import Journal, Store, new_run_id, read_journal
from .endings import RunStopped, stop_signals
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
    # inside a Ray Job the supervisor sets RAY_ADDRESS; `run --address auto|HOST:6379`
    # drives a cluster from here; tests attach a second driver
    attach = os.environ.get("LIFECYCLE_RAY_ATTACH") or options.address or \
        os.environ.get("RAY_ADDRESS")
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
    from .cluster import reaching

    if kwargs["address"] == "local":
        with serve_fast_mode():
            ray.init(**kwargs)
    else:
        with reaching(str(kwargs["address"])):
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
            "RAY_SERVE_HAPROXY_METRICS_PORT": str(_free_port()), **HAPROXY_RETRIES})
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


def job_id_of(run_id: str) -> str:
    """The Ray Job a `run --address` submits for run `run_id` (what `stop` stops)."""
    return f"lifecycle-{run_id}"


TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


def submit_job(plan: Plan, options: RunOptions, on_line: Callable[[str], None]) -> ExitCode:
    """Submit the self-contained plan as a Ray Job under a run id chosen here; stream its
    logs; map its status. The client's git commit travels with it (the job's working dir
    has no .git). Ctrl-C or SIGTERM here stops the job (a second Ctrl-C leaves it
    running); a job that ended without journaling its ending (its driver killed hard)
    gets the ending recorded from here when the store is shared."""
    from ..runtime.jobs import submit_plan
    from .cluster import dashboard_url, jobs_client, reaching

    address = dashboard_url(options.address or os.environ["RAY_ADDRESS"])
    client = jobs_client(address)
    run_id = options.run_id = options.run_id or new_run_id()
    job = JobRef(id=job_id_of(run_id), address=address)
    args = ["--store", options.resolved_store(), "--tracking-uri",
            options.resolved_tracking_uri(), "--spec-path", options.spec_path,
            "--run-id", run_id, "--events", "json"]
    args += [flag for flag, on in (("--force", options.force), ("--wait", options.wait),
                                   ("--verbose", options.verbose)) if on]
    if options.serve_host:
        args += ["--serve-host", options.serve_host]
    env = {SOURCE_ENV: options.resolved_source().model_dump_json(),
           JOB_ENV: job.model_dump_json()}
    with reaching(address):
        submit_plan(client, plan.to_json(), args, str(options.project_root), env,
                    submission_id=job.id)
    on_line(f"submitted Ray Job {job.id} to {address} as run {run_id} "
            f"(`lifecycle stop {run_id}` stops it)")
    with stop_signals():
        try:
            status = _follow(client, job.id, on_line)
        except (KeyboardInterrupt, RunStopped) as exc:
            status = _stop(client, job.id, on_line, exc)
    store = Store(options.resolved_store())
    code = _exit_code(client, job.id, status, store, run_id)
    _record_ending(client, job.id, status, store, run_id)
    return code


def _follow(client: Any, job_id: str, on_line: Callable[[str], None]) -> str:
    import asyncio

    async def tail() -> None:
        async for chunk in client.tail_job_logs(job_id):
            for line in chunk.splitlines():
                on_line(line)

    try:
        asyncio.run(tail())
    except Exception:  # log streaming is best effort; the status below is what counts
        pass
    while (status := str(client.get_job_status(job_id)).split(".")[-1]) not in TERMINAL:
        time.sleep(1)
    return status


def _stop(client: Any, job_id: str, on_line: Callable[[str], None],
          why: BaseException) -> str:
    """Stop the job (its run journals `stopped`); a second Ctrl-C leaves it running."""
    on_line(f"{'Ctrl-C' if isinstance(why, KeyboardInterrupt) else why}: stopping Ray Job "
            f"{job_id} (Ctrl-C again leaves it running)")
    try:
        client.stop_job(job_id)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = str(client.get_job_status(job_id)).split(".")[-1]
            if status in TERMINAL:
                return status
            time.sleep(0.5)
        on_line(f"Ray Job {job_id} has not stopped after 60 s")
        return "RUNNING"
    except KeyboardInterrupt:
        on_line(f"left Ray Job {job_id} running")
        raise


def _exit_code(client: Any, job_id: str, status: str, store: Store, run_id: str) -> ExitCode:
    """The run's own exit code when its journal is in reach, else the job's."""
    end = next((r for r in read_journal(store, run_id) if r["event"] == "run_finished"),
               None)
    if end is not None:
        return ExitCode(end["exit_code"])
    if status == "SUCCEEDED":
        return ExitCode.OK
    if status == "STOPPED":
        return ExitCode.STOPPED
    if status == "RUNNING":  # left running by a second Ctrl-C
        return ExitCode.INTERRUPTED
    return exit_code_of(client.get_job_info(job_id).message or "")


def exit_code_of(message: str) -> ExitCode:
    """A failed job's exit code from the Jobs API's message ("... failed with exit code
    2"): lifecycle's own codes as they are; a driver killed by a signal (137, -9, ...) or
    anything else is a runtime failure."""
    found = re.search(r"(?:exit|exited with) code (-?\d+)\b", message)
    code = int(found.group(1)) if found else None
    return ExitCode(code) if code in (1, 2, 3, 130, 143) else ExitCode.RUNTIME


def _record_ending(client: Any, job_id: str, status: str, store: Store, run_id: str) -> None:
    """A job that ended FAILED or STOPPED without its run journaling an ending (the
    driver killed hard, its node lost) is recorded as what it was — when the run's
    journal is in reach here (a shared store)."""
    records = list(read_journal(store, run_id))
    if not records or status not in ("FAILED", "STOPPED") or any(
            r["event"] == "run_finished" for r in records):
        return
    message = client.get_job_info(job_id).message or ""
    ending = RunStatus.STOPPED if status == "STOPPED" else RunStatus.FAILED
    Journal(store, run_id, writer="client").append(
        "run_finished", status=ending.value,
        exit_code=int(ExitCode.STOPPED if status == "STOPPED" else ExitCode.RUNTIME),
        message=f"its Ray Job {job_id} ended {status}: {message}".strip(),
        recorded_by="the client that submitted it")
