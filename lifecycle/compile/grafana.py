"""A Grafana dashboard for a plan's application: traffic, errors and latency per version,
drift p-values, live quality, and each SLO's budget left and burn rates. It reads the
series compile/prometheus.py records, or raw metrics of the contract (plan/metrics.py),
nothing else (a unit test checks every expression)."""

from __future__ import annotations

from typing import Any

from ..plan import Plan
from ..plan.metrics import MONITOR_IS_DRIFT, MONITOR_P_VALUE, OVERALL_SLICE, QUALITY
from .prometheus import (
    BUDGET_REMAINING,
    BURN_RATE,
    LATENCY_QUANTILE,
    QUANTILES,
    REQUEST_RATE,
    application_of,
    prom_duration,
)

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
WIDTH, HEIGHT = 12, 8


def _panel(title: str, targets: list[tuple[str, str]], unit: str = "short",
           kind: str = "timeseries", description: str = "") -> dict[str, Any]:
    return {
        "type": kind, "title": title, "description": description, "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr,
                     "legendFormat": legend} for i, (expr, legend) in enumerate(targets)],
    }


def _serving_panels(app: str) -> list[dict[str, Any]]:
    sel = f'{{application="{app}"}}'
    errors = f'{{application="{app}",outcome="error"}}'
    by_version = "{{slot}} {{version}}"
    return [
        _panel("Requests per second by version",
               [(f"sum by (slot, version) ({REQUEST_RATE}{sel})", by_version)], "reqps"),
        _panel("Errors (5xx) by version",
               [(f"sum by (slot, version) ({REQUEST_RATE}{errors}) / "
                 f"sum by (slot, version) ({REQUEST_RATE}{sel})", by_version)],
               "percentunit", description="Share of answers in the 5xx class."),
        _panel("Latency by version",
               [(f"{LATENCY_QUANTILE.format(q=q)}{sel}", f"p{q} {by_version}")
                for q in QUANTILES], "ms"),
        _panel("Live quality by version",
               [(f'{QUALITY.series}{{application="{app}",slice="{OVERALL_SLICE}"}}',
                 "{{metric}} {{version}}")], "none",
               description="Metrics from ground truth (labels posted back)."),
    ]


def _monitor_panels(app: str) -> list[dict[str, Any]]:
    sel = f'{{application="{app}"}}'
    return [
        _panel("Drift p-values", [(f"{MONITOR_P_VALUE.series}{sel}", "{{monitor}}")], "none",
               description="Smallest p-value of each drift monitor's last window."),
        _panel("Drift detected", [(f"{MONITOR_IS_DRIFT.series}{sel}", "{{monitor}}")],
               "none", description="1 when a monitor's last window drifted."),
    ]


def _slo_panels(app: str, plan: Plan) -> list[dict[str, Any]]:
    out = []
    for slo in plan.slos:
        sel = f'{{application="{app}",slo="{slo.name}"}}'
        what = f"{slo.name} ({slo.objective:g}% over {prom_duration(slo.window_s)})"
        out.append(_panel(f"Error budget left: {what}",
                          [(f"{BUDGET_REMAINING}{sel}", "{{slot}} {{version}}")],
                          "percentunit", "stat"))
        windows = sorted({a.long_s for a in slo.burn_alerts} | {a.short_s
                                                                for a in slo.burn_alerts})
        if windows:
            out.append(_panel(
                f"Burn rate: {slo.name}",
                [(f"{BURN_RATE}{prom_duration(w)}{sel}",
                  f"{prom_duration(w)} {{{{slot}}}} {{{{version}}}}") for w in windows],
                "none", description="1 spends the budget exactly over the window; alerts: "
                + "; ".join(f"{a.factor:g}x over {prom_duration(a.long_s)} and "
                            f"{prom_duration(a.short_s)} ({a.severity})"
                            for a in slo.burn_alerts)))
    return out


def dashboard(plan: Plan) -> dict[str, Any]:
    """Grafana's dashboard JSON model (import it, or provision it from a file)."""
    app = application_of(plan)
    panels: list[dict[str, Any]] = []
    if app is not None:
        panels = _serving_panels(app)
        if any(s.kind == "monitor" for s in plan.stages):
            panels += _monitor_panels(app)
        panels += _slo_panels(app, plan)
    for i, p in enumerate(panels):
        p["id"] = i + 1
        p["gridPos"] = {"h": HEIGHT, "w": WIDTH, "x": (i % 2) * WIDTH, "y": (i // 2) * HEIGHT}
    return {
        "uid": f"lifecycle-{plan.name}"[:40],
        "title": f"lifecycle: {plan.name}",
        "description": f"Compiled by lifecycle from plan {plan.plan_hash[:12]}"
                       + ("" if app else " (the spec serves nothing)"),
        "tags": ["lifecycle", plan.risk_tier],
        "timezone": "utc",
        "schemaVersion": 39,
        "editable": True,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "templating": {"list": [{"name": "datasource", "type": "datasource",
                                 "query": "prometheus", "label": "Prometheus"}]},
        "panels": panels,
    }
