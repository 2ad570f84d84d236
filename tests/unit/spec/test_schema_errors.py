"""Each structural rule of the spec language, with the code, key path and message that
fired (through the real loader, so locations are checked too)."""

from __future__ import annotations

import pytest

from lifecycle.api import validate_one

from ...conftest import ROOT, Approved

FRAUD = ROOT / "specs" / "fraud.yaml"
DEMAND = ROOT / "specs" / "demand-batch.yaml"


def _errors(spec, *overrides):  # type: ignore[no-untyped-def]
    r = validate_one(spec, list(overrides))
    return [(p.code, p.key_path, p.message, p.hint) for p in r.errors], r


def test_unknown_key_suggests_the_field() -> None:
    errs, r = _errors(FRAUD, "+serve.rollout.stpes=[]")
    assert errs == [("schema.unknown-key", "serve.rollout.stpes", "unknown key 'stpes'",
                     "did you mean 'steps'?")]
    assert int(r.exit_code) == 2


def test_misspelt_override_key_suggests_the_field() -> None:
    errs, _ = _errors(FRAUD, "train.scaling.num_worker=3")
    assert errs == [("schema.unknown-key", "train.scaling.num_worker", "unknown key 'num_worker'",
                     "did you mean 'num_workers'?")]


def test_unknown_key_inside_a_list_item() -> None:
    errs, _ = _errors(FRAUD, "+monitors.0.windw=5")
    assert errs[0][:2] == ("schema.unknown-key", "monitors[0].windw")
    assert errs[0][3] == "did you mean 'window'?"


def test_unknown_key_inside_a_dict_of_models() -> None:
    errs, _ = _errors(FRAUD, "+data.contract.features.amount.mn=1")
    assert errs[0][:2] == ("schema.unknown-key", "data.contract.features.amount.mn")
    assert errs[0][3] == "did you mean 'min'?"


def test_enum_value_suggests_the_nearest() -> None:
    errs, _ = _errors(FRAUD, "train.framework=pytorch")
    assert errs[0][0] == "schema.invalid-choice" and errs[0][1] == "train.framework"
    assert errs[0][3] == "did you mean 'torch'?"


def test_wrong_type() -> None:
    errs, _ = _errors(FRAUD, "train.scaling.num_workers=two")
    assert errs[0][:2] == ("schema.wrong-type", "train.scaling.num_workers")


def test_missing_required_key_points_at_its_parent() -> None:
    r = validate_one(FRAUD, ["~owner"])
    [p] = r.errors
    assert (p.code, p.key_path) == ("schema.missing-key", "owner")
    assert p.location.file == "specs/fraud.yaml" and p.location.line == 1


def test_out_of_range() -> None:
    errs, _ = _errors(FRAUD, "serve.shadow.fraction=1.5")
    assert errs[0][:2] == ("schema.out-of-range", "serve.shadow.fraction")


def test_all_problems_are_reported_at_once() -> None:
    errs, _ = _errors(FRAUD, "train.framework=pytorch", "serve.shadow.fraction=2",
                      "+labels.Bad-Key=1", "risk_tier=extreme")
    assert {e[1] for e in errs} >= {"train.framework", "serve.shadow.fraction", "risk_tier"}
    assert len(errs) >= 3


