"""Rollouts and waivers that keep the letter of the rules while defeating their intent
(issue 18, item 19): refused at high risk, with milder values at medium risk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lifecycle.api import validate_one

from ...conftest import ROOT, Approved

FRAUD = ROOT / "specs" / "fraud.yaml"  # high risk: canary 5% (10m) -> 50% (30m) -> 100%
CHURN = ROOT / "specs" / "churn-service.yaml"  # medium risk: canary 5/25/50% (10m each)
GATED = "gates: [{metric: error_rate, max: 0.01}]"
Errors = Callable[[Path, list[str]], set[tuple[str, str]]]


@pytest.fixture
def errors(approved: Approved) -> Errors:
    """errors(spec, overrides): its errors, approved for the change where it holds signed
    approvals (FRAUD: a change to its rollout would void them too)."""

    def check(spec: Path, overrides: list[str]) -> set[tuple[str, str]]:
        signed = approved(spec, overrides) if spec == FRAUD else spec
        return {(p.code, p.key_path) for p in validate_one(signed, overrides).errors}

    return check


def _steps(*steps: str) -> str:
    return "serve.rollout.steps=[" + ", ".join(steps) + "]"


def _blue_green(*steps: str) -> list[str]:
    return ["serve.rollout.strategy=blue_green", _steps(*steps)]


def test_blue_green_straight_to_full_traffic_is_refused(errors: Errors) -> None:
    assert errors(FRAUD, _blue_green("{weight: 100}")) == {("MR-006", "serve.rollout.steps")}


def test_blue_green_with_a_gated_preview_passes_high_risk(errors: Errors) -> None:
    assert errors(FRAUD, _blue_green(f"{{weight: 0, hold: 15m, {GATED}}}", "{weight: 100}")) \
        == set()


def test_blue_green_preview_after_the_switch_does_not_count(errors: Errors) -> None:
    assert errors(FRAUD, _blue_green("{weight: 100}", f"{{weight: 0, hold: 15m, {GATED}}}",
                                     "{weight: 100}")) == {("MR-006", "serve.rollout.steps")}


def test_blue_green_preview_held_too_briefly_does_not_count(errors: Errors) -> None:
    assert errors(FRAUD, _blue_green(f"{{weight: 0, hold: 9m, {GATED}}}", "{weight: 100}")) \
        == {("MR-006", "serve.rollout.steps")}


def test_single_ab_split_is_refused_at_high_risk(approved: Approved) -> None:
    # an A/B split holds until an operator decides: its gates never roll it back
    ab = ["serve.rollout.strategy=ab", _steps(f"{{weight: 50, {GATED}}}"),
          "+serve.rollout.sticky_key=customer"]
    r = validate_one(approved(FRAUD, ab), ab)
    [p] = r.errors
    assert (p.code, p.key_path) == ("MR-003", "serve.rollout.strategy")
    assert p.message == ("served models at this tier roll out progressively, with strategy "
                         "one of: canary, blue_green")


def test_ab_split_is_allowed_at_medium_risk(errors: Errors) -> None:
    assert errors(CHURN, ["serve.rollout.strategy=ab", _steps(f"{{weight: 50, {GATED}}}"),
                          "+serve.rollout.sticky_key=customer"]) == set()


def test_canary_from_zero_straight_to_full_traffic_is_refused(errors: Errors) -> None:
    zero_to_full = _steps(f"{{weight: 0, hold: 10m, {GATED}}}", "{weight: 100}")
    assert errors(FRAUD, [zero_to_full]) == {("MR-005", "serve.rollout.steps"),
                                             ("HR-002", "serve.rollout.steps[1].weight")}
    assert errors(CHURN, [zero_to_full]) == {("MR-005", "serve.rollout.steps")}


def test_canary_first_step_with_callers_is_held_to_the_first_step_limit(errors: Errors) -> None:
    preview_then_wide = _steps(f"{{weight: 0, hold: 10m, {GATED}}}",
                               f"{{weight: 60, hold: 10m, {GATED}}}",
                               f"{{weight: 80, hold: 10m, {GATED}}}", "{weight: 100}")
    assert errors(FRAUD, [preview_then_wide]) == {("HR-002", "serve.rollout.steps[1].weight")}


def test_every_hold_zero_is_refused(errors: Errors) -> None:
    assert errors(FRAUD, ["serve.rollout.steps.0.hold=0s", "serve.rollout.steps.1.hold=0s"]) \
        == {("MR-005", "serve.rollout.steps"), ("MR-007", "serve.rollout.steps[0].hold"),
            ("MR-007", "serve.rollout.steps[1].hold")}


def test_single_gated_canary_step_is_too_few_at_high_risk(errors: Errors) -> None:
    one_step = _steps(f"{{weight: 5, hold: 30m, {GATED}}}", "{weight: 100}")
    assert errors(FRAUD, [one_step]) == {("MR-005", "serve.rollout.steps")}
    assert errors(CHURN, [one_step]) == set()


def test_gate_interval_longer_than_the_hold_is_refused(errors: Errors) -> None:
    # holds of 10m and 30m; high risk wants 3 gate checks in each
    assert errors(FRAUD, ["serve.rollout.gate_interval=20m"]) == {
        ("MR-007", "serve.rollout.steps[0].hold"), ("MR-007", "serve.rollout.steps[1].hold")}
    assert errors(FRAUD, ["serve.rollout.gate_interval=200s"]) == set()  # 3 x 200s = 10m


def test_gate_that_cannot_fail_does_not_gate_the_step(errors: Errors) -> None:
    assert errors(FRAUD, ["serve.rollout.steps.0.gates=[{metric: error_rate, max: 1.0}]"]) \
        == {("MR-008", "serve.rollout.steps[0].gates")}
    assert errors(FRAUD, ["serve.rollout.steps.1.gates=[{metric: latency_p99_ms, max: 1e9}]"]) \
        == {("MR-008", "serve.rollout.steps[1].gates")}


def _waiver(rule: str, expires: str) -> str:
    return (f"+waivers=[{{rule: {rule}, reason: 'pilot limited to two merchants', "
            f"approved_by: cro@example.com, expires: {expires}}}]")


def test_waiver_expiring_in_year_9999_is_refused(approved: Approved) -> None:
    long_waiver = ["serve.rollout.steps.0.weight=50", _waiver("HR-002", "9999-12-31")]
    r = validate_one(approved(FRAUD, long_waiver), long_waiver, allow_protected_overrides=True)
    [p] = r.errors
    assert (p.code, p.key_path) == ("BASE-008", "waivers[0].expires")
    assert p.message == "a waiver expires at most 90 days after today at this tier"


def test_the_waiver_length_rule_cannot_be_waived(approved: Approved) -> None:
    waived = [_waiver("BASE-008", "2027-01-01")]
    r = validate_one(approved(FRAUD, waived), waived, allow_protected_overrides=True)
    assert [p.code for p in r.errors] == ["POL-002"]


@pytest.mark.parametrize("spec, last_day", [(FRAUD, "2027-02-20"), (CHURN, "2027-05-21")])
def test_waiver_may_run_up_to_the_tier_limit(spec: Path, last_day: str, errors: Errors) -> None:
    # today is pinned to 2026-11-22: 90 days at high risk, 180 at medium
    assert ("BASE-008", "waivers[0].expires") not in errors(spec, [_waiver("MR-004", last_day)])
    day_after = last_day[:-2] + str(int(last_day[-2:]) + 1)
    assert ("BASE-008", "waivers[0].expires") in errors(spec, [_waiver("MR-004", day_after)])


def test_medium_tier_takes_milder_values(errors: Errors) -> None:
    mild = ["serve.rollout.gate_interval=150s",
            _steps("{weight: 30, hold: 5m, gates: [{metric: error_rate, max: 0.1}]}",
                   "{weight: 100}")]
    assert errors(CHURN, mild) == set()
    assert {"HR-002", "MR-005", "MR-007", "MR-008"} <= {
        code for code, _ in errors(CHURN, [*mild, "+policy=high"])}
