"""A plan for people, like `terraform plan`: stages in order with their resources,
the rollout steps, the monitors and the policy results, on one screen."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from ..plan import MonitorParams, Plan
from ..plan.judging import ASSUMED_ERROR_RATE, DEFAULT_TRAFFIC, judging


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = float(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size and s % size == 0:
            return f"{int(s // size)}{unit}"
    return f"{s:g}s"


def _res(stage: Any) -> str:
    r = stage.resources
    parts = []
    if r.workers:
        parts.append(f"{r.workers} worker(s)")
    if r.cpus:
        parts.append(f"{r.cpus:g} CPU")
    if r.gpus:
        parts.append(f"[warning]{r.gpus:g} GPU[/]")
    return ", ".join(parts) or "-"


def _about(seconds: float) -> str:
    if seconds == float("inf"):
        return "never (the gates cannot decide at this traffic)"
    return f"~{seconds:.0f} s" if seconds < 120 else f"~{seconds / 60:.0f} min"


def _detail(stage: Any, monitors: list[MonitorParams]) -> list[str]:
    k = stage.kind
    if k == "data":
        return [f"{role}: {escape(str(src['path']))}" for role, src in stage.sources.items()] + \
            [f"contract: label {stage.contract['label']}, "
             f"{len(stage.contract['features'])} features"]
    if k == "train":
        t = stage.train
        return [f"{t.framework} · {escape(t.entrypoint)} · {t.num_workers} worker(s)"
                + (" · GPU" if t.use_gpu else "") + f" · max_failures {t.max_failures}"]
    if k == "tune":
        space = ", ".join(f"{p.name}~{p.distribution}" for p in stage.search_space)
        return [f"{stage.num_samples} trials of {escape(stage.train.entrypoint)} "
                f"({stage.max_concurrent_trials} at once, {stage.scheduler.type}, "
                f"budget {_duration(stage.time_budget_s)})",
                f"{stage.mode} {stage.metric} over {space}"]
    if k == "evaluate":
        gates = []
        for g in stage.gates:
            if g.vs:
                gates.append(f"{g.metric} ≥ champion − {g.max_regression:g}"
                             if g.higher_is_better else
                             f"{g.metric} ≤ champion + {g.max_regression:g}")
            else:
                b = []
                if g.min is not None:
                    b.append(f"{g.metric} ≥ {g.min:g}")
                if g.max is not None:
                    b.append(f"{g.metric} ≤ {g.max:g}")
                gates.append(" and ".join(b))
        return ["gates: " + ("; ".join(gates) if gates else "none")]
    if k == "register":
        return [f"MLflow model {escape(stage.model)} @ {escape(stage.alias)}"]
    if k == "monitor":
        lines = []
        for m in stage.monitors:
            if m.quality is not None:
                q = m.quality
                bounds = [f"{k} ≥ {v:g}" for k, v in q.min.items()] + \
                    [f"{k} ≤ {v:g}" for k, v in q.max.items()]
                sliced = f" per {', '.join(s.feature for s in q.slices)}" if q.slices else ""
                lines.append(f"{m.name}: quality {', '.join(q.metrics)}{sliced} per version, "
                             f"window {m.window} labels" + (f", {' and '.join(bounds)}"
                                                            if bounds else "")
                             + (", estimated while labels lag" if q.estimate else "")
                             + f" → {', '.join(q.on_drop) or 'record'}")
                continue
            actions = m.on_drift or m.on_outlier
            lines.append(f"{m.name}: {m.detector} on {len(m.features)} feature(s), window "
                         f"{m.window}" + (f", p<{m.p_val:g}" if m.on_drift or not m.on_outlier
                                          else "") + f" → {', '.join(actions) or 'record'}")
        return lines
    if k == "deploy":
        rep = stage.replicas if stage.replicas else (
            f"{stage.autoscaling['min_replicas']}–{stage.autoscaling['max_replicas']}"
            if stage.autoscaling else 1)
        lines = [f"Serve app {escape(stage.application)} at {escape(stage.route_prefix)}, "
                 f"{rep} replica(s) per version"]
        if stage.shadow:
            lines.append(f"shadow: {stage.shadow['fraction']:.0%} of requests copied to the "
                         f"{stage.shadow['target']}")
        if stage.logging:
            log = stage.logging
            how = "hashed" if log.redaction == "hash" else "left out"
            redacted = f", {', '.join(log.redact)} {how}" if log.redact else ""
            lines.append(f"prediction log: {log.sample:.0%} of requests{redacted}, kept "
                         f"{_duration(log.retention_s)}")
        lines.append(f"feedback: POST {escape(stage.route_prefix.rstrip('/'))}/feedback, "
                     f"token {escape(stage.feedback_token)}")
        return lines
    if k == "rollout":
        lines = [f"{stage.strategy}, on failure: {stage.on_failure}, inconclusive: "
                 f"{stage.on_inconclusive}, gates every {_duration(stage.gate_interval_s)}, "
                 f"confidence {stage.confidence:g}"]
        traffic = stage.traffic or DEFAULT_TRAFFIC
        judged = judging(stage, traffic, monitors)
        for i, (s, j) in enumerate(zip(stage.steps, judged), 1):
            step_gates = ", ".join(
                g.name + (f" ≤ {g.max:g}" if g.max is not None else "")
                + (f" ≥ {g.min:g}" if g.min is not None else "")
                + (f" +{g.max_increase:g}" if g.max_increase is not None else "")
                + (f" x{g.max_ratio:g}" if g.max_ratio is not None else "") for g in s.gates)
            when = "" if j.seconds is None else (
                f" · judged in {_about(j.seconds)}" + ("" if j.in_time else
                                                           " [warning](longer than it holds)[/]"))
            lines.append(f"step {i}: {s.weight:g}% for {_duration(s.hold_s)}"
                         + (f" · {step_gates}" if step_gates else "") + when)
        assumed = "" if stage.traffic else " (assumed: set serve.rollout.traffic)"
        lines.append(f"[dim]judging times at {traffic:g} req/s{assumed}, stable error rate "
                     f"{ASSUMED_ERROR_RATE:.1%}, log-normal latencies[/]")
        return lines
    if k == "retire":
        return [f"after {stage.after or 'manual'} · drain {_duration(stage.drain_s)}"
                + (" · archive" if stage.archive else "")]
    return []


def render_plan(console: Console, plan: Plan, spec_path: str) -> None:
    console.print(f"[bold]Plan[/] for [stage]{escape(plan.name)}[/] "
                  f"({escape(spec_path)}, risk tier [bold]{plan.risk_tier}[/], "
                  f"policy bundle {escape(plan.policy.bundle)})")
    if plan.presets or plan.overrides:
        console.print("[dim]composed from[/] " + ", ".join(
            [escape(p) for p in plan.presets] + [f"override {escape(o)}" for o in plan.overrides]))
    tree = Tree("[bold]stages[/] [dim](in order)[/]")
    for stage in plan.stages:
        deps = f" [dim]after {', '.join(stage.depends_on)}[/]" if stage.depends_on else ""
        node = tree.add(f"[stage]{stage.kind}[/]  {_res(stage)}{deps}  "
                        f"[dim]#{stage.content_hash[:10]}[/]")
        monitoring = next((s.monitors for s in plan.stages if s.kind == "monitor"), [])
        for line in _detail(stage, monitoring):
            node.add(line)
    console.print(tree)
    table = Table(title="policy", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("rule")
    table.add_column("result")
    table.add_column("message")
    counts: dict[str, int] = {}
    for r in plan.policy.results:
        counts[r.status] = counts.get(r.status, 0) + 1
        if r.status == "not_applicable":
            continue
        style = {"pass": "ok", "waived": "warning", "fail": "error"}[r.status]
        note = escape(r.message)
        if r.waiver is not None:
            note += (f" [dim](waived by {escape(r.waiver.approved_by)} until "
                     f"{r.waiver.expires.isoformat()})[/]")
        table.add_row(r.rule, f"[{style}]{r.status}[/]", note)
    console.print(table)
    console.print(f"[dim]{counts.get('pass', 0)} passed, {counts.get('waived', 0)} waived, "
                  f"{counts.get('fail', 0)} failed, {counts.get('not_applicable', 0)} not "
                  f"applicable · plan {plan.plan_hash[:12]}[/]")
