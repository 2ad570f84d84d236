"""`lifecycle status`: runs and their stages, read back from the journals (no Ray)."""

from __future__ import annotations

from typing import Any

from ..store import Store, list_runs, read_journal


def run_summaries(store: Store, spec: str | None = None) -> list[dict[str, Any]]:
    out = []
    for run_id in list_runs(store):
        records = list(read_journal(store, run_id))
        if not records:
            continue
        start = records[0]
        if spec and start.get("spec") != spec:
            continue
        end = next((r for r in records if r["event"] == "run_finished"), None)
        stages: dict[str, dict[str, Any]] = {}
        for r in records:
            if r["event"].startswith("stage_"):
                stages[r["stage"]] = {"status": r["event"].removeprefix("stage_"),
                                      "seconds": r.get("seconds"),
                                      "message": r.get("message") or r.get("reason", "")}
        status = (end["status"] if end else
                  "interrupted" if any(r["event"] == "run_interrupted" for r in records)
                  else "incomplete")
        out.append({"run_id": run_id, "spec": start.get("spec"), "started": start["time"],
                    "status": status, "exit_code": end.get("exit_code") if end else None,
                    "stages": stages, "plan_hash": start.get("plan_hash")})
    return out
