"""A plan's SLOs as Prometheus rules (multiwindow, multi-burn-rate, in the style of
Sloth and Pyrra), over the metrics the runtime exports (plan/metrics.py).

Per application (the spec's name), one group of serving series the dashboard reads, and
per SLO one group, evaluated in order:

    lifecycle:slo_good:bool                 quality / freshness: 1 when good right now
    lifecycle:slo_error_ratio:rate<w>       share of bad events (or time) over w
    lifecycle:slo_burn_rate:rate<w>         error ratio / error budget, per alert window
    lifecycle:slo_error_budget:remaining    1 - burn rate over the SLO window
    alert LifecycleErrorBudgetBurn          burn rate > factor over the long and short window
    alert LifecycleErrorBudgetExhausted     nothing left (what block_promotion waits on)

Every series keeps `application`, `slot` and `version`, so a candidate's own traffic has
its own budget, and carries `slo` and `sli`. The arithmetic is runtime/slo.py's."""

from __future__ import annotations

from typing import Any

import yaml

from ..plan import Plan, SloParams
from ..plan.metrics import (
    ERROR_OUTCOME,
    FRESHNESS,
    OVERALL_SLICE,
    QUALITY,
    REQUEST_LATENCY_MS,
    REQUESTS,
)
from ..spec.base import format_duration

GOOD = "lifecycle:slo_good:bool"
ERROR_RATIO = "lifecycle:slo_error_ratio:rate"  # + window, e.g. 5m
BURN_RATE = "lifecycle:slo_burn_rate:rate"
BUDGET_REMAINING = "lifecycle:slo_error_budget:remaining"
REQUEST_RATE = "lifecycle:requests:rate5m"
LATENCY_QUANTILE = "lifecycle:request_latency_ms:p{q}_rate5m"
QUANTILES = (50, 99)
BURN_ALERT = "LifecycleErrorBudgetBurn"
EXHAUSTED_ALERT = "LifecycleErrorBudgetExhausted"
PER_VERSION = "application, slot, version"


def prom_duration(seconds: float) -> str:
    """A Prometheus duration: 300 -> '5m'; fractions of a second in ms."""
    if float(seconds).is_integer():
        return format_duration(float(seconds))
    return f"{round(seconds * 1000)}ms"


def _matchers(application: str, *raw: str, **labels: str) -> str:
    pairs = [f'{k}="{v}"' for k, v in {"application": application, **labels}.items()]
    return "{" + ",".join([*pairs, *raw]) + "}"


def application_of(plan: Plan) -> str | None:
    deploy = next((s for s in plan.stages if s.kind == "deploy"), None)
    return None if deploy is None else str(deploy.application)


def _serving_group(app: str) -> dict[str, Any]:
    bucket = REQUEST_LATENCY_MS.part("bucket")
    rules: list[dict[str, Any]] = [{
        "record": REQUEST_RATE,
        "expr": f"sum by ({PER_VERSION}, outcome) "
                f"(rate({REQUESTS.series}{_matchers(app)}[5m]))",
    }]
    for q in QUANTILES:
        rules.append({
            "record": LATENCY_QUANTILE.format(q=q),
            "expr": f"histogram_quantile({q / 100:g}, sum by ({PER_VERSION}, le) "
                    f"(rate({bucket}{_matchers(app)}[5m])))",
        })
    return {"name": f"lifecycle-{app}-serving", "rules": rules}


def _error_ratio(app: str, slo: SloParams, window: str) -> str:
    if slo.sli == "availability":
        total = f"sum by ({PER_VERSION}) (rate({REQUESTS.series}{_matchers(app)}[{window}]))"
        errors = (f"sum by ({PER_VERSION}) (rate({REQUESTS.series}"
                  f"{_matchers(app, outcome=ERROR_OUTCOME)}[{window}]))")
        # no error series yet is no errors, not no data
        return f"({errors} or 0 * {total}) / {total}"
    if slo.sli == "latency":
        assert slo.bucket_ms is not None
        # Ray writes a bound as 50 or 50.0 depending on its exporter: match both
        le = "le=~`" + f"{slo.bucket_ms:g}" + r"(\.0)?`"
        good = (f"sum by ({PER_VERSION}) (rate({REQUEST_LATENCY_MS.part('bucket')}"
                f"{_matchers(app, le)}[{window}]))")
        total = (f"sum by ({PER_VERSION}) (rate({REQUEST_LATENCY_MS.part('count')}"
                 f"{_matchers(app)}[{window}]))")
        return f"1 - {good} / {total}"
    return f"1 - avg_over_time({GOOD}{_matchers(app, slo=slo.name)}[{window}])"


