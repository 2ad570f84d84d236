"""rollout: start the application's rollout controller (a detached Ray actor) and return
once the first step is live; with --wait, or on a local Ray that ends with this process,
follow it to the end. A rollback is a failed gate: exit 1, with the reason."""

from __future__ import annotations

import time
from typing import Any

from ...errors import ExitCode
from ...plan import Plan, RolloutStage
from ...plan.approvals import recorded_digest
from ...runtime.contract import (
    ControllerConfig,
    JournalRef,
    RolloutPhase,
    RolloutStatus,
    RouterConfig,
    ShadowConfig,
    Slot,
)
from ..context import StageContext, StageFailed


def plan_config(plan: Plan, versions: dict[Slot, str | None],
                shadow: ShadowConfig | None) -> ControllerConfig:
    """The controller's config from the plan alone (`lifecycle rollout simulate` uses it
    with made-up versions; the rollout stage with the deployed ones)."""
    stage: RolloutStage = plan.stage("rollout")
    deploy = plan.stage("deploy")
    monitors = plan.stage("monitor").monitors \
        if any(s.kind == "monitor" for s in plan.stages) else []
    return ControllerConfig(
        application=deploy.application, model=deploy.model, topology=deploy.topology,
        strategy=stage.strategy, on_failure=stage.on_failure,
        on_inconclusive=stage.on_inconclusive, confidence=stage.confidence, steps=stage.steps,
        gate_interval_s=stage.gate_interval_s, versions=versions, shadow=shadow,
        preview_max_queued=stage.preview_max_queued, tracking_uri=None, mlflow_run_id=None,
        journal=None, monitors=[m.name for m in monitors],
        block_promotion=[m.name for m in monitors if "block_promotion" in m.on_drift
                         + m.on_outlier + (m.quality.on_drop if m.quality else [])],
        # what a promotion is held to: plan.approvals.promotion_refusal(candidate's tags,
        # approved_digest, approvals) must say nothing (docs/approvals.md)
        approved_digest=stage.approved_digest,
        approvals=list(plan.approvals.counted) if plan.approvals else [],
        slos=list(plan.slos))


def controller_config(stage: RolloutStage, ctx: StageContext) -> ControllerConfig:
    deployed = ctx.upstream["deploy"]
    router = RouterConfig.model_validate(deployed["router"])
    config = plan_config(ctx.plan, {Slot(k): v for k, v in deployed["versions"].items()},
                         router.shadow)
    return config.model_copy(update={
        "tracking_uri": ctx.tracking.uri if ctx.tracking else None,
        "mlflow_run_id": ctx.tracking.parent_id if ctx.tracking else None,
        "journal": JournalRef(store=ctx.store.uri, run_id=ctx.run_id),
        "candidate_digest": _candidate_digest(config, ctx),
        "freshness": router.freshness})


def _candidate_digest(config: ControllerConfig, ctx: StageContext) -> str | None:
    """The approval digest the candidate version carries (the deploy stage tagged it)."""
    candidate = config.versions.get(Slot.CANDIDATE)
    if config.approved_digest is None or candidate is None or ctx.tracking is None:
        return None
    from mlflow.tracking import MlflowClient

    tags = MlflowClient(ctx.tracking.uri).get_model_version(config.model, candidate).tags
    return recorded_digest(dict(tags))


def run(stage: RolloutStage, ctx: StageContext) -> dict[str, Any]:
    import ray

    from ...runtime.rollout import controller

    handle = controller.start(controller_config(stage, ctx))
    state: RolloutStatus = ray.get(handle.wait_live.remote(ctx.options.serve_timeout_s))
    if ctx.options.wait or ctx.ephemeral_ray:
        while not state.phase.ended:
            time.sleep(1.0)
            state = ray.get(handle.status.remote())
    out = {"application": state.application, "status": state.phase.value,
           "step": state.step,
           "weights": None if state.weights is None else {
               s.value: w for s, w in state.weights.items()},
           "versions": {s.value: v for s, v in state.versions.items()}}
    if state.phase == RolloutPhase.ROLLED_BACK:
        raise StageFailed(f"the rollout was rolled back: {state.reason}", ExitCode.POLICY,
                          hint="the stable version serves all traffic; see the journal and "
                          "`lifecycle status`", details=out)
    if state.phase == RolloutPhase.FAILED:
        raise StageFailed(f"the rollout failed: {state.reason}", ExitCode.RUNTIME,
                          details=out)
    return out
