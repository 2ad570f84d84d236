"""BASE-005 counts every GPU a spec makes Ray hold at once."""

from __future__ import annotations

from lifecycle.api import validate_one

from ...conftest import ROOT, Approved

FRAUD = ROOT / "specs" / "fraud.yaml"  # high risk (cap 64); tunes 4 samples, 2 at a time
GPU_TRAINING = ["train.scaling.use_gpu=true"]
# 64 serving GPUs also cost more a month than high risk's budget (COST-002): waived where a
# test serves on that many, so that BASE-005 is the rule under test
SERVING_BUDGET_WAIVED = ("+waivers=[{rule: COST-002, reason: 'GPU cap under test', "
                         "approved_by: cfo@example.com, expires: 2027-01-31}]")


def _codes(approved: Approved, overrides: list[str]) -> list[tuple[str, str]]:
    """The errors of FRAUD changed by `overrides`, approved for that change (the waiver is
    a protected key put on the command line: opted in)."""
    return [(p.code, p.key_path) for p in validate_one(
        approved(FRAUD, overrides), overrides, allow_protected_overrides=True).errors]


def test_gpu_cap_counts_workers_times_parallel_trials(approved: Approved) -> None:
    assert _codes(approved, [*GPU_TRAINING, "train.scaling.num_workers=32"]) == []  # 32 x 2 = 64
    assert _codes(approved, [*GPU_TRAINING, "train.scaling.num_workers=33"]) == [
        ("BASE-005", "train.scaling")]  # 33 x 2 = 66


def test_gpu_cap_counts_no_more_parallel_trials_than_are_sampled(approved: Approved) -> None:
    # one sample runs one trial, whatever max_concurrent_trials says: 40 GPUs, not 80
    assert _codes(approved, [*GPU_TRAINING, "train.scaling.num_workers=40",
                             "tune.num_samples=1"]) == []


def test_gpu_cap_adds_serving_to_training(approved: Approved) -> None:
    # serving: 8 GPUs x 4 replicas x 2 versions during the rollout = 64, the whole cap;
    # a rerun or a retrain trains while it serves: 1 worker x 2 trials more
    serving = ["serve.resources.num_gpus=8", SERVING_BUDGET_WAIVED]
    assert _codes(approved, serving) == []
    assert _codes(approved, [*serving, *GPU_TRAINING, "train.scaling.num_workers=1"]) == [
        ("BASE-005", "train.scaling")]


def test_gpu_cap_broken_by_serving_alone_points_at_the_serving_gpus(approved: Approved) -> None:
    # 8 GPUs x 5 replicas x 2 versions = 80
    assert _codes(approved, ["serve.resources.num_gpus=8", "serve.autoscaling.max_replicas=5",
                             SERVING_BUDGET_WAIVED]) == [("BASE-005", "serve.resources.num_gpus")]


def test_gpu_cap_message_says_the_cap_and_how_gpus_are_counted(approved: Approved) -> None:
    many = GPU_TRAINING + ["train.scaling.num_workers=40"]
    [p] = validate_one(approved(FRAUD, many), many).errors
    assert p.message == ("GPUs held at once stay within this tier's cap of 64: training "
                         "workers x GPUs per worker x trials in parallel, plus serving replicas "
                         "x GPUs per replica x versions served")
