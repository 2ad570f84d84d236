"""evaluate: score the candidate (and the current champion) on the evaluation data and
check every gate; a failed gate stops the plan before registration (exit 1)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import ExitCode
from ...plan import EvaluateStage
from ..context import StageContext, StageFailed
from ..contract import read_table
from ..metrics import check_gate, compute


def run(stage: EvaluateStage, ctx: StageContext) -> dict[str, Any]:
    from ...runtime.entrypoint import EntrypointError, resolve

    data_out = ctx.upstream["data"]
    sources = data_out["sources"]
    table = read_table(sources.get("eval") or sources["train"], ctx.root)
    label = data_out["info"]["label"]
    labels = table.column(label).to_numpy(zero_copy_only=False)
    producer, candidate = ctx.producer()
    try:
        predict = resolve(producer.train.entrypoint, "predict")
    except EntrypointError as exc:
        raise StageFailed(f"cannot evaluate: {exc}", ExitCode.INVALID_INPUT,
                          hint="the entrypoint's module must define "
                          "predict(checkpoint_dir, table)") from None
    scores = np.asarray(predict(candidate["checkpoint"], table), dtype=float)
    values = {m: compute(m, labels, scores) for m in stage.metrics}
    champion_values: dict[str, float] = {}
    champion_version = None
    if any(g.vs == "champion" for g in stage.gates) and ctx.tracking is not None:
        found = ctx.tracking.champion_scores(table)
        if found is not None:
            champion_version, champ_scores = found
            champion_values = {m: compute(m, labels, np.asarray(champ_scores, dtype=float))
                               for m in stage.metrics}
    results = [check_gate(g.model_dump(), values[g.metric], champion_values.get(g.metric))
               for g in stage.gates]
    out = {"metrics": values, "gates": results, "champion_version": champion_version,
           "champion_metrics": champion_values}
    failed = [r for r in results if not r["passed"]]
    if failed:
        lines = [f"{r['gate']}: value {r['value']:.4f}, bound {r['bound']:.4f}" for r in failed]
        raise StageFailed("evaluation gate(s) failed, the model is not registered:\n  "
                          + "\n  ".join(lines), ExitCode.POLICY,
                          hint="improve the model or, with review, the gate in "
                          "evaluate.gates", details=out)
    return out
