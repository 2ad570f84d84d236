"""Keys a policy bundle protects (risk_tier, policy, waivers, approvals by default) cannot be
changed from the command line without an explicit opt-in, whatever route the change takes;
with the opt-in, the change is recorded in the plan (issue 18 item 16)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lifecycle.api import compile_spec, validate_one
from lifecycle.errors import PolicyError

from ...conftest import MINIMAL, ROOT, Approved

FRAUD = ROOT / "specs" / "fraud.yaml"  # high risk, signed approvals beside it
CHURN = ROOT / "specs" / "churn-service.yaml"  # medium risk, an `approvals:` list
Write = Callable[[str, str], Path]
WAIVER = ("+waivers=[{rule: HR-002, reason: 'pilot limited to two merchants', "
          "approved_by: cro@example.com, expires: 2027-01-31}]")


def _protected(r):  # type: ignore[no-untyped-def]
    return [(p.key_path, p.severity, p.location.origin) for p in r.problems
            if p.code == "override.protected"]


@pytest.mark.parametrize("spec, override, key", [
    (FRAUD, "risk_tier=low", "risk_tier"),
    (FRAUD, "+policy=high", "policy"),
    (FRAUD, "+approvals=[]", "approvals"),
    (CHURN, "approvals=[]", "approvals"),
    (CHURN, "~approvals", "approvals"),
    (CHURN, "approvals.0.role=model-risk", "approvals"),
    (FRAUD, WAIVER, "waivers"),
], ids=lambda v: v.name if isinstance(v, Path) else None)
def test_protected_key_cannot_be_overridden(spec: Path, override: str, key: str) -> None:
    r = validate_one(spec, [override])
    assert _protected(r) == [(key, "error", f"command-line override '{override}'")]
    [p] = [p for p in r.errors if p.code == "override.protected"]
    bundle = "high" if spec == FRAUD else "medium"
    assert p.message == f"'{key}' is protected by policy bundle '{bundle}': the command " \
        "line may not change it"
    assert "--allow-protected-overrides" in (p.hint or "")
    assert int(r.exit_code) in (1, 2)


def test_compile_and_run_refuse_a_protected_override(approved: Approved) -> None:
    # approved for the change, so that the protection is the only refusal
    with pytest.raises(PolicyError) as info:
        compile_spec(approved(FRAUD, ["risk_tier=low"]), ["risk_tier=low"])
    assert [p.code for p in info.value.all_problems()] == ["override.protected"]


def test_approve_refuses_a_protected_override_without_the_opt_in(approved: Approved) -> None:
    from examples.approvers.sign import write_keys
    from lifecycle.api import approve

    spec = approved(FRAUD)
    keys = write_keys(spec.parent.parent / "keys")
    with pytest.raises(PolicyError) as info:
        approve(spec, "model-risk", keys["alice@example.com"], overrides=["risk_tier=low"])
    assert [p.code for p in info.value.all_problems()] == ["override.protected"]
    done = approve(spec, "model-risk", keys["alice@example.com"], overrides=["risk_tier=low"],
                   allow_protected_overrides=True)
    assert done.statement.by == "alice@example.com"


def test_unprotected_overrides_are_not_affected() -> None:
    r = validate_one(FRAUD, ["serve.rollout.steps.0.weight=5", "tune.num_samples=4"])
    assert r.problems == [] and r.plan is not None and r.plan.protected_overrides == []


def test_opt_in_allows_the_override_and_records_it_in_the_plan(approved: Approved) -> None:
    change = ["risk_tier=low", "tune.num_samples=4"]
    r = validate_one(approved(FRAUD, change), change, allow_protected_overrides=True)
    assert _protected(r) == [("risk_tier", "warning", "command-line override 'risk_tier=low'")]
    assert r.errors == [] and r.plan is not None
    assert r.plan.protected_overrides == ["risk_tier"]
    assert r.plan.overrides == ["risk_tier=low", "tune.num_samples=4"]


def test_change_through_an_interpolation_is_caught(project: Write) -> None:
    spec = project("specs/s.yaml", MINIMAL.replace("risk_tier: low", "risk_tier: ${labels.tier}")
                   + "labels: {tier: low}\n")
    r = validate_one(spec, ["labels.tier=medium"])
    assert [(k, s) for k, s, _ in _protected(r)] == [("risk_tier", "error")]


def test_change_through_a_preset_choice_is_caught(project: Write) -> None:
    project("specs/conf/tier/relaxed.yaml", "# @package _global_\nrisk_tier: low\n")
    project("specs/conf/tier/strict.yaml", "# @package _global_\nrisk_tier: medium\n")
    spec = project("specs/s.yaml", "defaults:\n  - /tier: strict\n  - _self_\n"
                   + MINIMAL.replace("risk_tier: low\n", ""))
    r = validate_one(spec, ["tier=relaxed"])
    assert [(k, s) for k, s, _ in _protected(r)] == [("risk_tier", "error")]


def test_the_bundle_decides_which_keys_are_protected(project: Write,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # the platform's own low-tier bundle (earlier on the policy path) protects other keys
    project("policies/low.yaml", "tier: low\nextends: [baseline]\n"
            "settings: {protected_keys: [risk_tier, data.contract]}\n")
    monkeypatch.setenv("LIFECYCLE_POLICY_PATH", str(Path("policies").resolve()))
    spec = project("specs/s.yaml", MINIMAL)
    r = validate_one(spec, ["data.contract.min_rows=5", "+approvals=[]"])
    assert [(k, s) for k, s, _ in _protected(r)] == [("data.contract", "error")]


def test_a_named_bundle_protects_more_keys_never_fewer(project: Write,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    project("policies/strict.yaml", "settings: {protected_keys: [data.contract]}\n")
    monkeypatch.setenv("LIFECYCLE_POLICY_PATH", str(Path("policies").resolve()))
    spec = project("specs/s.yaml", MINIMAL + "policy: strict\n")
    r = validate_one(spec, ["data.contract.min_rows=5", "+approvals=[]"])
    assert [(k, s) for k, s, _ in _protected(r)] == [("approvals", "error"),
                                                     ("data.contract", "error")]
    [p] = [p for p in r.errors if p.key_path == "approvals"]
    assert "protected by policy bundle 'low'" in p.message  # the tier's layer protects it
