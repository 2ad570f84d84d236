"""Every shipped rule has a failing example here (and the example specs are the passing
ones). A rule added to conf/policy without an example makes
test_every_shipped_rule_has_examples fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifecycle.api import policy_dirs, validate_one
from lifecycle.policy import load_bundle

from ...conftest import ROOT, Approved

FRAUD = ROOT / "specs" / "fraud.yaml"  # high risk; passes every rule
CHURN = ROOT / "specs" / "churn-service.yaml"  # medium risk

GATED = "gates: [{metric: error_rate, max: 0.01}]"
LONG_WAIVER = ("+waivers=[{rule: HR-002, reason: 'pilot limited to two merchants', "
               "approved_by: cro@example.com, expires: 9999-12-31}]")

# rule id -> (spec, overrides that make exactly this rule fail, key path it points at)
FAILING: dict[str, tuple[Path, list[str], str]] = {
    "BASE-001": (FRAUD, ["train.entrypoint=os.path:join"], "train.entrypoint"),
    "BASE-002": (FRAUD, ["+train.config.opt={_target_: os.system}"], "train.config.opt._target_"),
    "BASE-003": (FRAUD, ["+train.config.db_password=hunter2"], "train.config.db_password"),
    "BASE-004": (FRAUD, ["data.eval.path=../../etc/passwd"], "data.eval.path"),
    "BASE-005": (FRAUD, ["train.scaling.use_gpu=true", "train.scaling.num_workers=40"],
                 "train.scaling"),
    "BASE-006": (FRAUD, ["tune.num_samples=501"], "tune.num_samples"),
    "BASE-007": (FRAUD, ["tune.time_budget=25h"], "tune.time_budget"),
    "BASE-008": (FRAUD, [LONG_WAIVER], "waivers[0].expires"),
    "MR-001": (CHURN, ["evaluate.gates=[]"], "evaluate"),
    "MR-002": (CHURN, ["approvals=[]"], "approvals"),
    "MR-003": (CHURN, ["~serve.rollout"], "serve"),
    "MR-004": (CHURN, ["serve.rollout.on_failure=pause"], "serve.rollout.on_failure"),
    "MR-005": (CHURN, [f"serve.rollout.steps=[{{weight: 0, hold: 10m, {GATED}}}, {{weight: 100}}]"],
               "serve.rollout.steps"),
    "MR-006": (CHURN, ["serve.rollout.strategy=blue_green", "serve.rollout.steps=[{weight: 100}]"],
               "serve.rollout.steps"),
    "MR-007": (CHURN, ["serve.rollout.gate_interval=10m"], "serve.rollout.steps[0].hold"),
    "MR-008": (CHURN, ["serve.rollout.steps.0.gates=[{metric: latency_p99_ms, max: 250}]"],
               "serve.rollout.steps[0].gates"),
    "HR-001": (FRAUD, [], "approvals"),  # signed by alice alone (ONLY_SIGNED_BY)
    "HR-002": (FRAUD, ["serve.rollout.steps.0.weight=50"], "serve.rollout.steps[0].weight"),
    "HR-003": (FRAUD, ["evaluate.gates=[]"], "evaluate"),
    "HR-004": (FRAUD, ["monitors.0.features=[amount,hour,channel]"],
               "data.contract.features.merchant_risk"),
    "HR-005": (FRAUD, ["serve.rollout.on_failure=alert"], "serve.rollout.on_failure"),
    "HR-006": (FRAUD, [f"serve.rollout.steps=[{{weight: 5, hold: 10m, {GATED}}}, {{weight: 20, "
                       f"hold: 10m}}, {{weight: 50, hold: 10m, {GATED}}}, {{weight: 100}}]"],
               "serve.rollout.steps"),
    # 2 trials at once × 8 GPU workers × 3.06 USD/h × 12 h = 587.52 USD > 500
    "COST-001": (FRAUD, ["train.scaling.use_gpu=true", "train.scaling.num_workers=8",
                         "+train.expected_duration=6h", "tune.time_budget=12h"],
                 "train.scaling"),
    # 4 replicas × 2 slots × 6.03 USD/h × 730 h + router and monitor = 35,230.53 USD > 20,000
    "COST-002": (FRAUD, ["serve.resources.num_gpus=2"], "serve"),
    "SLO-001": (FRAUD, ["slos=[{name: available, sli: availability, objective: 99.9}]"],
                "slos"),
}
# rules that fail alongside because they say the same thing in another tier
ALSO_FAILING = {"HR-003": {"MR-001"}, "HR-005": {"MR-004"}}
# FRAUD's examples run on a copy approved for exactly the change (a change to what the
# approvals cover would otherwise void them too); these are signed by fewer approvers
ONLY_SIGNED_BY = {"HR-001": {"alice@example.com": "model-risk"}}


def _failed(result) -> set[str]:  # type: ignore[no-untyped-def]
    return {p.code for p in result.problems if p.severity == "error"}


@pytest.mark.parametrize("spec", sorted((ROOT / "specs").glob("*.yaml")), ids=lambda p: p.name)
def test_example_specs_pass_every_rule(spec: Path) -> None:
    result = validate_one(spec)
    assert result.problems == []
    assert result.policy is not None and result.policy.passed


@pytest.mark.parametrize("rule", sorted(FAILING))
def test_rule_fails_on_its_example(rule: str, approved: Approved) -> None:
    spec, overrides, key_path = FAILING[rule]
    if spec == FRAUD:
        spec = approved(FRAUD, overrides, ONLY_SIGNED_BY.get(rule))
    result = validate_one(spec, overrides, allow_protected_overrides=True)
    assert _failed(result) == {rule} | ALSO_FAILING.get(rule, set())
    problems = [p for p in result.problems if p.code == rule]
    assert key_path in {p.key_path for p in problems}
    assert all(p.location.file is not None or p.location.origin is not None for p in problems)
    assert int(result.exit_code) == 1


def test_every_shipped_rule_has_examples() -> None:
    shipped = {r.id for name in ("low", "medium", "high")
               for r in load_bundle(name, policy_dirs()).rules}
    assert shipped == set(FAILING)


def test_secret_like_value_is_caught_under_any_key() -> None:
    result = validate_one(FRAUD, ["+labels.note=AKIAABCDEFGHIJKLMNOP"])
    assert [(p.code, p.key_path) for p in result.errors] == [("BASE-003", "labels.note")]


def test_secret_reference_is_not_a_plaintext_secret() -> None:
    result = validate_one(FRAUD, ["+train.config.db_password=secret://db/password"])
    assert result.errors == []


@pytest.mark.parametrize("path", ["/etc/data.parquet", "file:///tmp/x.parquet",
                                  "ftp://host/x.parquet", "~/x.parquet", "a/../../x.parquet"])
def test_data_paths_escaping_the_repository(path: str) -> None:
    result = validate_one(FRAUD, [f"data.train.path='{path}'"])
    assert {p.code for p in result.errors} == {"BASE-004"}


@pytest.mark.parametrize("path", ["s3://bucket/fraud/train.parquet", "data/sub/../train.parquet"])
def test_data_paths_allowed(path: str) -> None:
    assert validate_one(FRAUD, [f"data.train.path='{path}'"]).errors == []


def test_allowed_target_passes() -> None:
    result = validate_one(FRAUD, ["+train.config.opt={_target_: torch.optim.Adam}"])
    assert result.errors == []
