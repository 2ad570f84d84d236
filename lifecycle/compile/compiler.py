"""Spec -> Plan. Pure: the same spec, presets and overrides give the same bytes."""

from __future__ import annotations

from typing import Any

from ..plan import CostEstimate, Plan, PlanApprovals, PolicyReport, content_hash, with_hashes
from ..spec import Spec
from . import stages as build
from .serve_config import serve_config
from .slo import slo_params


def spec_json(spec: Spec) -> dict[str, Any]:
    """The resolved spec as rules and plans see it: defaults filled, absent sections
    left out, durations in seconds."""
    return spec.model_dump(mode="json", exclude_none=True)


def build_stages(spec: Spec, approved_digest: str | None = None) -> list[Any]:
    stages: list[Any] = [build.data_stage(spec)]
    producer = None
    if spec.tune is not None:
        stages.append(build.tune_stage(spec))
        producer = "tune"
    elif spec.train is not None:
        stages.append(build.train_stage(spec))
        producer = "train"
    if producer is not None and (spec.evaluate is not None or spec.register is not None):
        stages.append(build.evaluate_stage(spec, producer))
        producer = "evaluate"
    if spec.register is not None and producer is not None:
        stages.append(build.register_stage(spec, producer))
        producer = "register"
    if spec.monitors:
        stages.append(build.monitor_stage(spec, ["data"] + ([producer] if producer else [])))
    if spec.serve is not None and spec.register is not None:
        upstream = [producer] if producer else []
        if spec.monitors:
            upstream.append("monitor")
        stages.append(build.deploy_stage(spec, upstream))
        last = "deploy"
        if spec.serve.rollout is not None:
            stages.append(build.rollout_stage(spec, approved_digest))
            last = "rollout"
        if spec.retirement is not None:
            stages.append(build.retire_stage(spec, [last]))
    return with_hashes(stages)


def compile_plan(spec: Spec, policy: PolicyReport, presets: tuple[str, ...] = (),
                 overrides: tuple[str, ...] = (), approvals: PlanApprovals | None = None,
                 cost: CostEstimate | None = None,
                 protected_overrides: tuple[str, ...] = ()) -> Plan:
    """`cost`: the spec priced (compile.price) with the platform's price table;
    `protected_overrides`: the protected keys the command line changed (allowed)."""
    resolved = spec_json(spec)
    approved = approvals.approved_digest if approvals is not None else None
    return Plan(name=spec.name, risk_tier=spec.risk_tier, spec_hash=content_hash(resolved),
                spec=resolved, presets=list(presets), overrides=list(overrides),
                protected_overrides=list(protected_overrides), policy=policy,
                stages=build_stages(spec, approved), serve_config=serve_config(spec),
                approvals=approvals, slos=slo_params(spec), cost=cost)
