"""Run progress lines and the end-of-run summary (duck-typed over execute's results, so
rendering does not depend on the runtime)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

_STYLE = {"succeeded": "ok", "skipped": "dim", "failed": "error", "not_run": "dim",
          "scheduled": "dim", "started": "info", "incomplete": "warning",
          "interrupted": "warning", "stopped": "warning", "running": "info"}


def render_event(console: Console, event: str, fields: dict[str, Any]) -> None:
    stage = fields.get("stage", "")
    if event == "stage_started":
        console.print(f"[info]▶[/] [stage]{stage}[/] started")
    elif event == "stage_succeeded":
        console.print(f"[ok]✓[/] [stage]{stage}[/] {fields.get('seconds', 0):.1f}s"
                      + _short(fields.get("outputs", {})))
    elif event == "stage_skipped":
        console.print(f"[dim]↷ {stage} skipped (unchanged since run {fields.get('from_run')})[/]")
    elif event == "stage_failed":
        console.print(f"[error]✗ {stage} failed:[/] {escape(str(fields.get('message')))}")
        if fields.get("hint"):
            console.print(f"  [dim]{escape(str(fields['hint']))}[/]")
    elif event in ("stage_scheduled", "stage_not_run"):
        console.print(f"[warning]… {stage}:[/] {escape(str(fields.get('message')))}")
    elif event in ("stage_interrupted", "stage_stopped"):
        console.print(f"[warning]■ {stage} {event.removeprefix('stage_')}[/]")
    elif event == "run_ended":
        console.print(f"[warning]■ run {fields.get('status')}:[/] "
                      f"{escape(str(fields.get('message')))}")
    elif event == "line":
        console.print(escape(str(fields.get("line", ""))))


def _short(outputs: dict[str, Any]) -> str:
    bits = []
    if "rows" in outputs:
        bits.append(", ".join(f"{r} {n:,} rows" for r, n in outputs["rows"].items()))
    metrics = outputs.get("metrics", {})
    for k in list(metrics)[:4]:
        v = metrics[k]
        bits.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
    if "version" in outputs:
        bits.append(f"{outputs['model']} v{outputs['version']} @{outputs['alias']}")
    for name, m in (outputs.get("monitors") or {}).items():  # the monitor stage
        rows = m.get("reference_rows")  # a quality monitor has none: labels judge it
        bits.append(f"{name} ({m.get('detector')}" + (f", {rows} reference rows)"
                                                      if rows is not None else ")"))
    if "url" in outputs:
        versions = outputs.get("versions") or {}
        bits.append(outputs["url"] + " · " + ", ".join(
            f"{slot} v{v}" for slot, v in versions.items() if v is not None))
    if "status" in outputs and "weights" in outputs:
        weights = outputs.get("weights") or {}
        bits.append(f"{outputs['status']} at step {int(outputs.get('step', 0)) + 1} · " + ", ".join(
            f"{slot} {w:g}%" for slot, w in weights.items()))
    return ("  [dim]" + escape(" · ".join(bits)) + "[/]") if bits else ""


def render_run_summary(console: Console, result: Any) -> None:
    table = Table(title=f"run {result.run_id}", title_justify="left", show_edge=False)
    table.add_column("stage")
    table.add_column("status")
    table.add_column("time", justify="right")
    table.add_column("detail")
    for s in result.stages:
        style = _STYLE.get(s.status, "")
        table.add_row(s.stage, f"[{style}]{s.status}[/]" if style else s.status,
                      f"{s.seconds:.1f}s" if s.seconds else "",
                      escape(s.message) if s.message else _short(s.outputs).strip())
    console.print(table)
    ev = next((s for s in result.stages if s.stage == "evaluate" and s.outputs), None)
    if ev is not None:
        for g in ev.outputs.get("gates", []):
            mark = "[ok]pass[/]" if g["passed"] else "[error]FAIL[/]"
            bound = "" if g.get("bound") is None else f" (bound {g['bound']:.4f})"
            console.print(f"gate {escape(g['gate'])}: {g['value']:.4f}{bound} {mark}")
    # a failed register stage has outputs too (its failure's details), never a version
    reg = next((s for s in result.stages if s.stage == "register"
                and "version" in (s.outputs or {})), None)
    if reg is not None:
        o = reg.outputs
        console.print(f"registered [bold]{o['model']}[/] version {o['version']} as "
                      f"@{o['alias']}")
    if result.mlflow_run_id:
        console.print(f"MLflow run {result.mlflow_run_id} · "
                      f"mlflow ui --backend-store-uri {escape(str(result.tracking_uri))}")


def render_status(console: Console, runs: list[dict[str, Any]]) -> None:
    if not runs:
        console.print("no runs yet")
        return
    table = Table(show_edge=False)
    for col in ("run", "spec", "started", "status", "stages"):
        table.add_column(col)
    for r in runs:
        stages = " ".join(f"[{_STYLE.get(v['status'], '')}]{k}[/]" for k, v in
                          r["stages"].items())
        status = f"[{_STYLE.get(r['status'], '')}]{r['status']}[/]"
        if r.get("message") and r["status"] != "succeeded":
            status += f"\n[dim]{escape(_clip(r['message'], 60))}[/]"
        table.add_row(r["run_id"], str(r["spec"]), r["started"][:19], status, stages)
    console.print(table)


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n - 1] + "…"
