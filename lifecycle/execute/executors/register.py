"""register: the candidate logged to MLflow and registered under the spec's model name
with its alias, lineage tags and model card."""

from __future__ import annotations

from typing import Any

from ...errors import ExitCode
from ...plan import RegisterStage
from ...plan.approvals import APPROVALS_TAG, DIGEST_TAG, approval_tags
from ...runtime.contract import DATA_TIME_TAG
from ..card import model_card
from ..context import StageContext, StageFailed


def run(stage: RegisterStage, ctx: StageContext) -> dict[str, Any]:
    if ctx.tracking is None:
        raise StageFailed("registration needs MLflow tracking", ExitCode.RUNTIME)
    train_stage, producer = ctx.producer()
    card = model_card(ctx.plan, ctx.upstream, ctx.tracking.lineage)
    # the approval tags are lifecycle's own: a spec's register.tags cannot set them
    tags = {**{k: v for k, v in stage.tags.items() if k not in (APPROVALS_TAG, DIGEST_TAG)},
            **approval_tags(ctx.plan)}
    read_at = (ctx.upstream.get("data") or {}).get("read_at")
    if read_at is not None:  # when the training data was read (freshness SLOs)
        tags[DATA_TIME_TAG] = f"{float(read_at):.3f}"
    try:
        return ctx.tracking.register(
            ctx.local_checkpoint(producer["checkpoint"]), train_stage.train.entrypoint,
            train_stage.train.framework, stage.model, stage.alias, tags, card)
    except StageFailed:
        raise
    except Exception as exc:
        raise StageFailed(f"registration failed: {type(exc).__name__}: {exc}",
                          ExitCode.RUNTIME) from exc
