"""evaluate: score the candidate (and the current champion) on the evaluation data and
check every gate; a failed gate stops the plan before registration (exit 1).

The evaluation data is scored a record batch at a time: the driver holds the scores and
labels (16 bytes a row), never the features of the whole source."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from ...errors import ExitCode
from ...plan import EvaluateStage
from ..context import StageContext, StageFailed
from ..contract import open_source, scan
from ..metrics import check_gate, compute


def score_source(source: dict[str, Any], root: str, label: str,
                 scorers: list[Callable[[pa.Table], Any]]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The labels and each scorer's scores over the whole source, batch by batch."""
    labels: list[np.ndarray] = []
    scores: list[list[np.ndarray]] = [[] for _ in scorers]
    for batch in scan(open_source(source, root), source):
        table = pa.Table.from_batches([batch])
        labels.append(table.column(label).to_numpy(zero_copy_only=False))
        for out, scorer in zip(scores, scorers):
            out.append(np.asarray(scorer(table), dtype=float).ravel())

    def joined(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.empty(0)

    return joined(labels), [joined(s) for s in scores]


def run(stage: EvaluateStage, ctx: StageContext) -> dict[str, Any]:
    from ...runtime.entrypoint import EntrypointError, resolve

    data_out = ctx.upstream["data"]
    sources = data_out["sources"]
    label = data_out["info"]["label"]
    producer, candidate = ctx.producer()
    try:
        predict = resolve(producer.train.entrypoint, "predict")
    except EntrypointError as exc:
        raise StageFailed(f"cannot evaluate: {exc}", ExitCode.INVALID_INPUT,
                          hint="the entrypoint's module must define "
                          "predict(checkpoint_dir, table)") from None
    checkpoint = ctx.local_checkpoint(candidate["checkpoint"])
    scorers: list[Callable[[pa.Table], Any]] = [lambda table: predict(checkpoint, table)]
    champion_version = None
    champion = None
    if any(g.vs == "champion" for g in stage.gates) and ctx.tracking is not None:
        champion = ctx.tracking.champion_scorer()
        if champion is not None:
            champion_version = champion[0]
            scorers.append(champion[1])
    labels, scores = score_source(sources.get("eval") or sources["train"], ctx.root, label,
                                  scorers)
    values = {m: compute(m, labels, scores[0]) for m in stage.metrics}
    champion_values: dict[str, float] = {}
    if champion is not None:
        champion_values = {m: compute(m, labels, scores[1]) for m in stage.metrics}
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
