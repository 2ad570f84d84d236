"""The Prometheus rules compiled from the specs, through Prometheus' own promtool: every
example's rules load (`promtool check rules`), and on synthetic series (`promtool test
rules`) the burn-rate alerts fire for a version that fails and stay quiet for a healthy
one, with the burn rates runtime/slo.py computes from the same counts. Light: no Ray;
needs promtool (Debian's `prometheus` package, which .ci/run installs)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from lifecycle.api import compile_spec
from lifecycle.compile.prometheus import BURN_ALERT, EXHAUSTED_ALERT, prometheus_rules, rules_yaml
from lifecycle.plan import Plan
from lifecycle.plan.metrics import QUALITY, REQUEST_LATENCY_MS, REQUESTS
from lifecycle.runtime.slo import Counts, burn_rate

from ..conftest import ROOT, approved_copy

pytestmark = pytest.mark.integration

FRAUD = ROOT / "specs" / "fraud.yaml"
APP = "fraud-detector"
EVERY_SLI = """
  - {name: auc, sli: quality, metric: live_auc, min: 0.85, objective: 95}
  - {name: loss, sli: quality, metric: live_log_loss, max: 0.3, objective: 95, window: 7d}
  - {name: model-age, sli: freshness, of: model, max_age: 30d, objective: 99}
  - name: data-age
    sli: freshness
    of: training_data
    max_age: 45d
    objective: 99
    burn_alerts: [{long_window: 1d, short_window: 2h, factor: 3, severity: ticket}]
"""


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool is not None, ("promtool is missing: install Debian's prometheus package "
                              "(apt-get install prometheus), as .ci/run does")
    return subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def _every_sli_plan(tmp_path: Path) -> Plan:
    spec = tmp_path / "fraud.yaml"
    spec.write_text(FRAUD.read_text() + EVERY_SLI)
    return compile_spec(approved_copy(spec, tmp_path))  # SLOs are covered by approvals


@pytest.mark.parametrize("spec", sorted((ROOT / "specs").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_rules_of_every_example_spec_pass_promtool_check(spec: Path, tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(rules_yaml(compile_spec(spec)))
    r = _promtool("check", "rules", "rules.yml", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_rules_of_every_kind_of_sli_pass_promtool_check(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(rules_yaml(_every_sli_plan(tmp_path)))
    r = _promtool("check", "rules", "rules.yml", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


# --- promtool test rules ------------------------------------------------------------

def _series(metric: str, slot: str, version: str, **labels: str) -> str:
    pairs = {"application": APP, "slot": slot, "version": version, "replica": f"r-{slot}",
             **labels}
    return metric + "{" + ",".join(f'{k}="{v}"' for k, v in pairs.items()) + "}"


def _alert(rules: dict[str, Any], name: str, slo: str, version: str,
           slot: str | None = None, long: str | None = None) -> dict[str, Any]:
    """The firing alert promtool should report, annotations rendered. Live metrics are
    per version: their alerts carry no slot."""
    rule = next(r for g in rules["groups"] for r in g["rules"]
                if r.get("alert") == name and r["labels"]["slo"] == slo
                and r["labels"].get("long_window") == long)
    labels = {**rule["labels"], "application": APP, "version": version,
              **({"slot": slot} if slot else {})}

    def render(text: str) -> str:
        return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)

    return {"exp_labels": labels,
            "exp_annotations": {k: render(v) for k, v in rule["annotations"].items()}}


def _labels(metric: str, slot: str, version: str, slo: str) -> str:
    pairs = {"application": APP, "slot": slot, "version": version, "slo": slo, "sli": slo}
    return metric + "{" + ",".join(f'{k}="{v}"' for k, v in pairs.items()) + "}"


def _run_test(tmp_path: Path, plan: Plan, series: list[dict[str, str]],
              alerts: list[dict[str, Any]], exprs: list[dict[str, Any]]) -> None:
    (tmp_path / "rules.yml").write_text(rules_yaml(plan))
    (tmp_path / "test.yml").write_text(yaml.safe_dump({
        "rule_files": ["rules.yml"], "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": alerts,
                   "promql_expr_test": exprs}]}, sort_keys=False))
    r = _promtool("test", "rules", "test.yml", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


def _requests(slot: str, version: str, ok: str, errors: str) -> list[dict[str, str]]:
    return [{"series": _series(REQUESTS.series, slot, version, outcome="ok"), "values": ok},
            {"series": _series(REQUESTS.series, slot, version, outcome="error"),
             "values": errors}]


def _fast() -> list[dict[str, str]]:
    """Per minute: the candidate answers 90 and fails 10 (10% errors) for an hour, then
    recovers; the stable version fails 1 in 2,000 (half its budget). Every request of
    both is under the latency SLO's 50 ms."""
    out = _requests("candidate", "2", "0+90x60 5400+100x60", "0+10x60 600+0x60")
    out += _requests("stable", "1", "0+1999x120", "0+1x120")
    for slot, version, per_minute in (("candidate", "2", 100), ("stable", "1", 2000)):
        for part, le in (("bucket", {"le": "50.0"}), ("count", {})):
            out.append({"series": _series(REQUEST_LATENCY_MS.part(part), slot, version, **le),
                        "values": f"0+{per_minute}x120"})
    return out


