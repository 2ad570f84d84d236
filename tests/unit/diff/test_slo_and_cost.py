"""What `lifecycle diff` says about SLO changes (in risk terms) and about cost (each
priced item's change and the totals, like Infracost on a pull request)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lifecycle.cli.main import main
from lifecycle.render import diff_markdown, diff_text

from .test_classify import FRAUD, _diff, _one, _rule

GPU_TRAINING = ("  config: {lr: 0.003",
                "  scaling: {num_workers: 2, use_gpu: true}\n"
                "  expected_duration: 6h\n  config: {lr: 0.003")
LONG_TUNING = ("time_budget: 20m", "time_budget: 12h")


@pytest.mark.parametrize("edit,path,direction,reason", [
    (("objective: 99.9", "objective: 99.5"), "slos[availability].objective", "loosens",
     "SLO objective lowered"),
    (("objective: 99.9", "objective: 99.95"), "slos[availability].objective", "tightens",
     "SLO objective raised"),
    (("threshold_ms: 50", "threshold_ms: 100"), "slos[latency].threshold_ms", "loosens",
     "latency SLO threshold raised"),
    (("    objective: 99.9\n", "    objective: 99.9\n    window: 7d\n"),
     "slos[availability].window", "loosens",
     "SLO window shortened (old errors are forgotten sooner)"),
    (("    objective: 99.9\n", "    objective: 99.9\n    burn_alerts: [{long_window: 1h, "
      "short_window: 5m, factor: 20}, {long_window: 6h, short_window: 30m, factor: 6}]\n"),
     "slos[availability].burn_alerts[1h/5m].factor", "loosens",
     "burn-rate alert factor raised (a higher factor fires later)"),
])
def test_slo_changes_in_risk_terms(tmp_path: Path, edit: tuple[str, str], path: str,
                                   direction: str, reason: str) -> None:
    c = _one(_diff(tmp_path, edit), path)
    assert (c.direction, c.reason) == (direction, reason)
    assert c.stage is None  # an SLO is no stage: nothing reruns for it


def test_an_slo_removed_loosens_and_fails_the_high_tier_rule(tmp_path: Path) -> None:
    d = _diff(tmp_path, ("  - name: latency\n    sli: latency\n    threshold_ms: 50\n"
                         "    objective: 99\n    on_burn: [alert, rollback, block_promotion]\n",
                         ""))
    c = _one(d, "slos[latency]")
    assert (c.kind, c.direction, c.reason) == ("removed", "loosens", "SLO removed")
    assert (_rule(d, "SLO-001").old, _rule(d, "SLO-001").new) == ("pass", "fail")
    assert d.specs[0].stages == []


def test_an_action_on_burn_removed_loosens(tmp_path: Path) -> None:
    d = _diff(tmp_path, ("    objective: 99.9\n    on_burn: [alert, rollback, block_promotion]",
                         "    objective: 99.9\n    on_burn: [alert]"))
    paths = {c.path: (c.direction, c.reason) for c in d.specs[0].changes}
    assert paths == {"slos[availability].on_burn[rollback]": ("loosens",
                                                             "action on burn removed"),
                     "slos[availability].on_burn[block_promotion]": ("loosens",
                                                                    "action on burn removed")}


def test_two_to_eight_gpu_workers_shows_the_cost_and_breaks_the_budget(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = FRAUD.replace(*GPU_TRAINING).replace(*LONG_TUNING)
    d = _diff(tmp_path, ("num_workers: 2, use_gpu", "num_workers: 8, use_gpu"), old_text=old)
    [spec] = d.specs
    cost = spec.cost
    assert cost is not None and not cost.repriced
    # 2 trials at once × {2, 8} workers × (1 CPU 0.04 + A100 3.00 + 4 GB 0.02)/h × 12 h
    [tuning] = cost.items
    assert (tuning.item, tuning.old_high, tuning.new_high, tuning.delta_high) == \
        ("tuning", 146.88, 587.52, 440.64)
    assert (cost.training.old, cost.training.new, cost.training.delta) == \
        (146.88, 587.52, 440.64)
    assert cost.monthly_serving_max.delta == 0
    assert (_rule(d, "COST-001").old, _rule(d, "COST-001").new) == ("pass", "fail")
    assert "COST-001" in _one(d, "train.scaling.num_workers").rules
    text = diff_text(d)
    assert "tuning          146.88 → 587.52 a run  +440.64" in text
    assert "| **training run** | | 146.88 | 587.52 | **+440.64** |" in diff_markdown(d)
    code = main(["diff", str(tmp_path / "old" / "fraud.yaml"),
                 str(tmp_path / "new" / "fraud.yaml"), "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["specs"][0]["cost"]["training"]["delta"] == 440.64


def test_more_replicas_show_the_monthly_serving_delta(tmp_path: Path) -> None:
    d = _diff(tmp_path, ("{min_replicas: 1, max_replicas: 4}",
                         "{min_replicas: 3, max_replicas: 4}"))
    cost = d.specs[0].cost
    assert cost is not None
    [replicas] = cost.items
    # fused: the Router's replicas serve both versions; at least 3 instead of 2 (its own
    # floor, serve.router.replicas): one more 0.03/h replica for 730 h, +21.90 at the min
    assert (replicas.item, replicas.delta_low, replicas.delta_high) == \
        ("router replicas (each serves every version)", 21.9, 0.0)
    assert (cost.monthly_serving_min.delta, cost.monthly_serving_max.delta) == (21.9, 0.0)
    assert "serving a month 54.75–98.55 → 76.65–98.55  +21.90 / +0.00" in diff_text(d)


def test_a_change_that_prices_nothing_has_no_cost_section(tmp_path: Path) -> None:
    d = _diff(tmp_path, ("{metric: auc, min: 0.85}", "{metric: auc, min: 0.9}"))
    assert d.specs[0].cost is None


def test_a_rollout_change_is_not_tied_to_the_serving_budget(tmp_path: Path) -> None:
    # COST-002 points at `serve`, but reads only what serving is priced from
    c = _one(_diff(tmp_path, ("        hold: 10m\n", "        hold: 15m\n")),
             "serve.rollout.steps[0].hold")
    assert "COST-002" not in c.rules and "MR-005" in c.rules
    replicas = _one(_diff(tmp_path, ("max_replicas: 4", "max_replicas: 5")),
                    "serve.autoscaling.max_replicas")
    assert "COST-002" in replicas.rules
