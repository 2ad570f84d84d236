"""`lifecycle stop RUN_ID`: stop a run by its id — its Ray Job (`run --address`, a
retrain), or its process on this machine (a local `run`) — and journal who asked. Either
way the run gets SIGTERM and journals its own ending, `stopped`."""

from __future__ import annotations

import getpass
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

from ..errors import InputError, LifecycleError, Location, Problem, RuntimeFailure
from ..runtime.contract import RunStatus
from ..store import Journal, Store, read_journal
from .status import run_summary

UNFINISHED = (RunStatus.RUNNING.value, RunStatus.INCOMPLETE.value)


def _refuse(code: str, message: str, hint: str, cls: type[LifecycleError] = InputError
            ) -> LifecycleError:
    loc = Location(origin="RUN_ID")
    return cls(message, location=loc, hint=hint, problems=(Problem(code, message, "", loc,
                                                                   hint),))


def stop_run(store: Store, run_id: str, address: str | None = None,
             wait_s: float = 60.0) -> dict[str, Any]:
    """Ask the run to stop; wait up to `wait_s` for its ending. Raises when there is
    nothing to stop (no such run, already ended, its process gone)."""
    from .connection import job_id_of

    records = list(read_journal(store, run_id))
    summary = run_summary(run_id, records) if records else None
    if summary is not None and summary["status"] not in UNFINISHED:
        raise _refuse("stop.ended", f"run {run_id} has already ended ({summary['status']}): "
                      "nothing to stop", "`lifecycle status` lists the runs and how each ended")
    job = (summary or {}).get("ray_job") or {}
    target = address or job.get("address") or os.environ.get("RAY_ADDRESS")
    if summary is None and target is None:
        raise _refuse("stop.not-found", f"no run {run_id} in {store.uri}",
                      "`lifecycle status` lists the runs of this store; pass --store, or "
                      "--address to stop the run's Ray Job on a cluster")
    asked = Journal(store, run_id, writer="stop")

    def note(how: str) -> None:  # before the stop: the run's ending comes after it
        if records:
            asked.append("stop_requested", by=f"{getpass.getuser()}@{socket.gethostname()}",
                         how=how)

    if job or (summary is None and target is not None):
        how = _stop_job(target or "", job.get("id") or job_id_of(run_id), run_id, note)
    else:
        how = _signal_process(records[0], run_id, note)
    status = summary["status"] if summary else None
    deadline = time.monotonic() + wait_s
    while records and time.monotonic() < deadline:
        now = run_summary(run_id, list(read_journal(store, run_id)))
        if now["status"] not in UNFINISHED:
            status = now["status"]
            break
        time.sleep(0.5)
    return {"run_id": run_id, "how": how, "status": status}


def _stop_job(address: str, job_id: str, run_id: str, note: Callable[[str], None]) -> str:
    from .cluster import jobs_client, reaching

    client = jobs_client(address)
    how = f"Ray Job {job_id} at {address}"
    note(how)
    try:
        with reaching(address):
            running = client.stop_job(job_id)
    except RuntimeError as exc:  # the Jobs API answers: no such job
        raise _refuse("stop.not-found", f"the cluster at {address} has no Ray Job {job_id} "
                      f"(run {run_id}): {exc}", "`ray job list` on the cluster lists its jobs",
                      RuntimeFailure) from None
    if not running:
        raise _refuse("stop.ended", f"Ray Job {job_id} (run {run_id}) is not running",
                      "`lifecycle status` (or `ray job status`) says how it ended")
    return how


def _signal_process(start: dict[str, Any], run_id: str, note: Callable[[str], None]) -> str:
    host, pid = start.get("host"), start.get("pid")
    if host != socket.gethostname():
        raise _refuse("stop.elsewhere", f"run {run_id} runs on {host} (pid {pid}), not here",
                      "run `lifecycle stop` on that machine", RuntimeFailure)
    if not isinstance(pid, int) or pid <= 1:  # never a process group, never init
        raise _refuse("stop.gone", f"run {run_id}'s journal names no process to stop",
                      "pass --address to stop its Ray Job", RuntimeFailure)
    how = f"SIGTERM to process {pid} on {host}"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise _refuse("stop.gone", f"run {run_id}'s process ({pid}) is gone: it was killed "
                      "before it could record an ending", "nothing to stop; "
                      "`lifecycle status` shows it as incomplete", RuntimeFailure) from None
    note(how)
    os.kill(pid, signal.SIGTERM)
    return how