@pytest.mark.parametrize("overrides, key, fragment", [
    (["serve.rollout.steps.1.weight=3"], "serve.rollout",
     "canary step weights must not decrease"),
    (["serve.rollout.steps.2.weight=90"], "serve.rollout", "last canary step must have weight 100"),
    (["serve.rollout.strategy=ab"], "serve.rollout", "ab takes exactly one step"),
    (["serve.replicas=2"], "serve", "give replicas or autoscaling, not both"),
    (["serve.autoscaling.min_replicas=9"], "serve.autoscaling", "greater than max_replicas"),
    (["data.contract.features.channel.min=1"], "data.contract.features.channel",
     "min/max apply to numeric features"),
    (["data.contract.features.hour.min=30"], "data.contract.features.hour",
     "min (30.0) is greater than max (23.0)"),
    (["+data.contract.features.is_fraud={type: int}"], "data.contract",
     "the label 'is_fraud' is also listed under features"),
    (["tune.search_space.lr={loguniform: [0, 1]}"], "tune.search_space.lr",
     "loguniform: low must be greater than 0"),
    (["tune.search_space.lr={uniform: [1, 1], choice: [1]}"], "tune.search_space.lr",
     "give exactly one of"),
    (["evaluate.gates.1.max_regression=null"], "evaluate.gates[1]",
     "vs: champion needs max_regression"),
    (["evaluate.gates=[{metric: auc}]"], "evaluate.gates[0]", "a gate needs a bound"),
    (["monitors.0.window=10"], "monitors[0]", "smaller than the 50 rows 'tabular' needs"),
    (["monitors.0.on_drift=[retrain]"], "monitors[0]", "the retrain action needs a retrain block"),
    (["monitors.0.detector=ks", "monitors.0.online=true"], "monitors[0]", "has no online variant"),
    (["monitors.0.detector=cvm", "monitors.0.online=true"], "monitors[0]",
     "online window 1000 is larger than 500 rows"),
    (["monitors.0.detector=cvm", "monitors.0.online=true", "monitors.0.window=100",
      "+monitors.0.reference_size=150"], "monitors[0]",
     "online window 100 needs reference_size of at least 200"),
    (["monitors.0.detector=cvm", "monitors.0.online=true", "monitors.0.window=50",
      "+monitors.0.n_bootstraps=500"], "monitors[0]",
     "n_bootstraps 500 must be larger than ert 1000"),
    (["monitors.0.detector=cvm", "monitors.0.online=true", "monitors.0.window=50",
      "+monitors.0.ert=50000"], "monitors[0]", "needs 500000 bootstrap simulations"),
    (["+monitors.0.n_bootstraps=5000"], "monitors[0]",
     "n_bootstraps calibrates online detectors"),
    (["monitors.0.detector=classifier", "+monitors.0.backend=pytorch"], "monitors[0]",
     "cannot run on backend 'pytorch'; use sklearn"),
    (["monitors.0.detector=mmd", "+monitors.0.backend=tensorflow"], "monitors[0]",
     "TensorFlow is not installed"),
    (["monitors.1.on_drift=[alert]"], "monitors[1]", "use on_outlier, not on_drift"),
    (["+data.time_column=amount"], "data", "must be a column of its own"),
    (["train.framework=sklearn", "train.scaling.num_workers=2"], "train",
     "trains on a single worker"),
    (["serve.rollout.steps.0.hold=ten minutes"], "serve.rollout.steps[0].hold",
     "expected a duration"),
])
def test_section_rules(overrides: list[str], key: str, fragment: str) -> None:
    errs, r = _errors(FRAUD, *overrides)
    assert [(c, k) for c, k, _, _ in errs] == [("schema.rule", key)] or \
        [(c, k) for c, k, _, _ in errs] == [("schema.wrong-type", key)], errs
    assert fragment in errs[0][2]
    assert int(r.exit_code) == 2


@pytest.mark.parametrize("overrides, code, key, fragment", [
    (["monitors.1.features=[amount,merchnt_risk]"], "schema.unknown-feature",
     "monitors[1].features[1]", "did you mean 'merchant_risk'?"),
    (["serve.rollout.steps.0.gates.3.monitor=input-drfit"], "schema.unknown-monitor",
     "serve.rollout.steps[0].gates[3].monitor", "did you mean 'input-drift'?"),
    (["serve.rollout.steps.0.gates.3.monitor=outliers"], "schema.rule",
     "serve.rollout.steps[0].gates[3].metric", "use drift for drift detectors"),
    (["monitors.0.name=outliers", "serve.rollout.steps.0.gates.3.monitor=outliers",
      "serve.rollout.steps.0.gates.3.metric=outlier_rate"], "schema.rule",
     "monitors[1].name", "rename one of them"),
    (["monitors.0.detector=chisquare"], "schema.rule", "monitors[0].detector",
     "use tabular for mixed features"),
    (["~register"], "schema.rule", "serve", "add register.model"),
    (["+monitors.0.retrain={recent_data: 7d}"], "schema.rule",
     "monitors[0].retrain.recent_data", "set data.time_column"),
])
def test_cross_field_checks(overrides: list[str], code: str, key: str, fragment: str) -> None:
    errs, _ = _errors(FRAUD, *overrides)
    assert (errs[0][0], errs[0][1]) == (code, key), errs
    assert fragment in (errs[0][3] or "")