def test_fast_burn_pages_for_the_failing_candidate_and_not_for_the_stable(
        tmp_path: Path) -> None:
    plan = compile_spec(FRAUD)
    rules = prometheus_rules(plan)
    failing = burn_rate(Counts(good=90, total=100), 99.9)  # 100x
    healthy = burn_rate(Counts(good=1999, total=2000), 99.9)  # 0.5x
    burn = "lifecycle:slo_burn_rate:rate5m"
    _run_test(tmp_path, plan, _fast(), alerts=[
        {"eval_time": "10m", "alertname": BURN_ALERT, "exp_alerts": [
            _alert(rules, BURN_ALERT, "availability", "2", "candidate", "1h"),
            _alert(rules, BURN_ALERT, "availability", "2", "candidate", "6h")]},
        # the candidate's hour-long burn has spent its 28-day budget; the stable's has not
        {"eval_time": "10m", "alertname": EXHAUSTED_ALERT, "exp_alerts": [
            _alert(rules, EXHAUSTED_ALERT, "availability", "2", "candidate")]},
        # 10 minutes after it recovered: the 5 m window is clean, so the fast page stops;
        # the 30 m window still holds the burn, so the slow page goes on
        {"eval_time": "70m", "alertname": BURN_ALERT, "exp_alerts": [
            _alert(rules, BURN_ALERT, "availability", "2", "candidate", "6h")]},
    ], exprs=[{"expr": f'{burn}{{slo="availability"}}', "eval_time": "10m", "exp_samples": [
        {"labels": _labels(burn, "candidate", "2", "availability"), "value": failing},
        {"labels": _labels(burn, "stable", "1", "availability"), "value": healthy}]}])


def test_quality_below_its_bound_burns_the_candidates_budget(tmp_path: Path) -> None:
    plan = _every_sli_plan(tmp_path)
    rules = prometheus_rules(plan)
    series = _fast()
    for version, auc in (("2", "0.80"), ("1", "0.91")):
        series.append({"series": QUALITY.series + "{" + f'application="{APP}",metric='
                       f'"live_auc",version="{version}",slice="all",replica="q"' + "}",
                       "values": f"{auc}x120"})
    # every evaluation of the candidate is bad: the whole 5% budget burns at 20x
    _run_test(tmp_path, plan, series, alerts=[
        {"eval_time": "10m", "alertname": BURN_ALERT, "exp_alerts": [
            _alert(rules, BURN_ALERT, "availability", "2", "candidate", "1h"),
            _alert(rules, BURN_ALERT, "availability", "2", "candidate", "6h"),
            _alert(rules, BURN_ALERT, "auc", "2", long="1h"),
            _alert(rules, BURN_ALERT, "auc", "2", long="6h")]},
    ], exprs=[{"expr": 'lifecycle:slo_burn_rate:rate1h{slo="auc"}', "eval_time": "10m",
               "exp_samples": [{"labels": 'lifecycle:slo_burn_rate:rate1h{application="'
                                f'{APP}",version="2",slo="auc",sli="quality"}}',
                                "value": burn_rate(Counts(good=0, total=10), 95.0)},
                               {"labels": 'lifecycle:slo_burn_rate:rate1h{application="'
                                f'{APP}",version="1",slo="auc",sli="quality"}}',
                                "value": 0}]}])
