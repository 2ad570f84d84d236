"""The retrain action: a new run of the same plan, started on the cluster by the monitor.
It goes through every stage again (data read afresh — with `recent_data`, only the rows
that recent by `data.time_column` — training forced, the same evaluation
gates, a new registered version, and the same canary and gates when it deploys), so a
retrained model is held to the bar the first one was. The monitor's limiter decides
whether it may start; this module only starts it."""

from __future__ import annotations

from typing import Any

import ray


@ray.remote(num_cpus=0, max_retries=0)
def _run(config: dict[str, Any], run_id: str, reason: str) -> int:
    from pathlib import Path

    from ...execute.options import RunOptions
    from ...execute.runner import run_plan
    from ...execute.storage import Store
    from ...plan import Plan

    plan = Plan.model_validate(Store(config["store"]).read_json(config["plan"]))
    options = RunOptions(project_root=Path(config["project_root"]), store=config["store"],
                         tracking_uri=config["tracking_uri"], force=True,
                         spec_path=config.get("spec_path", ""), show_progress=False,
                         serve_host=config.get("serve_host"),
                         serve_port=config.get("serve_port"), trigger=f"retrain: {reason}",
                         recent_data_s=config.get("recent_data_s"))
    result = run_plan(plan, options, run_id=run_id)
    return int(result.exit_code)


def start(config: dict[str, Any], reason: str) -> str:
    """Start the run (fire-and-forget; it journals itself) and return its run id."""
    from ...execute.runner import new_run_id

    run_id = new_run_id()
    ref = _run.options(name=f"retrain:{run_id}").remote(config, run_id, reason)
    RUNNING[run_id] = ref
    return run_id


RUNNING: dict[str, Any] = {}  # run id -> ObjectRef (kept so the task is not orphaned)
