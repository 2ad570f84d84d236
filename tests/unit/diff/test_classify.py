"""Every change class `lifecycle diff` promises, each as a pair of real specs (composed
and compiled through the real loader and policy engine): the class, the rule named and
the direction."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lifecycle.api import diff_files
from lifecycle.diff import DiffReport

from ...conftest import ROOT

FRAUD = (ROOT / "specs" / "fraud.yaml").read_text()
APPROVALS = ROOT / "specs" / "fraud.approvals"  # the example's signed approvals


def _diff(tmp_path: Path, *edits: tuple[str, str], old_text: str = FRAUD,
          signed: bool = False, drop: tuple[str, ...] = ()) -> DiffReport:
    """With `signed`, both sides carry the example's signed approvals (less the files in
    `drop` on the new side): they cover the old side, and what the edits do to them is
    part of the diff. Without, neither side is approved (the change classes alone)."""
    new_text = old_text
    for before, after in edits:
        assert before in new_text, before
        new_text = new_text.replace(before, after, 1)
    for side in ("old", "new"):
        shutil.rmtree(tmp_path / side, ignore_errors=True)
        (tmp_path / side).mkdir()
        if signed:
            shutil.copytree(APPROVALS, tmp_path / side / "fraud.approvals")
    for name in drop:
        (tmp_path / "new" / "fraud.approvals" / name).unlink()
    old, new = tmp_path / "old" / "fraud.yaml", tmp_path / "new" / "fraud.yaml"
    old.write_text(old_text)
    new.write_text(new_text)
    return diff_files(old, new)


def _one(report: DiffReport, path: str):  # type: ignore[no-untyped-def]
    [spec] = report.specs
    found = [c for c in spec.changes if c.path == path]
    assert len(found) == 1, [c.path for c in spec.changes]
    return found[0]


def _rule(report: DiffReport, rule: str):  # type: ignore[no-untyped-def]
    [spec] = report.specs
    [r] = [r for r in spec.rules if r.rule == rule]
    return r


def test_gate_threshold_lowered_loosens(tmp_path: Path) -> None:
    d = _diff(tmp_path, ("{metric: auc, min: 0.85}", "{metric: auc, min: 0.8}"))
    c = _one(d, "evaluate.gates[auc].min")
    assert (c.direction, c.reason, c.old, c.new) == ("loosens", "gate minimum lowered", 0.85, 0.8)
    assert c.stage == "evaluate" and {"HR-003", "MR-001"} <= set(c.rules)
    assert c.where is not None and c.where.line == 44
    assert d.loosened and d.counts["loosens"] == 1


def test_gate_threshold_raised_tightens(tmp_path: Path) -> None:
    d = _diff(tmp_path, ("{metric: auc, min: 0.85}", "{metric: auc, min: 0.9}"))
    assert _one(d, "evaluate.gates[auc].min").direction == "tightens"
    assert not d.loosened


def test_gate_removed_loosens_and_regression_allowance_raised_loosens(tmp_path: Path) -> None:
    d = _diff(tmp_path, ("    - {metric: auc, min: 0.85}\n", ""),
              ("max_regression: 0.005", "max_regression: 0.05"))
    gate = _one(d, "evaluate.gates[auc]")
    assert (gate.kind, gate.direction, gate.reason) == ("removed", "loosens",
                                                       "evaluation gate removed")
    reg = _one(d, "evaluate.gates[auc vs champion].max_regression")
    assert reg.direction == "loosens"


def test_canary_step_widened_loosens_and_fails_hr002(tmp_path: Path) -> None:
    d = _diff(tmp_path, ("      - weight: 5\n", "      - weight: 20\n"))
    c = _one(d, "serve.rollout.steps[0].weight")
    assert (c.direction, c.reason, c.stage) == ("loosens", "canary step widened", "rollout")
    assert "HR-002" in c.rules
    r = _rule(d, "HR-002")
    assert (r.old, r.new, r.direction) == ("pass", "fail", "loosens")


def test_hold_shortened_and_rollback_dropped_loosen(tmp_path: Path) -> None:
    d = _diff(tmp_path, ("hold: 10m", "hold: 1m"), ("on_failure: rollback", "on_failure: alert"))
    assert _one(d, "serve.rollout.steps[0].hold").reason == "step hold time shortened"
    c = _one(d, "serve.rollout.on_failure")
    assert c.direction == "loosens" and {"HR-005", "MR-004"} <= set(c.rules)


def test_monitor_removed_loosens_and_uncovers_features(tmp_path: Path) -> None:
    block = ("  - name: input-drift\n    detector: tabular\n    features: all\n"
             "    window: 1000\n")
    rest = ("    p_val: 0.001\n    on_drift: [alert, block_promotion]\n")
    d = _diff(tmp_path, (block, ""), (rest, ""),
              ("{metric: drift, monitor: input-drift, max: 0}", "{metric: error_rate, max: 0.02}"))
    c = _one(d, "monitors[input-drift]")
    assert (c.kind, c.direction, c.reason) == ("removed", "loosens", "monitor removed")
    assert "HR-004" in c.rules
    assert c.where is not None and c.where.line is not None  # points at the surviving parent
    assert _rule(d, "HR-004").new == "fail"


@pytest.mark.parametrize("p_val,direction", [("0.0001", "loosens"), ("0.05", "tightens")])
def test_monitor_p_value(tmp_path: Path, p_val: str, direction: str) -> None:
    d = _diff(tmp_path, ("p_val: 0.001", f"p_val: {p_val}"))
    c = _one(d, "monitors[input-drift].p_val")
    assert c.direction == direction and c.stage == "monitor"


def test_monitor_action_removed_loosens(tmp_path: Path) -> None:
    d = _diff(tmp_path, ("on_drift: [alert, block_promotion]", "on_drift: [alert]"))
    c = _one(d, "monitors[input-drift].on_drift[block_promotion]")
    assert (c.kind, c.direction) == ("removed", "loosens")


def test_approval_removed_loosens(tmp_path: Path) -> None:
    bob = "product--bob@example.com.json"
    d = _diff(tmp_path, signed=True, drop=(bob, bob + ".sig"))
    c = _one(d, "approvals[product: bob@example.com]")
    assert (c.direction, c.stage, c.reason) == ("loosens", None, "approval removed")
    assert {"HR-001", "MR-002"} <= set(c.rules)
    assert _rule(d, "HR-001").new == "fail"


def test_gpus_raised_loosens(tmp_path: Path) -> None:
    d = _diff(tmp_path, ("  config: {lr: 0.003,",
                         "  scaling: {use_gpu: true, gpus_per_worker: 2}\n  config: {lr: 0.003,"))
    [spec] = d.specs
    gpu = [c for c in spec.changes if c.reason == "GPUs raised"]
    assert gpu and all(c.direction == "loosens" and "BASE-005" in c.rules for c in gpu)
    assert _one(d, "train.scaling.use_gpu").direction == "loosens"
    assert "BASE-005" in _one(d, "train.scaling.gpus_per_worker").rules


def test_tuning_budget_raised_loosens(tmp_path: Path) -> None:
    d = _diff(tmp_path, ("num_samples: 4", "num_samples: 40"), ("time_budget: 20m",
                                                               "time_budget: 2h"))
    c = _one(d, "tune.num_samples")
    assert (c.direction, c.stage) == ("loosens", "tune") and "BASE-006" in c.rules
    assert _one(d, "tune.time_budget").reason == "tuning time budget raised"


def test_risk_tier_lowered_loosens_and_drops_rules(tmp_path: Path) -> None:
    d = _diff(tmp_path, ("risk_tier: high", "risk_tier: medium"), signed=True)
    c = _one(d, "risk_tier")
    assert (c.direction, c.reason) == ("loosens", "risk tier high → medium")
    hr = _rule(d, "HR-001")
    assert (hr.old, hr.new, hr.direction) == ("pass", None, "loosens")


def test_waiver_added_then_extended_loosens(tmp_path: Path) -> None:
    waiver = ("waivers:\n  - {rule: HR-002, reason: 'pilot with one merchant only', "
              "approved_by: carol@example.com, expires: 2026-12-31}\n")
    d = _diff(tmp_path, ("retirement:\n", waiver + "retirement:\n"),
              ("      - weight: 5\n", "      - weight: 20\n"))
    c = _one(d, "waivers[HR-002]")
    assert (c.kind, c.direction, c.reason) == ("added", "loosens", "waiver added")
    assert _rule(d, "HR-002").new == "waived"
    old = FRAUD.replace("retirement:\n", waiver + "retirement:\n").replace(
        "      - weight: 5\n", "      - weight: 20\n")
    d2 = _diff(tmp_path, ("expires: 2026-12-31", "expires: 2027-06-30"), old_text=old)
    c2 = _one(d2, "waivers[HR-002].expires")
    assert (c2.direction, c2.reason) == ("loosens", "waiver expiry extended")


def test_entrypoint_changed_is_for_review(tmp_path: Path) -> None:
    d = _diff(tmp_path, ("examples.fraud.model:train_loop", "examples.fraud.model2:train_loop"))
    c = _one(d, "train.entrypoint")
    assert (c.direction, c.stage) == ("review", "tune") and "BASE-001" in c.rules
    [spec] = d.specs
    assert [s.stage for s in spec.stages][:2] == ["tune", "evaluate"]
    assert spec.stages[0].effect.startswith("re-tunes")


def test_data_source_changed_is_for_review_and_reruns_everything(tmp_path: Path) -> None:
    d = _diff(tmp_path, ("examples/fraud/data/train.parquet", "examples/fraud/data/t2.parquet"))
    c = _one(d, "data.train.path")
    assert (c.direction, c.stage) == ("review", "data") and "BASE-004" in c.rules
    [spec] = d.specs
    assert spec.stages[0].stage == "data" and len(spec.stages) == 8


def test_contract_loosened(tmp_path: Path) -> None:
    d = _diff(tmp_path, ("hour: {type: int, min: 0, max: 23}", "hour: {type: int, min: 0}"),
              ("categories: [web, pos, app]", "categories: [web, pos, app, atm]"))
    assert _one(d, "data.contract.features.hour.max").direction == "loosens"
    cat = _one(d, "data.contract.features.channel.categories[atm]")
    assert (cat.kind, cat.direction) == ("added", "loosens")


@pytest.mark.parametrize("edits", [
    # order, comments, flow vs block style, equal numbers, equal durations
    [("  train: {path: examples/fraud/data/train.parquet}\n"
      "  eval: {path: examples/fraud/data/eval.parquet}\n",
      "  eval: {path: examples/fraud/data/eval.parquet}  # held out\n"
      "  train:\n    path: examples/fraud/data/train.parquet\n")],
    [("num_samples: 4", "num_samples: 4.0"), ("hold: 10m", "hold: 600s"),
     ("time_budget: 20m", "time_budget: 1200")],
    [("metrics: [auc, accuracy, logloss]", "metrics: [logloss, auc, accuracy]")],
    [("    - {metric: auc, min: 0.85}\n    - {metric: auc, vs: champion, max_regression: 0.005}",
      "    - {metric: auc, vs: champion, max_regression: 0.005}\n    - {metric: auc, min: 0.85}")],
])
def test_cosmetic_changes_give_an_empty_diff(tmp_path: Path, edits: list[tuple[str, str]]) -> None:
    d = _diff(tmp_path, *edits)
    assert d.specs == [] and not d.loosened


def test_loosened_gate_makes_the_signed_approvals_stale(tmp_path: Path) -> None:
    d = _diff(tmp_path, ("{metric: auc, min: 0.85}", "{metric: auc, min: 0.80}"), signed=True)
    c = _one(d, "approvals (signed)")
    assert c.reason == ("2 approvals no longer cover this spec: gate minimum lowered "
                        "(approvers sign again: lifecycle approve)")
    assert (c.direction, c.new) == ("loosens", [])
    assert _rule(d, "HR-001").new == "fail"
    assert d.loosened


def test_a_tightening_still_voids_the_approvals_and_fails_the_diff(tmp_path: Path) -> None:
    """Nothing loosened but the high-risk spec lost the approvals it needs: non-zero."""
    d = _diff(tmp_path, ("{metric: auc, min: 0.85}", "{metric: auc, min: 0.90}"), signed=True)
    assert _one(d, "evaluate.gates[auc].min").direction == "tightens"
    assert _one(d, "approvals (signed)").direction == "loosens"
    hr = _rule(d, "HR-001")
    assert (hr.old, hr.new, hr.direction) == ("pass", "fail", "loosens")


def test_comment_and_hyperparameter_changes_keep_the_approvals(tmp_path: Path) -> None:
    d = _diff(tmp_path, ("# traffic, and drift/outlier", "# traffic and drift or outlier"),
              ("lr: 0.003", "lr: 0.004"), ("description: Scores", "description: Rates"),
              signed=True)
    [spec] = d.specs
    assert not [c for c in spec.changes if c.path.startswith("approvals")]
    assert not spec.rules and not d.loosened
