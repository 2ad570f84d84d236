"""A plan for people, like `terraform plan`: stages in order with their resources,
the rollout steps, the monitors and the policy results, on one screen."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from ..plan import CostEstimate, MonitorParams, Plan, SloParams
from ..plan.judging import ASSUMED_ERROR_RATE, DEFAULT_TRAFFIC, judging
from ..spec.base import format_duration


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(float(seconds))


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


def _slo_line(slo: SloParams) -> str:
    if slo.sli == "availability":
        what = "answers that are not 5xx"
    elif slo.sli == "latency":
        what = f"requests answered in {slo.bucket_ms or 0:g} ms or less"
    elif slo.sli == "quality":
        bound = f"≥ {slo.min:g}" if slo.min is not None else f"≤ {slo.max or 0:g}"
        what = f"the time {slo.metric} is {bound}"
    else:
        what = (f"the time the {str(slo.of).replace('_', ' ')} is younger than "
                f"{_duration(slo.max_age_s)}")
    alerts = ", ".join(f"{a.factor:g}x over {_duration(a.long_s)}/{_duration(a.short_s)} "
                       f"({a.severity})" for a in slo.burn_alerts) or "no burn alerts"
    return (f"{escape(slo.name)}: {slo.objective:g}% of {escape(what)} over "
            f"{_duration(slo.window_s)} · {alerts} → {', '.join(slo.on_burn)}")


def money(amount: float, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def render_cost(console: Console, cost: CostEstimate) -> None:
    """The estimate with what it assumed, like `infracost breakdown`."""
    table = Table(title=f"cost [dim](price table {escape(cost.price_table)}; docs/cost.md)[/]",
                  title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("item")
    table.add_column("per")
    table.add_column("estimate", justify="right")
    table.add_column("basis")
    for line in cost.lines:
        amount = money(line.high, cost.currency) if line.low == line.high else \
            f"{money(line.low, cost.currency)} – {money(line.high, cost.currency)}"
        table.add_row(line.item, line.per, amount, escape(line.basis))
    console.print(table)
    console.print(f"[bold]training run[/] {money(cost.training, cost.currency)} · "
                  f"[bold]serving[/] {money(cost.monthly_serving_min, cost.currency)} – "
                  f"{money(cost.monthly_serving_max, cost.currency)} a month")
    for a in cost.assumptions:
        console.print(f"[dim]  assumes {escape(a)}[/]")


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
    if plan.slos:
        slos = Tree("[bold]slos[/] [dim](docs/slo.md)[/]")
        for slo in plan.slos:
            slos.add(_slo_line(slo))
        console.print(slos)
    if plan.cost is not None:
        render_cost(console, plan.cost)
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
    _approvals(console, plan)
    console.print(f"[dim]{counts.get('pass', 0)} passed, {counts.get('waived', 0)} waived, "
                  f"{counts.get('fail', 0)} failed, {counts.get('not_applicable', 0)} not "
                  f"applicable · plan {plan.plan_hash[:12]}[/]")


def _approvals(console: Console, plan: Plan) -> None:
    record = plan.approvals
    if record is None:
        return
    console.print(f"[bold]approvals[/] [dim](approval digest {record.digest[:19]}…; "
                  f"{'signed only' if record.signed_only else 'unsigned entries count'})[/]")
    for a in record.counted:
        how = f"signed, key {a.key}" if a.key else "unsigned"
        until = f", until {a.expires.isoformat()}" if a.expires else ""
        ticket = f", {escape(a.ticket)}" if a.ticket else ""
        console.print(f"  [ok]✓[/] {escape(a.label)}{ticket} ({how}{until})")
    for r in record.refused:
        console.print(f"  [error]✗[/] {escape(r.approval.label)} [dim]{r.rule}: "
                      f"{escape(r.reason)}[/]")


def render_approval(console: Console, statement_path: str, by: str, role: str,
                    ticket: str | None, expires: str | None, digest: str, key: str,
                    failing: tuple[str, ...] = ()) -> None:
    """What `lifecycle approve` signed, and where it wrote it."""
    console.print(f"[ok]✓[/] signed {escape(statement_path)} (+ .sig): {escape(by)} approves "
                  f"as {escape(role)}" + (f", ticket {escape(ticket)}" if ticket else "")
                  + (f", until {expires}" if expires else ", no expiry"))
    console.print(f"  plan approval digest {digest}\n  key {key}\n"
                  "  commit the statement and its .sig with the spec; `lifecycle validate` "
                  "verifies them")
    if failing:
        console.print(f"  [warning]note:[/] the plan you approved fails {', '.join(failing)} "
                      "(`lifecycle validate` says why)")
