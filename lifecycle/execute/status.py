"""`lifecycle status`: runs and their stages, read back from the journals (no Ray).

A run's status is its journaled ending (`run_finished`). A run with no ending is
`running` while its process is alive on this machine, else `incomplete` (killed hard, or
running elsewhere: the summary names the host). Nothing that did not finish its walk is
shown as `succeeded`, also from journals written before endings were recorded: a stage
left `started` makes the run `incomplete`, and such a stage shows how the run ended."""

from __future__ import annotations

import os
import socket
from typing import Any

from ..runtime.contract import RunStatus
from ..store import Store, list_runs, read_journal


def _alive(start: dict[str, Any]) -> bool:
    if start.get("host") != socket.gethostname() or not isinstance(start.get("pid"), int):
        return False
    try:
        os.kill(start["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def run_status(records: list[dict[str, Any]]) -> RunStatus:
    """How the run the journal `records` describe ended (or that it has not)."""
    end = next((r for r in records if r["event"] == "run_finished"), None)
    if end is None:
        if any(r["event"] == "run_interrupted" for r in records):  # older journals
            return RunStatus.INTERRUPTED
        return RunStatus.RUNNING if _alive(records[0]) else RunStatus.INCOMPLETE
    status = RunStatus(end["status"])
    last = _last_stage_events(records)
    if status == RunStatus.SUCCEEDED and any(e == "stage_started" for e in last.values()):
        return RunStatus.INCOMPLETE
    return status


def _last_stage_events(records: list[dict[str, Any]]) -> dict[str, str]:
    last: dict[str, str] = {}
    for r in records:
        if r["event"].startswith("stage_") and "stage" in r:
            last[r["stage"]] = r["event"]
    return last


def run_summary(run_id: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    start = records[0]
    status = run_status(records)
    end = next((r for r in records if r["event"] == "run_finished"), None)
    stages: dict[str, dict[str, Any]] = {}
    for r in records:
        if r["event"].startswith("stage_") and "stage" in r:
            stages[r["stage"]] = {"status": r["event"].removeprefix("stage_"),
                                  "seconds": r.get("seconds"),
                                  "message": r.get("message") or r.get("reason", "")}
    if status != RunStatus.RUNNING:  # a stage caught mid-way ended with the run
        for s in stages.values():
            if s["status"] == "started":
                s["status"] = status.value
    return {"run_id": run_id, "spec": start.get("spec"), "started": start["time"],
            "status": status.value, "exit_code": end.get("exit_code") if end else None,
            "message": (end or {}).get("message") or "", "host": start.get("host"),
            "stages": stages, "plan_hash": start.get("plan_hash"),
            "source": start.get("source"), "ray_job": start.get("ray_job")}


def run_summaries(store: Store, spec: str | None = None) -> list[dict[str, Any]]:
    out = []
    for run_id in list_runs(store):
        records = list(read_journal(store, run_id))
        if not records or (spec and records[0].get("spec") != spec):
            continue
        out.append(run_summary(run_id, records))
    return out