def _good_now(app: str, slo: SloParams) -> str:
    if slo.sli == "quality":
        assert slo.metric is not None
        series = (f"min by (application, version) ({QUALITY.series}"
                  f"{_matchers(app, metric=slo.metric, slice=OVERALL_SLICE)})")
        return f"{series} >= bool {slo.min:g}" if slo.min is not None \
            else f"{series} <= bool {slo.max:g}"
    assert slo.of is not None and slo.max_age_s is not None
    age = f"time() - max by ({PER_VERSION}) ({FRESHNESS[slo.of].series}{_matchers(app)})"
    return f"{age} <= bool {slo.max_age_s:g}"


def _slo_group(app: str, slo: SloParams) -> dict[str, Any]:
    labels = {"slo": slo.name, "sli": slo.sli}
    sel = _matchers(app, slo=slo.name)
    budget = f"{slo.error_budget:g}"
    rules: list[dict[str, Any]] = []
    if not slo.request_based:
        rules.append({"record": GOOD, "expr": _good_now(app, slo), "labels": labels})
    windows = sorted({slo.window_s, *(a.long_s for a in slo.burn_alerts),
                      *(a.short_s for a in slo.burn_alerts)})
    for w in windows:
        rules.append({"record": ERROR_RATIO + prom_duration(w),
                      "expr": _error_ratio(app, slo, prom_duration(w)), "labels": labels})
    for w in sorted({*(a.long_s for a in slo.burn_alerts),
                     *(a.short_s for a in slo.burn_alerts)}):
        d = prom_duration(w)
        rules.append({"record": BURN_RATE + d, "expr": f"{ERROR_RATIO}{d}{sel} / {budget}",
                      "labels": labels})
    rules.append({"record": BUDGET_REMAINING,
                  "expr": f"1 - {ERROR_RATIO}{prom_duration(slo.window_s)}{sel} / {budget}",
                  "labels": labels})
    actions = ", ".join(slo.on_burn)
    what = f"SLO {slo.name} ({slo.sli}, {slo.objective:g}% over {prom_duration(slo.window_s)})"
    for a in slo.burn_alerts:
        long, short = prom_duration(a.long_s), prom_duration(a.short_s)
        rules.append({
            "alert": BURN_ALERT,
            "expr": f"{BURN_RATE}{long}{sel} > {a.factor:g} and "
                    f"{BURN_RATE}{short}{sel} > {a.factor:g}",
            "labels": {**labels, "severity": a.severity, "long_window": long,
                       "short_window": short},
            "annotations": {
                "summary": f"{{{{ $labels.application }}}} version {{{{ $labels.version }}}} "
                           f"burns the error budget of {what} faster than {a.factor:g}x "
                           f"over {long} and {short}",
                "actions": actions,
            },
        })
    rules.append({
        "alert": EXHAUSTED_ALERT,
        "expr": f"{BUDGET_REMAINING}{sel} <= 0",
        "labels": {**labels, "severity": "ticket"},
        "annotations": {
            "summary": f"{{{{ $labels.application }}}} version {{{{ $labels.version }}}} "
                       f"has spent the error budget of {what}",
            "actions": actions,
        },
    })
    return {"name": f"lifecycle-{app}-slo-{slo.name}", "rules": rules}


def prometheus_rules(plan: Plan) -> dict[str, Any]:
    """The rule file (`groups:`) for a plan; no groups when it serves nothing."""
    app = application_of(plan)
    if app is None:
        return {"groups": []}
    return {"groups": [_serving_group(app), *(_slo_group(app, s) for s in plan.slos)]}


def recorded_series(rules: dict[str, Any]) -> set[str]:
    """The series a rule file records (what a dashboard may read besides raw metrics)."""
    return {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}


class _NoAliases(yaml.SafeDumper):
    """Each rule's labels written out, not as YAML anchors and aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def rules_yaml(plan: Plan) -> str:
    header = (f"# Prometheus rules for {plan.name}, compiled by lifecycle from plan "
              f"{plan.plan_hash[:12]} (docs/slo.md). Do not edit: recompile.\n")
    return header + yaml.dump(prometheus_rules(plan), Dumper=_NoAliases, sort_keys=False,
                              width=1000, allow_unicode=True)
