from __future__ import annotations

import json

import pytest

from lifecycle.api import compile_spec, load_plan
from lifecycle.errors import InputError, PolicyError
from lifecycle.plan import Plan

from ...conftest import ROOT, Approved, compile_approved

FRAUD = ROOT / "specs" / "fraud.yaml"


def test_compiling_twice_gives_identical_bytes() -> None:
    assert compile_spec(FRAUD).to_json() == compile_spec(FRAUD).to_json()


def test_plan_round_trips_through_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    plan = compile_spec(FRAUD)
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json())
    again = load_plan(path)
    assert again == plan and again.to_json() == plan.to_json()


def test_plan_has_a_schema_version_and_is_canonical() -> None:
    text = compile_spec(FRAUD).to_json()
    data = json.loads(text)
    assert data["schema_version"] == 1
    assert text == json.dumps(data, sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False) + "\n"


def test_stage_order_and_dependencies() -> None:
    plan = compile_spec(FRAUD)
    assert [(s.id, s.depends_on) for s in plan.stages] == [
        ("data", []), ("tune", ["data"]), ("evaluate", ["tune", "data"]),
        ("register", ["evaluate"]), ("monitor", ["data", "register"]),
        ("deploy", ["register", "monitor"]), ("rollout", ["deploy"]), ("retire", ["rollout"])]


def test_stage_resources(approved: Approved) -> None:
    gpus = ["train.scaling.use_gpu=true", "train.scaling.num_workers=2"]
    plan = compile_spec(approved(FRAUD, gpus), gpus)
    tune = plan.stage("tune")
    assert (tune.resources.workers, tune.resources.gpus) == (4, 4.0)
    assert tune.train.gpus_per_worker == 1.0
    deploy = plan.stage("deploy")
    # fused: up to 4 Router replicas (each serving both versions) + the monitor
    assert deploy.topology == "fused" and deploy.resources.workers == 5
    assert deploy.resources.cpus == 4 * 0.5 + 0.25
    routed = compile_approved(FRAUD, ["serve.topology=routed"]).stage("deploy")
    # 2 versions x 4 max replicas + 2 Router replicas + the monitor
    assert routed.resources.workers == 11 and routed.router_replicas == 2


def test_a_change_rehashes_its_stage_and_everything_downstream_only() -> None:
    a = {s.id: s.content_hash for s in compile_spec(FRAUD).stages}
    b = {s.id: s.content_hash for s in compile_spec(FRAUD, ["train.config.lr=0.01"]).stages}
    changed = {k for k in a if a[k] != b[k]}
    assert changed == {"tune", "evaluate", "register", "monitor", "deploy", "rollout", "retire"}


def test_a_rollout_change_leaves_training_untouched(approved: Approved) -> None:
    hold = ["serve.rollout.steps.1.hold=1h"]  # re-approved: the version registered stays
    a = {s.id: s.content_hash for s in compile_spec(FRAUD).stages}
    b = {s.id: s.content_hash for s in compile_spec(approved(FRAUD, hold), hold).stages}
    assert {k for k in a if a[k] != b[k]} == {"rollout", "retire"}


def test_compile_refuses_a_spec_that_fails_policy(approved: Approved) -> None:
    wide = ["serve.rollout.steps.0.weight=50"]
    with pytest.raises(PolicyError) as info:
        compile_spec(approved(FRAUD, wide), wide)
    assert [p.code for p in info.value.problems] == ["HR-002"]


def test_compile_refuses_invalid_input() -> None:
    with pytest.raises(InputError):
        compile_spec(FRAUD, ["train.framework=pytorch"])


def test_a_small_cpu_model_is_served_fused_in_the_routers_replicas() -> None:
    cfg = compile_spec(FRAUD).serve_config
    assert cfg is not None
    [app] = cfg["applications"]
    assert app["args"]["topology"] == "fused"
    assert [d["name"] for d in app["deployments"]] == ["Router", "Monitor"]
    router = app["deployments"][0]
    # each Router replica scores both versions: the model's resources, at least 2 replicas
    assert router["ray_actor_options"] == {"num_cpus": 0.5}
    assert router["autoscaling_config"]["min_replicas"] == 2
    assert set(router["user_config"]["models"]) == {"stable", "candidate"}


@pytest.mark.parametrize("override", ["serve.resources.num_gpus=0.5",
                                      "serve.batching={max_batch_size: 8}",
                                      "serve.resources.memory_mb=4096",
                                      "serve.topology=routed"])
def test_gpu_batched_large_or_asked_for_models_are_served_routed(override: str) -> None:
    plan = compile_approved(FRAUD, [override])
    assert plan.stage("deploy").topology == "routed"


def test_fused_with_batching_is_refused_with_the_fix() -> None:
    from lifecycle.api import validate_one

    r = validate_one(FRAUD, ["serve.topology=fused", "serve.batching={max_batch_size: 8}"])
    assert any("use topology 'routed'" in p.message for p in r.errors), r.errors


def test_serve_config_lowers_the_split_to_a_router() -> None:
    cfg = compile_approved(FRAUD, ["serve.topology=routed"]).serve_config
    assert cfg is not None
    [app] = cfg["applications"]
    assert app["route_prefix"] == "/fraud"
    names = [d["name"] for d in app["deployments"]]
    assert names == ["Router", "Model_stable", "Model_candidate", "Monitor"]
    assert app["args"]["monitor"] is True  # the spec has monitors
    router = app["deployments"][0]
    assert router["user_config"]["weights"] == {"stable": 95.0, "candidate": 5.0}
    assert router["user_config"]["shadow"] == {"target": "candidate", "fraction": 1.0,
                                                 "max_queued": 8}
    cand = app["deployments"][2]
    assert cand["user_config"]["model_uri"] == "models:/fraud-detector@challenger"
    assert "max_queued_requests" not in cand  # copies must never crowd out real callers
    assert cand["autoscaling_config"]["max_replicas"] == 4


def test_weights_live_in_user_config_not_args(approved: Approved) -> None:
    """Changing args restarts every replica; the rollout only touches user_config."""
    ten = ["serve.rollout.steps.0.weight=10"]
    a = compile_spec(FRAUD).serve_config
    b = compile_spec(approved(FRAUD, ten), ten).serve_config
    assert a is not None and b is not None
    assert a["applications"][0]["args"] == b["applications"][0]["args"]
    assert a != b


def test_gpu_serving_sets_ray_actor_options(approved: Approved) -> None:
    gpus = ["serve.resources.num_gpus=0.5"]
    cfg = compile_spec(approved(FRAUD, gpus), gpus).serve_config
    assert cfg is not None
    assert cfg["applications"][0]["deployments"][1]["ray_actor_options"] == \
        {"num_cpus": 0.5, "num_gpus": 0.5}
    assert cfg["applications"][0]["deployments"][0]["ray_actor_options"] == {"num_cpus": 0.1}


def test_batch_spec_has_no_serving() -> None:
    plan = compile_spec(ROOT / "specs" / "demand-batch.yaml")
    assert plan.serve_config is None
    assert [s.kind for s in plan.stages] == ["data", "train", "evaluate", "register"]


def test_plan_module_never_imports_spec() -> None:
    import ast
    import pathlib

    import lifecycle.plan

    for f in pathlib.Path(lifecycle.plan.__file__).parent.glob("*.py"):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert "spec" not in (node.module or "").split("."), f


def test_plan_is_a_pydantic_model_with_discriminated_stages() -> None:
    schema = Plan.model_json_schema()
    assert "stages" in schema["properties"]
