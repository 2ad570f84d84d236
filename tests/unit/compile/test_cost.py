"""Pricing a plan with the platform's price table, checked against sums done by hand with
conf/cost/default.yaml: CPU 0.04/h, memory 0.005 per GB-hour, A100 3.00/h, 4 GB per CPU
assumed, 1 h per training run assumed, 730 h a month."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifecycle.api import validate_one
from lifecycle.compile import price
from lifecycle.errors import InputError
from lifecycle.plan import CostEstimate, PriceTable, cost_per_1000_predictions
from lifecycle.policy.prices import load_price_table

from ...conftest import ROOT, Approved

FRAUD = ROOT / "specs" / "fraud.yaml"
CHURN = ROOT / "specs" / "churn-service.yaml"
DEMAND = ROOT / "specs" / "demand-batch.yaml"


def _cost(spec: Path, *overrides: str) -> CostEstimate:
    plan = validate_one(spec, list(overrides)).plan  # priced also when a cost rule fails
    assert plan is not None and plan.cost is not None
    return plan.cost


def _line(cost: CostEstimate, item: str):  # type: ignore[no-untyped-def]
    [line] = [x for x in cost.lines if x.item.startswith(item)]
    return line


def test_training_is_workers_times_their_hourly_price_times_the_assumed_run() -> None:
    # demand: 1 sklearn worker, 1 CPU (+4 GB assumed) = 0.04 + 0.02 = 0.06/h, for 1 h
    cost = _cost(DEMAND)
    assert (cost.training, cost.monthly_serving_min, cost.monthly_serving_max) == (0.06, 0, 0)
    line = _line(cost, "training")
    assert (line.stage, line.per, line.basis) == ("train", "run", "1 worker(s) × 0.06 USD/h × 1h")
    assert "a training run takes 1h (the price table's assumption: set " \
           "train.expected_duration)" in cost.assumptions


def test_gpu_training_for_the_expected_duration_the_spec_gives() -> None:
    # 2 workers × (1 CPU 0.04 + 1 A100 3.00 + 4 GB 0.02) = 6.12/h, for 2.5 h
    cost = _cost(CHURN, "train.scaling.use_gpu=true", "+train.expected_duration=150m")
    assert cost.training == pytest.approx(15.3)
    assert any(a.startswith("GPUs priced as A100") for a in cost.assumptions)


def test_tuning_is_bounded_by_its_time_budget() -> None:
    # fraud: 4 trials, 2 at once, 2 torch workers at 0.06/h; 2 waves × 1 h = 2 h, but the
    # time budget stops it at 20 m: 2 × 2 × 0.06 × 1/3 = 0.08
    line = _line(_cost(FRAUD), "tuning")
    assert (line.high, line.basis) == (0.08, "2 trial(s) at once × 2 worker(s) × 0.06 USD/h "
                                       "× 20m (tune.time_budget)")


def test_tuning_without_a_binding_budget_runs_every_wave() -> None:
    # 9 trials, 2 at once: 5 waves × 1 h = 5 h < the 24 h budget; 2 × 2 × 0.06 × 5 = 1.2
    cost = _cost(FRAUD, "tune.num_samples=9", "tune.time_budget=24h")
    assert cost.training == pytest.approx(1.2)
    assert _line(cost, "tuning").basis.endswith("× 5h (9 trials)")


def test_serving_a_month_at_min_and_max_replicas_with_router_and_monitor() -> None:
    # fraud is served fused: each Router replica serves both versions at the spec's
    # resources, 0.5 CPU (0.02 + 2 GB 0.01 = 0.03/h); 2–4 of them (serve.router.replicas
    # 2, autoscaling up to 4), 730 h: 43.80–87.60; Monitor 0.25 CPU (0.015/h) 10.95
    cost = _cost(FRAUD)
    routers = _line(cost, "router replicas")
    assert (routers.low, routers.high) == (43.8, 87.6)
    assert _line(cost, "monitors").high == 10.95
    assert (cost.monthly_serving_min, cost.monthly_serving_max) == (54.75, 98.55)
    assert cost.replica_hourly == {"Router": 0.03, "Monitor": 0.015}
    # routed: a model deployment per version slot, and the Router's own small replicas
    routed = _cost(FRAUD, "serve.topology=routed")
    # 1–4 replicas × 2 slots × 0.03/h × 730 = 43.80–175.20; router 2 × 0.1 CPU 8.76
    assert (_line(routed, "model replicas").low, _line(routed, "model replicas").high) == \
        (43.8, 175.2)
    assert _line(routed, "router").high == 8.76
    assert routed.replica_hourly == {"Model_stable": 0.03, "Model_candidate": 0.03,
                                     "Router": 0.006, "Monitor": 0.015}


def test_reserved_memory_and_gpus_price_a_replica() -> None:
    # churn: 2 fixed replicas × 2 slots of 0.4 CPU + 1 A100 + 8 GB reserved:
    # 0.016 + 3.00 + 0.04 = 3.056/h; × 4 × 730 = 8923.52 (GPUs are served routed),
    # + 2 router replicas 8.76 + Monitor 10.95
    r = validate_one(CHURN, ["serve.resources.num_gpus=1", "+serve.resources.memory_mb=8192"])
    assert r.plan is not None and r.plan.cost is not None
    cost = r.plan.cost
    assert _line(cost, "model replicas").low == _line(cost, "model replicas").high == 8923.52
    assert cost.monthly_serving_max == pytest.approx(8943.23)
    # above the medium tier's 5,000 a month
    assert [p.code for p in r.errors] == ["COST-002"]


def test_the_price_table_comes_from_the_platform_and_a_platform_can_replace_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "default.yaml").write_text(
        "currency: EUR\ncpu_hour: 1\nmemory_gb_hour: 0\ngpu_hour: {T4: 1}\ndefault_gpu: T4\n")
    monkeypatch.setenv("LIFECYCLE_COST_PATH", str(tmp_path))
    cost = _cost(DEMAND)
    assert (cost.currency, cost.training) == ("EUR", 1.0)


def test_a_price_table_without_a_price_for_its_default_gpu_is_a_platform_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "default.yaml").write_text(
        "currency: USD\ncpu_hour: 1\nmemory_gb_hour: 0\ngpu_hour: {T4: 1}\ndefault_gpu: A100\n")
    monkeypatch.setenv("LIFECYCLE_COST_PATH", str(tmp_path))
    r = validate_one(DEMAND)
    [p] = r.problems
    assert p.code == "policy.price-table-schema" and int(r.exit_code) == 2
    assert "default_gpu 'A100' has no price in gpu_hour (priced: T4)" in p.message
    assert p.location.file == str(tmp_path / "default.yaml")


def test_no_price_table_anywhere_names_the_folders_searched(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        load_price_table([tmp_path])
    [p] = err.value.problems
    assert p.code == "policy.price-table" and str(tmp_path) in p.message


def test_pricing_is_pure_and_the_plan_records_the_table() -> None:
    table = load_price_table([ROOT / "conf" / "cost"]).table
    r = validate_one(FRAUD)
    assert r.spec is not None and r.plan is not None
    assert price(r.spec, table) == r.plan.cost
    assert r.plan.cost is not None and r.plan.cost.price_table_hash == table.digest


def test_cost_per_1000_predictions_from_replica_seconds() -> None:
    # an hour of 2 model replicas (0.03/h) and the router (0.006/h): 0.066 for 12,000
    # predictions -> 0.0055 per 1,000
    hourly = {"Model_stable": 0.03, "Router": 0.006}
    got = cost_per_1000_predictions({"Model_stable": 7200, "Router": 3600}, 12_000, hourly)
    assert got == pytest.approx(0.0055)
    assert cost_per_1000_predictions({"Router": 3600}, 0, hourly) is None
    with pytest.raises(ValueError, match="no price for deployment"):
        cost_per_1000_predictions({"Model_candidate": 1}, 1, hourly)


def test_price_table_rejects_negative_gpu_prices() -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        PriceTable(name="x", currency="USD", cpu_hour=0, memory_gb_hour=0,
                   gpu_hour={"T4": -1}, default_gpu="T4")


def test_a_waiver_lets_a_costly_run_through_until_it_expires(approved: Approved) -> None:
    costly = ["train.scaling.use_gpu=true", "train.scaling.num_workers=8",
              "+train.expected_duration=6h", "tune.time_budget=12h"]
    waiver = ("+waivers=[{rule: COST-001, reason: quarterly retrain on the full history, "
              "approved_by: cfo@example.com, expires: '{}'}]")
    waived = [*costly, waiver.replace("{}", "2026-12-31")]
    # the waiver is put on the command line: opted in (protection: test_protected_overrides)
    r = validate_one(approved(FRAUD, waived), waived, allow_protected_overrides=True)
    assert r.errors == [] and [p.code for p in r.problems] == [
        "override.protected", "COST-001"]  # the waiver came from the command line
    assert r.problems[1].severity == "info" and r.problems[1].message.startswith("waived: ")
    lapsed = [*costly, waiver.replace("{}", "2026-11-01")]
    expired = validate_one(approved(FRAUD, lapsed), lapsed, allow_protected_overrides=True)
    assert sorted(p.code for p in expired.errors) == ["COST-001", "POL-003"]
