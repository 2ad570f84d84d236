"""retire: what `retirement.after` promises. Until that date has passed the stage is
`scheduled` (the runner says when; `lifecycle retire SPEC` retires earlier). A run after
it retires the spec instead of renewing it: nothing is trained or deployed, and this
stage does what `lifecycle retire SPEC` does — the live application drained and deleted,
its versions tagged retired (retirement.archive) and, with replaced_by, which spec took
over, and `application_retired` journaled in the run that deployed it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ...errors import RuntimeFailure
from ...plan import Plan, RetireStage
from ..context import StageContext


def due(plan: Plan, on: dt.date) -> RetireStage | None:
    """The plan's retire stage when its date has passed (the spec is retired)."""
    stage = next((s for s in plan.stages if s.kind == "retire"), None)
    if stage is None or stage.after is None or on <= dt.date.fromisoformat(stage.after):
        return None
    return stage


def scheduled(stage: RetireStage) -> str:
    if stage.after is None:
        return "no date set (retirement.after): `lifecycle retire SPEC` retires it"
    return (f"retires after {stage.after}: the first run after that date retires it (or "
            "`lifecycle retire SPEC` now)")


def run(stage: RetireStage, ctx: StageContext) -> dict[str, Any]:
    from .. import groundtruth, serving

    deploy = ctx.plan.stage("deploy")
    tracking = ctx.tracking

    def tracking_uri() -> str:
        return str(tracking.uri) if tracking is not None else \
            ctx.options.resolved_tracking_uri()

    try:
        done = serving.retire(deploy.application, deploy.model, None, tracking_uri,
                              stage.archive, stage.drain_s, replaced_by=stage.replaced_by)
    except RuntimeFailure as exc:
        if not exc.problems or exc.problems[0].code != "serving.not-found":
            raise
        done = {"application": deploy.application, "deleted": False,
                "archived_versions": [], "drained": None}
    else:  # journaled as `lifecycle retire` does, so `lifecycle history` shows it
        done["journaled_in"] = groundtruth.record_retirement(ctx.store, deploy.application,
                                                             done)
    return {**done, "after": stage.after, "replaced_by": stage.replaced_by}
