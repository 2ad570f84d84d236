"""The SLO artifacts compiled from a plan: the typed SLOs it carries, the Prometheus rules
(their shape; promtool checks and evaluates them in tests/integration) and the Grafana
dashboard, checked structurally: every expression reads a series the rules record or a
metric of the runtime's contract."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from lifecycle.api import compile_spec, grafana_dashboard, prometheus_rules
from lifecycle.cli.main import main
from lifecycle.compile.prometheus import (
    BUDGET_REMAINING,
    BURN_ALERT,
    EXHAUSTED_ALERT,
    recorded_series,
)
from lifecycle.compile.prometheus import prometheus_rules as rules_of
from lifecycle.plan.metrics import CONTRACT, REQUEST_LATENCY_MS, REQUESTS

from ...conftest import ROOT, compile_approved

FRAUD = ROOT / "specs" / "fraud.yaml"
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\{")


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


def test_plan_carries_typed_slos_without_touching_stage_hashes() -> None:
    plan = compile_spec(FRAUD)
    latency = plan.slos[1]
    assert (latency.sli, latency.objective, latency.bucket_ms, latency.window_s) == \
        ("latency", 99.0, 50.0, 28 * 86400)
    assert latency.on_burn == ["alert", "block_promotion", "rollback"]
    # SLOs are covered by the approval digest, so looser ones are approved anew: nothing
    # retrains or redeploys; only the rollout stage, which carries the digest its approvals
    # cover, changes (and retire, after it), and by that digest alone
    looser = compile_approved(FRAUD, ["slos.0.objective=99.5", "slos.1.window=7d"])
    assert [s.id for s, t in zip(plan.stages, looser.stages)
            if s.content_hash != t.content_hash] == ["rollout", "retire"]
    unsigned = {"approved_digest": None, "content_hash": ""}
    assert looser.stage("rollout").approved_digest != plan.stage("rollout").approved_digest
    assert looser.stage("rollout").model_copy(update=unsigned) == \
        plan.stage("rollout").model_copy(update=unsigned)
    assert looser.slos[0].error_budget == 0.005


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_every_dashboard_expression_reads_recorded_series_or_contract_metrics(
        spec: Path) -> None:
    plan = compile_spec(spec)
    recorded = recorded_series(rules_of(plan))
    raw = {name for m in CONTRACT for name in m.exported_names}
    board = grafana_dashboard(plan)
    names = [n for e in _exprs(board) for n in SELECTOR.findall(e)]
    assert [n for n in names if n not in recorded | raw] == []
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    assert all(t["refId"] and p["datasource"]["uid"] == "${datasource}"
               for p in board["panels"] for t in p["targets"])


def test_dashboard_shows_traffic_errors_latency_drift_quality_and_budgets() -> None:
    board = grafana_dashboard(compile_spec(FRAUD))
    titles = [p["title"] for p in board["panels"]]
    assert titles[:4] == ["Requests per second by version", "Errors (5xx) by version",
                          "Latency by version", "Live quality by version"]
    assert {"Drift p-values", "Drift detected"} <= set(titles)
    budget = next(p for p in board["panels"]
                  if p["title"] == "Error budget left: availability (99.9% over 28d)")
    assert budget["targets"][0]["expr"] == \
        f'{BUDGET_REMAINING}{{application="fraud-detector",slo="availability"}}'


def test_rules_have_one_burn_alert_per_configured_window_pair_and_an_exhausted_alert(
        ) -> None:
    rules = rules_of(compile_spec(FRAUD))
    group = next(g for g in rules["groups"] if g["name"] ==
                 "lifecycle-fraud-detector-slo-availability")
    alerts = [(r["alert"], r["labels"].get("long_window"), r["labels"].get("short_window"),
               r["labels"]["severity"]) for r in group["rules"] if "alert" in r]
    assert alerts == [(BURN_ALERT, "1h", "5m", "page"), (BURN_ALERT, "6h", "30m", "page"),
                      (EXHAUSTED_ALERT, None, None, "ticket")]
    fast = next(r for r in group["rules"] if r.get("labels", {}).get("long_window") == "1h")
    assert fast["expr"] == (
        'lifecycle:slo_burn_rate:rate1h{application="fraud-detector",slo="availability"} '
        '> 14.4 and '
        'lifecycle:slo_burn_rate:rate5m{application="fraud-detector",slo="availability"} '
        '> 14.4')


def test_latency_rules_count_under_the_bucket_whichever_way_ray_writes_it() -> None:
    rules = rules_of(compile_approved(FRAUD, ["slos.1.threshold_ms=150"]))
    group = next(g for g in rules["groups"] if g["name"].endswith("-slo-latency"))
    ratio = next(r for r in group["rules"] if r.get("record") ==
                 "lifecycle:slo_error_ratio:rate5m")
    assert f'{REQUEST_LATENCY_MS.part("bucket")}{{application="fraud-detector",' \
           f'le=~`100(\\.0)?`}}[5m]' in ratio["expr"]


def test_availability_rules_read_5xx_errors_of_the_request_counter() -> None:
    rules = rules_of(compile_spec(FRAUD))
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    assert any(f'{REQUESTS.series}{{application="fraud-detector",outcome="error"}}' in e
               for e in exprs)


def test_a_plan_that_serves_nothing_has_no_rule_groups() -> None:
    assert rules_of(compile_spec(ROOT / "specs" / "demand-batch.yaml")) == {"groups": []}


def test_compile_writes_rules_and_dashboard(tmp_path: Path) -> None:
    rules, board = tmp_path / "rules.yml", tmp_path / "dash.json"
    assert main(["compile", str(FRAUD), "-o", str(tmp_path / "plan.json"),
                 "--prometheus-rules", str(rules), "--grafana", str(board)]) == 0
    assert rules.read_text() == prometheus_rules(compile_spec(FRAUD))
    assert json.loads(board.read_text())["uid"] == "lifecycle-fraud-detector"


def _assigned(path: Path, name: str) -> Any:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not found in {path}")


def test_the_runtime_exports_what_the_contract_says() -> None:
    """Read from the runtime's source (importing it would need Ray): every metric the
    contract says the runtime exports is made from the contract entry itself."""
    import lifecycle.plan.metrics as contract

    runtime = ROOT / "lifecycle" / "runtime"
    source = "\n".join(p.read_text() for p in runtime.rglob("*.py"))
    names = {id(v): k for k, v in vars(contract).items() if isinstance(v, contract.Metric)}
    for metric in CONTRACT:
        made = f"exported({names[id(metric)]})" in source
        assert made == metric.exported_by_runtime, metric.name
    assert "metrics.Counter(\"lifecycle_requests\"" not in source  # never a second copy
