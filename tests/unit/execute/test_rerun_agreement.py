"""What `diff` says will rerun is what `run` reruns (issue 18, item 2). The runner skips a
stage whose key — its plan hash and the fingerprints of what its inputs produced — has
succeeded before; `diff` names the stages whose plan hash changed. Walking two plans the
way the runner does, over the same data, the stages that miss the cache are exactly the
ones `diff` names (besides data, deploy and rollout, which always run)."""

from __future__ import annotations

from typing import Any

import pytest

from lifecycle.diff import compare
from lifecycle.execute.runner import LIVE, stage_key
from lifecycle.plan import Plan

from ...conftest import ROOT, compile_approved

FRAUD = ROOT / "specs" / "fraud.yaml"


def _walk(plan: Plan, cache: dict[str, dict[str, Any]]) -> set[str]:
    """The stages a run of `plan` would execute, given the cache earlier runs left; a
    stage that runs produces outputs of its own (a new checkpoint, a new version)."""
    upstream: dict[str, dict[str, Any]] = {}
    ran = set()
    for stage in plan.stages:
        if stage.kind == "data":  # the same data: the same digest, wherever it lies
            upstream[stage.id] = {"digest": "the-data"}
            continue
        key = stage_key(stage, upstream)
        if stage.kind in LIVE or key not in cache:
            ran.add(stage.id)
            cache[key] = {"checkpoint": f"ck-{key}", "version": key[:6],
                          "metrics": {"auc": 0.9}}
        upstream[stage.id] = cache[key]
    return ran


@pytest.mark.parametrize("change", [
    ["serve.rollout.steps.0.hold=20m"],
    ["monitors.0.p_val=0.002"],
    ["train.config.lr=0.01"],
    ["evaluate.gates=[{metric: auc, min: 0.8}]"],
    ["serve.resources.num_cpus=0.25"],
    ["data.contract.features.amount.max=100000"],
    ["register.alias=candidate"],
    [],
])
def test_the_stages_a_second_run_executes_are_the_ones_diff_names(change: list[str]) -> None:
    before = compile_approved(FRAUD, ["~tune"])
    after = compile_approved(FRAUD, ["~tune", *change])
    cache: dict[str, dict[str, Any]] = {}
    _walk(before, cache)
    ran = _walk(after, cache)
    said = {c.stage for c in compare(before, after, path="fraud").stages}
    assert ran - LIVE == said - LIVE
