"""rollout: start the application's rollout controller (a detached Ray actor) and return
once the first step is live; with --wait, or on a local Ray that ends with this process,
follow it to the end. A rollback is a failed gate: exit 1, with the reason."""

from __future__ import annotations

import time
from typing import Any

from ...errors import ExitCode
from ...plan import RolloutStage
from ..context import StageContext, StageFailed

ENDED = ("promoted", "rolled_back", "failed")


def controller_config(stage: RolloutStage, ctx: StageContext) -> dict[str, Any]:
    deployed = ctx.upstream["deploy"]
    monitors = ctx.plan.stage("monitor").monitors \
        if any(s.kind == "monitor" for s in ctx.plan.stages) else []
    return {
        "application": deployed["application"], "model": ctx.plan.stage("deploy").model,
        "strategy": stage.strategy, "on_failure": stage.on_failure,
        "steps": [s.model_dump(mode="json") for s in stage.steps],
        "gate_interval_s": stage.gate_interval_s, "versions": deployed["versions"],
        "shadow": deployed["router"].get("shadow"), "champion_alias": "champion",
        "tracking_uri": ctx.tracking.uri if ctx.tracking else None,
        "mlflow_run_id": ctx.tracking.parent_id if ctx.tracking else None,
        "journal": {"store": ctx.store.uri, "run_id": ctx.run_id},
        "monitors": [m.name for m in monitors],
        "block_promotion": [m.name for m in monitors
                            if "block_promotion" in m.on_drift + m.on_outlier],
        # what a promotion is held to: plan.approvals.promotion_refusal(candidate's tags,
        # approved_digest, approvals) must say nothing (docs/approvals.md)
        "approved_digest": stage.approved_digest,
        "approvals": [a.model_dump(mode="json") for a in
                      (ctx.plan.approvals.counted if ctx.plan.approvals else [])],
    }


def run(stage: RolloutStage, ctx: StageContext) -> dict[str, Any]:
    import ray

    from ...runtime.serve import rollout

    handle = rollout.start(controller_config(stage, ctx))
    state = ray.get(handle.wait_live.remote(ctx.options.serve_timeout_s))
    if ctx.options.wait or ctx.ephemeral_ray:
        while state["status"] not in ENDED:
            time.sleep(1.0)
            state = ray.get(handle.status.remote())
    out = {"application": state["application"], "status": state["status"],
           "step": state["step"], "weights": state["weights"], "versions": state["versions"]}
    if state["status"] == "rolled_back":
        raise StageFailed(f"the rollout was rolled back: {state['reason']}", ExitCode.POLICY,
                          hint="the stable version serves all traffic; see the journal and "
                          "`lifecycle status`", details=out)
    if state["status"] == "failed":
        raise StageFailed(f"the rollout failed: {state['reason']}", ExitCode.RUNTIME,
                          details=out)
    return out
