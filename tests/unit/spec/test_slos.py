"""`slos`: each structural and cross-field rule with the code, key path and message that
fired, through the real loader (fraud.yaml's slos[0] is availability, slos[1] latency)."""

from __future__ import annotations

from typing import Any

import pytest

from lifecycle.api import validate_one

from ...conftest import ROOT, Approved

FRAUD = ROOT / "specs" / "fraud.yaml"
DEMAND = ROOT / "specs" / "demand-batch.yaml"
CHURN = ROOT / "specs" / "churn-service.yaml"


def _problems(spec: Any, *overrides: str) -> list[tuple[str, str, str, str | None]]:
    r = validate_one(spec, list(overrides))
    return [(p.code, p.key_path, p.message, p.hint) for p in r.problems
            if p.severity in ("error", "warning")]


def test_defaults_are_the_sre_workbooks_page_alerts_and_a_28_day_window() -> None:
    r = validate_one(FRAUD)
    assert r.spec is not None
    slo = r.spec.slos[0]
    assert slo.window == 28 * 86400
    assert [(a.long_window, a.short_window, a.factor, a.severity) for a in slo.burn_alerts] \
        == [(3600, 300, 14.4, "page"), (21600, 1800, 6.0, "page")]


def test_latency_slo_without_threshold_is_refused() -> None:
    assert _problems(FRAUD, "~slos.1.threshold_ms") == [
        ("schema.missing-key", "slos[1]", "a latency SLO needs threshold_ms",
         "add 'threshold_ms:' to SLO 'latency'")]


def test_field_of_another_sli_is_refused_where_it_is_written() -> None:
    assert _problems(FRAUD, "+slos.0.threshold_ms=100") == [
        ("schema.rule", "slos[0].threshold_ms", "threshold_ms applies to latency SLOs, not "
         "availability", "remove threshold_ms, or set sli: latency")]


def test_quality_slo_needs_exactly_one_bound() -> None:
    probs = _problems(FRAUD, "slos.0.sli=quality", "+slos.0.metric=live_auc")
    assert probs == [("schema.rule", "slos[0]", "a quality SLO needs exactly one of min (a "
                      "score such as live_auc) or max (a loss)", "e.g. min: 0.85 for live_auc")]


def test_quality_slo_reads_a_live_metric_and_suggests_it() -> None:
    probs = _problems(FRAUD, "slos.0.sli=quality", "+slos.0.metric=auc", "+slos.0.min=0.9")
    assert [(c, k, h) for c, k, _, h in probs] == [
        ("schema.rule", "slos[0].metric", "did you mean 'live_auc'?")]


def test_freshness_slo_needs_its_subject_and_max_age() -> None:
    probs = _problems(FRAUD, "slos.0.sli=freshness")
    assert [(c, k, m) for c, k, m, _ in probs] == [
        ("schema.missing-key", "slos[0]", "a freshness SLO needs of"),
        ("schema.missing-key", "slos[0]", "a freshness SLO needs max_age")]


def test_threshold_off_the_buckets_warns_which_bound_is_used(approved: Approved) -> None:
    off_bucket = ["slos.1.threshold_ms=150"]
    r = validate_one(approved(FRAUD, off_bucket), off_bucket)
    [w] = [p for p in r.problems if p.severity == "warning"]
    assert (w.code, w.key_path) == ("schema.latency-bucket", "slos[1].threshold_ms")
    assert w.message == ("threshold_ms 150 is not a latency bucket bound: the SLO counts "
                         "requests answered in 100 ms or less (the nearest bound below)")
    assert w.location.file is not None or w.location.origin is not None
    assert int(r.exit_code) == 0 and r.plan is not None
    assert r.plan.slos[1].bucket_ms == 100 and r.plan.slos[1].threshold_ms == 150


def test_threshold_below_the_smallest_bucket_is_refused() -> None:
    probs = _problems(FRAUD, "slos.1.threshold_ms=0.5")
    assert [(c, k) for c, k, _, _ in probs] == [("schema.out-of-range",
                                                "slos[1].threshold_ms")]


def test_objective_of_100_leaves_no_budget_and_is_refused() -> None:
    [(code, key, _, _)] = _problems(FRAUD, "slos.0.objective=100")
    assert (code, key) == ("schema.out-of-range", "slos[0].objective")


def test_short_window_must_be_shorter_than_the_long() -> None:
    probs = _problems(FRAUD, "slos.0.burn_alerts=[{long_window: 1h, short_window: 2h, "
                      "factor: 14.4}]")
    assert [(c, k) for c, k, _, _ in probs] == [
        ("schema.rule", "slos[0].burn_alerts[0].short_window")]
    assert probs[0][2] == "short_window 2h is not shorter than long_window 1h"


def test_alert_window_longer_than_the_slo_window_is_refused() -> None:
    probs = _problems(FRAUD, "slos.0.window=3h")
    assert [(c, k, m) for c, k, m, _ in probs] == [
        ("schema.rule", "slos[0].burn_alerts[1].long_window",
         "long_window 6h is longer than the SLO window 3h")]


def test_a_factor_the_objective_can_never_reach_is_refused() -> None:
    probs = _problems(FRAUD, "slos.0.objective=90")
    assert probs == [("schema.rule", "slos[0].burn_alerts[0].factor",
                      "factor 14.4 can never fire for objective 90: the highest burn rate is "
                      "10 (every request bad)", "lower the factor below 10, or raise the "
                      "objective")]


def test_two_alerts_on_the_same_windows_are_refused() -> None:
    alerts = "[{long_window: 1h, short_window: 5m, factor: 14.4}, " \
             "{long_window: 60m, short_window: 300s, factor: 10}]"
    probs = _problems(FRAUD, f"slos.0.burn_alerts={alerts}")
    assert [(c, k) for c, k, _, _ in probs] == [("schema.rule", "slos[0].burn_alerts[1]")]


def test_slo_names_are_unique() -> None:
    probs = _problems(FRAUD, "slos.1.name=availability")
    assert [(c, k) for c, k, _, _ in probs] == [("schema.rule", "slos[1].name")]


def test_slos_need_a_served_model() -> None:
    probs = _problems(DEMAND, "+slos=[{name: up, sli: availability, objective: 99}]")
    assert probs == [("schema.rule", "slos", "SLOs measure a served model; this spec has no "
                      "serve section", "add serve, or remove slos")]


def test_rollback_on_burn_needs_a_rollout() -> None:
    probs = _problems(CHURN, "~serve.rollout", "slos.0.on_burn=[alert,rollback]")
    assert [(c, k, m) for c, k, m, _ in probs if c.startswith("schema")] == [
        ("schema.rule", "slos[0].on_burn[1]", "rollback acts on a rollout's candidate, and "
         "serve has no rollout")]


def test_on_burn_offers_the_monitor_actions_that_fit_a_budget() -> None:
    [(code, key, message, _)] = _problems(FRAUD, "slos.0.on_burn=[alert,freeze]")
    assert (code, key, message) == ("schema.invalid-choice", "slos[0].on_burn[1]",
                                    "'freeze' is not one of: alert, block_promotion, rollback")


@pytest.mark.parametrize("key,hint", [("objectve", "did you mean 'objective'?"),
                                      ("burn_alert", "did you mean 'burn_alerts'?")])
def test_unknown_key_in_an_slo_suggests_the_field(key: str, hint: str) -> None:
    [(code, path, _, got)] = _problems(FRAUD, f"+slos.0.{key}=1")
    assert (code, path, got) == ("schema.unknown-key", f"slos[0].{key}", hint)
