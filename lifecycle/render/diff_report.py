"""`lifecycle diff` output: a compact terminal view, markdown for a pull-request comment,
versioned JSON, and SARIF 2.1.0 for code-host annotations. Neutral changes are counted
and folded away; what loosens comes first."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape

from ..diff import Change, CostDiff, DiffReport, Direction

ORDER: dict[str, int] = {"loosens": 0, "review": 1, "tightens": 2, "neutral": 3}
MARK = {"loosens": "▼ loosens", "review": "! review", "tightens": "▲ tightens",
        "neutral": "· neutral"}
STYLE = {"loosens": "error", "review": "warning", "tightens": "ok", "neutral": "dim"}
MD_MARK = {"loosens": "🔻 loosens", "review": "⚠️ review", "tightens": "🔺 tightens",
           "neutral": "neutral"}


def value(v: Any, limit: int = 40) -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and v.is_integer():
        text = str(int(v))
    elif isinstance(v, (str, int, float, bool)):
        text = json.dumps(v) if isinstance(v, bool) else str(v)
    else:
        text = json.dumps(v, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _before_after(c: Change) -> str:
    if c.kind == "added":
        return f"+ {value(c.new)}"
    if c.kind == "removed":
        return f"− {value(c.old)}"
    return f"{value(c.old)} → {value(c.new)}"


def _sorted(changes: list[Change]) -> list[Change]:
    return sorted(changes, key=lambda c: ORDER[c.direction])


def _counts(counts: dict[str, int]) -> str:
    return (f"{counts.get('loosens', 0)} loosened · {counts.get('tightens', 0)} tightened · "
            f"{counts.get('review', 0)} to review · {counts.get('neutral', 0)} neutral")


def _where(c: Change) -> str:
    w = c.where
    if w is None:
        return ""
    if w.file is None:
        return w.origin or ""
    return f"{w.file}:{w.line}" if w.line else w.file


def render_diff(out: Console, diff: DiffReport) -> None:
    out.print(f"[bold]lifecycle diff[/] {escape(diff.base)} → {escape(diff.head)}")
    if not diff.specs:
        out.print("[ok]no change that affects a plan[/] (order, comments and equivalent "
                  "values are ignored)")
        return
    for s in diff.specs:
        head = f"[loc]{escape(s.path)}[/]  {escape(s.name)}"
        if s.risk_tier:
            head += f" ({s.risk_tier} risk)"
        out.print(f"\n{head}  [dim]{s.status}[/]")
        neutral = 0
        for c in _sorted(s.changes):
            if c.direction == "neutral":
                neutral += 1
                continue
            rules = f" [dim]\\[{escape(', '.join(c.rules))}][/]" if c.rules else ""
            where = f"  [dim]{escape(_where(c))}[/]" if _where(c) else ""
            out.print(f"  [{STYLE[c.direction]}]{MARK[c.direction]:<10}[/] "
                      f"[key]{escape(c.path or s.path)}[/]  {escape(_before_after(c))}  "
                      f"{escape(c.reason)}{rules}{where}")
        for r in s.rules:
            out.print(f"  [{STYLE[r.direction]}]{MARK[r.direction]:<10}[/] [code]{r.rule}[/]  "
                      f"{r.old or 'absent'} → {r.new or 'absent'}  {escape(r.message)}")
        if neutral:
            out.print(f"  [dim]+ {neutral} neutral change(s); --format json lists them[/]")
        if s.stages:
            out.print("  [stage]reruns:[/] " + " · ".join(
                f"{st.stage} ({st.effect})" for st in s.stages))
        if s.cost is not None:
            _render_cost(out, s.cost)
    out.print(f"\n{len(diff.specs)} spec(s) changed: {_counts(diff.counts)}")


# --- cost (docs/cost.md) -------------------------------------------------------------

def _amount(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "—"
    return f"{low:,.2f}" if low == high else f"{low:,.2f}–{high:,.2f}"


def _delta(low: float, high: float) -> str:
    def one(x: float) -> str:
        return f"{x:+,.2f}"

    return one(high) if abs(low - high) < 0.005 else f"{one(low)} / {one(high)}"


def _per(per: str) -> str:
    return "a run" if per == "run" else "a month"


def _cost_totals(cost: CostDiff) -> list[tuple[str, str, str, str]]:
    """(what, before, after, delta) for the totals that changed."""
    rows = []
    t = cost.training
    if t.delta:
        rows.append(("training run", _amount(t.old, t.old), _amount(t.new, t.new),
                     _delta(t.delta, t.delta)))
    lo, hi = cost.monthly_serving_min, cost.monthly_serving_max
    if lo.delta or hi.delta:
        rows.append(("serving a month", _amount(lo.old, hi.old), _amount(lo.new, hi.new),
                     _delta(lo.delta, hi.delta)))
    return rows


def _render_cost(out: Console, cost: CostDiff) -> None:
    note = " [dim](price table changed)[/]" if cost.repriced else ""
    out.print(f"  [bold]cost[/] ({escape(cost.currency)}, price table "
              f"{escape(cost.price_table)}){note}")
    for c in cost.items:
        out.print(f"    {escape(c.item):<15} {_amount(c.old_low, c.old_high)} → "
                  f"{_amount(c.new_low, c.new_high)} {_per(c.per)}  "
                  f"[bold]{_delta(c.delta_low, c.delta_high)}[/]")
    for what, before, after, delta in _cost_totals(cost):
        out.print(f"    [bold]{what:<15}[/] {before} → {after}  [bold]{delta}[/]")


def _cost_markdown(cost: CostDiff) -> list[str]:
    note = " (the price table changed)" if cost.repriced else ""
    lines = ["", f"Cost ({_md(cost.currency)}, price table {_code(cost.price_table)}){note}:",
             "", "| item | per | before | after | change |", "|---|---|---|---|---|"]
    lines += [f"| {_md(c.item)} | {c.per} | {_amount(c.old_low, c.old_high)} | "
              f"{_amount(c.new_low, c.new_high)} | {_delta(c.delta_low, c.delta_high)} |"
              for c in cost.items]
    lines += [f"| **{what}** | | {before} | {after} | **{delta}** |"
              for what, before, after, delta in _cost_totals(cost)]
    return lines


# ---


def diff_text(diff: DiffReport) -> str:
    """The terminal view as plain text (for -o FILE)."""
    import io

    from .console import THEME

    out = Console(file=io.StringIO(), record=True, no_color=True, width=120, theme=THEME,
                  highlight=False)
    render_diff(out, diff)
    return out.export_text()


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{_md(text)}`" if text else ""


def diff_markdown(diff: DiffReport) -> str:
    lines = [f"**lifecycle diff** {_code(diff.base)} → {diff.head}: "
             f"{len(diff.specs)} spec(s) changed · {_counts(diff.counts)}"]
    if not diff.specs:
        return lines[0] + "\n\nNo change that affects a plan.\n"
    for s in diff.specs:
        tier = f" ({s.risk_tier} risk)" if s.risk_tier else ""
        lines += ["", f"#### {_code(s.path)} — {_md(s.name)}{tier}: {s.status}", "",
                  "| | change | key | before → after | stage | rules |",
                  "|---|---|---|---|---|---|"]
        neutral = [c for c in s.changes if c.direction == "neutral"]
        for c in _sorted(s.changes):
            if c.direction != "neutral":
                lines.append(_md_row(c))
        for r in s.rules:
            lines.append(f"| {MD_MARK[r.direction]} | policy: {_md(r.message)} | {r.rule} | "
                         f"{r.old or 'absent'} → **{r.new or 'absent'}** | | |")
        if s.stages:
            lines += ["", "Reruns: " + " · ".join(f"**{st.stage}** ({st.effect})"
                                                 for st in s.stages)]
        if s.cost is not None:
            lines += _cost_markdown(s.cost)
        if neutral:
            lines += ["", f"<details><summary>{len(neutral)} neutral change(s)</summary>", "",
                      "| change | key | before → after |", "|---|---|---|"]
            lines += [f"| {_md(c.reason)} | {_code(c.path)} | {_code(_before_after(c))} |"
                      for c in neutral]
            lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def _md_row(c: Change) -> str:
    return (f"| {MD_MARK[c.direction]} | {_md(c.reason)} | {_code(c.path)} | "
            f"{_code(_before_after(c))} | {c.stage or ''} | {', '.join(c.rules)} |")


def diff_json(diff: DiffReport) -> str:
    return diff.model_dump_json(indent=2) + "\n"


SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL: dict[str, str] = {"loosens": "warning", "review": "note", "tightens": "note"}
_RULE_TEXT: dict[str, str] = {
    "loosens": "This change loosens something a policy rule or a gate cares about.",
    "review": "This change is risk-relevant (code, data, strategy) and needs a reviewer.",
    "tightens": "This change tightens a policy, gate or safeguard.",
    "policy": "A policy rule's result changed.",
}


def _sarif_location(file: str, line: int | None, column: int | None) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": max(line or 1, 1)}
    if column:
        region["startColumn"] = column
    return {"physicalLocation": {"artifactLocation": {"uri": file, "uriBaseId": "%SRCROOT%"},
                                 "region": region}}


def diff_sarif(diff: DiffReport, version: str) -> str:
    results: list[dict[str, Any]] = []
    for s in diff.specs:
        for c in s.changes:
            if c.direction == "neutral":
                continue
            w = c.where
            file = w.file if w is not None and w.file else s.path
            line = w.line if w is not None and w.file else None
            text = f"{c.reason}: {c.path or s.path} {_before_after(c)}"
            if c.rules:
                text += f" (policy rules: {', '.join(c.rules)})"
            results.append({"ruleId": f"diff/{c.direction}", "level": _LEVEL[c.direction],
                            "message": {"text": text},
                            "locations": [_sarif_location(file, line,
                                                          w.column if w is not None else None)],
                            "properties": {"spec": s.name, "stage": c.stage,
                                           "direction": c.direction}})
        for r in s.rules:
            direction: Direction = r.direction
            results.append({"ruleId": "diff/policy", "level": "error" if r.new == "fail"
                            else _LEVEL.get(direction, "note"),
                            "message": {"text": f"{r.rule}: {r.old or 'absent'} → "
                                        f"{r.new or 'absent'}: {r.message}"},
                            "locations": [_sarif_location(s.path, 1, None)],
                            "properties": {"spec": s.name, "rule": r.rule,
                                           "direction": direction}})
    rules = [{"id": f"diff/{k}", "shortDescription": {"text": v}}
             for k, v in _RULE_TEXT.items()]
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0",
           "runs": [{"tool": {"driver": {"name": "lifecycle diff", "version": version,
                                         "rules": rules}},
                     "originalUriBaseIds": {"%SRCROOT%": {"description": {
                         "text": "the repository root"}}},
                     "results": results}]}
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
