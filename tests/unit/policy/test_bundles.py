"""Which bundles a spec is checked against (its risk tier's, and on top of it one it
names), and rule messages that say what is allowed, filled in from the bundle."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lifecycle.api import policy_dirs
from lifecycle.api import validate_one as _validate_one
from lifecycle.compile.validation import Validation
from lifecycle.policy import load_bundle

from ...conftest import ROOT, Approved


def validate_one(*args: Any, **kwargs: Any) -> Validation:
    """These tests name bundles on the command line: opted in (the protection itself is
    tested in test_protected_overrides.py)."""
    return _validate_one(*args, allow_protected_overrides=True, **kwargs)


FRAUD = ROOT / "specs" / "fraud.yaml"  # high risk
CHURN = ROOT / "specs" / "churn-service.yaml"  # medium risk
GPUS_40 = ["train.scaling.use_gpu=true", "train.scaling.num_workers=40"]  # x 2 trials = 80
WriteBundle = Callable[[str, str], None]


@pytest.fixture
def platform_bundles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WriteBundle:
    """write(name, yaml) puts a bundle in a LIFECYCLE_POLICY_PATH folder."""
    folder = tmp_path / "policy"
    folder.mkdir()
    monkeypatch.setenv("LIFECYCLE_POLICY_PATH", str(folder))

    def write(name: str, text: str) -> None:
        (folder / f"{name}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")

    return write


def _errors(spec: Path, overrides: list[str]) -> list[tuple[str, str]]:
    return [(p.code, p.key_path) for p in validate_one(spec, overrides).errors]


def test_high_tier_spec_naming_tierless_bundle_keeps_every_high_rule(approved: Approved) -> None:
    change = ["+policy=baseline", "serve.rollout.steps.0.weight=50"]
    r = validate_one(approved(FRAUD, change), change)
    assert [p.code for p in r.errors] == ["HR-002"]
    assert r.policy is not None and r.policy.bundle == "high+baseline"


def test_tierless_bundle_adds_its_rules_to_the_tier_bundle(
        platform_bundles: WriteBundle, approved: Approved) -> None:
    platform_bundles("pci", """\
        description: Card data
        rules:
          - id: PCI-001
            expression: size(spec.monitors) >= 4
            path: monitors
            message: card models run four monitors
        """)
    change = ["+policy=pci", "serve.rollout.steps.0.weight=50"]
    assert sorted(_errors(approved(FRAUD, change), change)) == [
        ("HR-002", "serve.rollout.steps[0].weight"), ("PCI-001", "monitors")]


def test_bundle_claiming_the_tier_cannot_loosen_its_settings(
        platform_bundles: WriteBundle, approved: Approved) -> None:
    platform_bundles("gpu_lab", """\
        description: A bundle that says it is for high risk but lifts the GPU cap
        tier: high
        extends: [baseline]
        settings: {max_gpus: 1000}
        """)
    gpus = ["+policy=gpu_lab", *GPUS_40]
    assert _errors(approved(FRAUD, gpus), gpus) == [("BASE-005", "train.scaling")]
    wide = ["+policy=gpu_lab", "serve.rollout.steps.0.weight=50"]
    assert _errors(approved(FRAUD, wide), wide) == [("HR-002", "serve.rollout.steps[0].weight")]


def test_stricter_bundle_adds_rules_but_not_its_looser_caps() -> None:
    # churn is medium risk (16 GPUs); naming high adds high's rules, not high's cap of 64
    r = validate_one(CHURN, ["+policy=high", "train.scaling.use_gpu=true",
                             "train.scaling.num_workers=20"])
    assert {"BASE-005", "HR-001"} <= {p.code for p in r.errors}
    assert r.policy is not None and r.policy.bundle == "medium+high"


def test_each_layer_checks_with_its_own_settings_and_a_failure_is_reported_once(
        approved: Approved) -> None:
    # baseline's own cap is 50 samples, high's 500: 100 fails only the baseline layer
    hundred = ["+policy=baseline", "tune.num_samples=100"]
    [p] = validate_one(approved(FRAUD, hundred), hundred).errors
    assert (p.code, p.message) == ("BASE-006", "tune.num_samples is at most 50 at this tier")
    # 501 fails both layers: one problem, worded by the tier's own bundle
    too_many = ["+policy=baseline", "tune.num_samples=501"]
    [p] = validate_one(approved(FRAUD, too_many), too_many).errors
    assert (p.code, p.message) == ("BASE-006", "tune.num_samples is at most 500 at this tier")


def test_naming_the_tier_bundle_is_that_bundle_alone() -> None:
    r = validate_one(FRAUD, ["+policy=high"])
    assert r.errors == [] and r.policy is not None and r.policy.bundle == "high"


def test_a_composed_bundle_loads_again_by_its_name() -> None:
    # `lifecycle diff` reloads the bundle a plan records by name
    bundle = load_bundle("medium+high", policy_dirs())
    assert bundle.name == "medium+high"
    assert [layer.name for layer in bundle.layers] == ["medium", "high"]
    assert {f.name for f in bundle.files} == {"baseline.yaml", "medium.yaml", "high.yaml"}
    assert bundle.digest != load_bundle("high", policy_dirs()).digest


def test_base_001_message_lists_the_allowed_entrypoint_prefixes(approved: Approved) -> None:
    change = ["train.entrypoint=os.path:join"]
    [p] = validate_one(approved(FRAUD, change), change).errors
    assert p.message == ("the training entrypoint must be a function defined in a module "
                         "under one of: examples., models., ml.")


def test_messages_say_what_the_bundle_in_force_allows(platform_bundles: WriteBundle,
                                                      approved: Approved) -> None:
    platform_bundles("ml_only", """\
        description: Only the ml package may train
        tier: high
        extends: [high]
        settings: {allowed_entrypoint_prefixes: ["ml."]}
        """)
    [p] = validate_one(approved(FRAUD, ["+policy=ml_only"]), ["+policy=ml_only"]).errors
    assert (p.code, p.message) == ("BASE-001", "the training entrypoint must be a function "
                                   "defined in a module under one of: ml.")


@pytest.mark.parametrize("tier", ["low", "medium", "high"])
def test_every_shipped_message_and_hint_is_filled_in(tier: str) -> None:
    for rule in load_bundle(tier, policy_dirs()).rules:
        assert "${" not in rule.message + (rule.hint or ""), rule.id


def test_placeholder_naming_no_setting_is_a_bundle_error(platform_bundles: WriteBundle) -> None:
    platform_bundles("broken", """\
        description: A message that reads a setting nobody set
        rules:
          - id: BRK-001
            expression: "true"
            message: at most ${settings.max_widgets} widgets
        """)
    r = validate_one(FRAUD, ["+policy=broken"])
    [p] = r.errors
    assert p.code == "policy.bundle-schema" and "BRK-001" in p.message
    assert "${settings.max_widgets}" in p.message and int(r.exit_code) == 2


DEMAND = ROOT / "specs" / "demand-batch.yaml"  # low risk; one training run costs 0.06 USD
COSTLY = ["train.scaling.use_gpu=true", "train.scaling.num_workers=8",  # 587.52 USD a run
          "+train.expected_duration=6h", "tune.time_budget=12h"]


def test_a_named_bundle_compares_the_cost_with_its_own_budget(
        platform_bundles: WriteBundle) -> None:
    platform_bundles("lean", """\
        description: A team that trains on a shoestring
        extends: [baseline]
        settings: {max_training_cost: 0.05}
        """)
    assert validate_one(DEMAND).errors == []
    [p] = validate_one(DEMAND, ["+policy=lean"]).errors
    assert (p.code, p.key_path) == ("COST-001", "train.scaling")
    assert p.message == ("the estimated cost of one training run (or the tuning) is at most "
                         "0.05 at this tier, in the price table's currency")


def test_a_named_bundle_with_a_larger_budget_keeps_the_tier_budget(
        platform_bundles: WriteBundle, approved: Approved) -> None:
    platform_bundles("rich", """\
        description: A bundle that says it is for high risk but lifts the training budget
        tier: high
        extends: [high]
        settings: {max_training_cost: 1000000}
        """)
    change = ["+policy=rich", *COSTLY]
    [p] = validate_one(approved(FRAUD, change), change).errors
    assert (p.code, p.key_path) == ("COST-001", "train.scaling")
    assert "at most 500 at this tier" in p.message


def test_a_stricter_named_bundle_adds_its_slo_rule() -> None:
    # churn is medium risk: SLO-001 is high's; naming high adds it
    no_slos = ["slos=[]"]
    assert "SLO-001" not in {p.code for p in validate_one(CHURN, no_slos).errors}
    assert "SLO-001" in {p.code for p in validate_one(CHURN, [*no_slos, "+policy=high"]).errors}
    assert "SLO-001" not in {p.code for p in validate_one(CHURN, ["+policy=high"]).errors}
