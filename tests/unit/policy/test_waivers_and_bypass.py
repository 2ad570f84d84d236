from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lifecycle.api import validate_one as _validate_one
from lifecycle.compile.validate import Validation

from ...conftest import ROOT, Approved


def validate_one(*args: Any, **kwargs: Any) -> Validation:
    """These tests put waivers and bundles on the command line: opted in (the protection
    itself is tested in test_protected_overrides.py)."""
    return _validate_one(*args, allow_protected_overrides=True, **kwargs)


FRAUD = ROOT / "specs" / "fraud.yaml"
WAIVER = ("+waivers=[{rule: HR-002, reason: 'pilot limited to two merchants', "
          "approved_by: cro@example.com, expires: %s}]")
Write = Callable[[str, str], Path]


def test_wide_first_step_fails_with_rule_line_and_message(approved: Approved) -> None:
    wide = ["serve.rollout.steps.0.weight=50"]
    r = validate_one(approved(FRAUD, wide), wide)
    [p] = r.errors
    assert p.code == "HR-002"
    assert p.message == "high-risk models start their canary at 10% or less"
    assert p.location.origin == "command-line override 'serve.rollout.steps.0.weight=50'"


def test_wide_first_step_in_the_file_points_at_its_line(project: Write,
                                                        approved: Approved) -> None:
    text = FRAUD.read_text().replace("      - weight: 5\n", "      - weight: 50\n")
    spec = project("specs/fraud.yaml", text)
    project("examples/.keep", "")
    r = validate_one(approved(spec))
    [p] = r.errors
    line = text.splitlines().index("      - weight: 50") + 1
    assert (p.code, p.location.file, p.location.line) == ("HR-002", "specs/fraud.yaml", line)


def test_unexpired_waiver_turns_the_failure_into_a_visible_waiver(approved: Approved) -> None:
    changes = ["serve.rollout.steps.0.weight=50", WAIVER % "2027-01-31"]
    r = validate_one(approved(FRAUD, changes), changes)
    assert r.errors == [] and int(r.exit_code) == 0
    [p] = [p for p in r.problems if p.code == "HR-002"]
    assert p.severity == "info" and p.message.startswith("waived:")
    assert "cro@example.com" in (p.hint or "") and "2027-01-31" in (p.hint or "")
    assert r.plan is not None
    [res] = [x for x in r.plan.policy.results if x.rule == "HR-002"]
    assert res.status == "waived" and res.waiver is not None


def test_waiver_valid_through_its_expiry_day(approved: Approved) -> None:
    changes = ["serve.rollout.steps.0.weight=50", WAIVER % "2026-11-22"]
    r = validate_one(approved(FRAUD, changes), changes)
    assert r.errors == []


def test_expired_waiver_is_itself_a_violation(approved: Approved) -> None:
    changes = ["serve.rollout.steps.0.weight=50", WAIVER % "2026-11-21"]
    r = validate_one(approved(FRAUD, changes), changes)
    assert sorted((p.code, p.key_path) for p in r.errors) == [
        ("HR-002", "serve.rollout.steps[0].weight"), ("POL-003", "waivers[0].expires")]


def test_expired_waiver_fails_even_when_the_rule_passes(approved: Approved) -> None:
    changes = [WAIVER % "2026-01-01"]
    r = validate_one(approved(FRAUD, changes), changes)
    assert [p.code for p in r.errors] == ["POL-003"]


def test_waiver_for_unknown_rule_suggests_the_id(approved: Approved) -> None:
    changes = [(WAIVER % "2027-01-01").replace("HR-002", "HR-02")]
    r = validate_one(approved(FRAUD, changes), changes)
    [p] = r.errors
    assert p.code == "POL-001" and "did you mean 'HR-002'?" in (p.hint or "")


def test_unneeded_waiver_is_a_warning(approved: Approved) -> None:
    changes = [WAIVER % "2027-01-01"]
    r = validate_one(approved(FRAUD, changes), changes)
    assert r.errors == []
    assert [p.code for p in r.problems if p.severity == "warning"] == [
        "override.protected", "POL-004"]  # the waiver came from the command line


def test_non_waivable_rule_cannot_be_waived(approved: Approved) -> None:
    changes = ["+train.config.api_token=abc123",
                             (WAIVER % "2027-01-01").replace("HR-002", "BASE-003")]
    r = validate_one(approved(FRAUD, changes), changes)
    assert sorted(p.code for p in r.errors) == ["BASE-003", "POL-002"]


def test_policy_sees_values_set_through_interpolation(project: Write, approved: Approved) -> None:
    text = FRAUD.read_text().replace("      - weight: 5\n", "      - weight: ${labels.w}\n")
    text += "labels: {w: '50'}\n"
    r = validate_one(approved(project("specs/fraud.yaml", text)))
    assert [p.code for p in r.errors] == ["HR-002"]


def test_policy_sees_values_set_through_yaml_merge_keys(project: Write, approved: Approved) -> None:
    text = FRAUD.read_text().replace(
        "      - weight: 5\n        hold: 10m\n",
        "      - <<: {weight: 50, hold: 10m}\n")
    r = validate_one(approved(project("specs/fraud.yaml", text)))
    assert [p.code for p in r.errors] == ["HR-002"]


def test_policy_sees_values_from_a_user_preset(project: Write, approved: Approved) -> None:
    project("specs/conf/serve/rollout/fast.yaml",
            "strategy: canary\non_failure: rollback\nsteps:\n"
            "  - {weight: 60, hold: 10m, gates: [{metric: error_rate, max: 0.01}]}\n"
            "  - {weight: 80, hold: 10m, gates: [{metric: error_rate, max: 0.01}]}\n"
            "  - {weight: 100}\n")
    text = FRAUD.read_text().replace("  - /train: torch_ddp\n",
                                     "  - /train: torch_ddp\n  - /serve/rollout: fast\n")
    start = text.index("  rollout:\n")
    end = text.index("\nmonitors:")
    text = text[:start] + text[end:]
    r = validate_one(approved(project("specs/fraud.yaml", text)))
    [p] = r.errors
    assert p.code == "HR-002" and p.location.file == "specs/conf/serve/rollout/fast.yaml"


def test_a_spec_cannot_pick_a_weaker_bundle() -> None:
    r = validate_one(FRAUD, ["+policy=low"])
    # the bundle is covered by the approval digest, so the example approvals no longer hold
    # (and a refused spec cannot be approved anew): the tier's bundle, which applies either
    # way, wants its approvals, and the only other error is the refusal itself
    assert [p.code for p in r.errors] == ["policy.bundle-too-weak", "MR-002", "HR-001",
                                          "APR-007", "APR-007"]
    assert int(r.exit_code) == 2


def test_a_spec_may_pick_a_stricter_bundle() -> None:
    r = validate_one(ROOT / "specs" / "churn-service.yaml", ["+policy=high"])
    assert "HR-001" in {p.code for p in r.errors}


def test_unknown_bundle_suggests_one() -> None:
    r = validate_one(FRAUD, ["+policy=hihg"])
    [p] = r.errors
    assert p.code == "policy.unknown-bundle" and "did you mean 'high'?" in (p.hint or "")