def test_tune_without_train(project) -> None:  # type: ignore[no-untyped-def]
    from ...conftest import MINIMAL

    spec = project("specs/s.yaml", MINIMAL + "tune: {metric: m, mode: max, search_space: "
                   "{a: {choice: [1]}}}\n")
    errs, _ = _errors(spec)
    assert [(c, k) for c, k, _, _ in errs] == [("schema.rule", "tune")]


def test_list_items_cannot_be_appended_from_the_command_line() -> None:
    errs, _ = _errors(FRAUD, "+evaluate.gates.2={metric: auc, min: 0.5}")
    assert errs[0][0] == "load.override"
    assert "evaluate.gates=[...]" in (errs[0][3] or "")


def test_gates_without_eval_data() -> None:
    errs, _ = _errors(DEMAND, "~data.eval")
    assert [(c, k) for c, k, _, _ in errs] == [("schema.rule", "evaluate.gates")]


def test_equivalent_durations_compile_to_the_same_plan() -> None:
    a = validate_one(FRAUD, ["serve.rollout.steps.0.hold=10m"]).plan
    b = validate_one(FRAUD, ["serve.rollout.steps.0.hold=600"]).plan
    assert a is not None and b is not None
    assert a.stages == b.stages and a.spec == b.spec


def test_non_finite_number_is_located(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = FRAUD.read_text().replace("lr: 0.003,", "lr: 1e400,")
    assert text != FRAUD.read_text()
    spec = tmp_path / "fraud.yaml"
    spec.write_text(text)
    errs, r = _errors(spec)
    assert errs[0][:2] == ("schema.non-finite", "train.config.lr")
    assert r.errors[0].location.line == text.splitlines().index(
        next(line for line in text.splitlines() if "1e400" in line)) + 1
    assert int(r.exit_code) == 2


def test_user_key_that_looks_like_a_union_tag_is_kept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "fraud.yaml"
    spec.write_text("'list[x]': 1\n" + FRAUD.read_text())
    errs, _ = _errors(spec)
    assert errs[0][:2] == ("schema.unknown-key", "list[x]")


def test_recent_data_with_a_time_column_is_valid(approved: Approved) -> None:
    recent = ["+data.time_column=event_time", "+monitors.0.retrain={recent_data: 7d}"]
    errs, r = _errors(approved(FRAUD, recent), *recent)
    assert errs == [] and int(r.exit_code) == 0


@pytest.mark.parametrize("name, built_in", [
    ("GPU", "GPU"), ("gpu", "GPU"), ("Gpus", "GPU"), ("num_gpus", "GPU"), ("CPU", "CPU"),
    ("memory", "memory"), ("TPU", "TPU"), ("neuron_cores", "neuron_cores")])
def test_ray_built_in_resource_in_resources_per_worker_is_refused(name: str,
                                                                  built_in: str) -> None:
    # Ray would get GPUs (or CPUs) that the plan, the price and the GPU cap never count
    errs, r = _errors(FRAUD, f"+train.scaling.resources_per_worker={{{name}: 8}}")
    assert [e[:3] for e in errs] == [(
        "schema.rule", f"train.scaling.resources_per_worker.{name}",
        f"'{name}' is Ray's built-in {built_in} resource; resources_per_worker takes custom "
        "resources only")]
    assert int(r.exit_code) == 2


def test_custom_resource_per_worker_is_accepted(approved: Approved) -> None:
    custom = ["+train.scaling.resources_per_worker={spot_node: 1}"]
    errs, _ = _errors(approved(FRAUD, custom), *custom)
    assert errs == []
