"""What the cluster path needs from the compiler and the run options: custom resources
that place the Router and the model replicas on the nodes meant for them, and
credentials that never travel as plain text (issue 16)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifecycle.api import validate_one
from lifecycle.errors import InputError
from lifecycle.execute.options import RunOptions
from lifecycle.runtime.contract import ROUTER, Slot, model_deployment

from ..conftest import ROOT, compile_approved

FRAUD = ROOT / "specs" / "fraud.yaml"
ROUTED = ["serve.topology=routed", "~serve.autoscaling", "serve.replicas=2"]


def _deployments(overrides: list[str]) -> dict[str, dict]:  # type: ignore[type-arg]
    config = compile_approved(FRAUD, overrides).serve_config
    assert config is not None
    return {d["name"]: d for d in config["applications"][0]["deployments"]}


def test_router_custom_resources_pin_the_ingress_and_models_take_their_own() -> None:
    deps = _deployments(ROUTED + ["+serve.router.custom={ingress: 0.01}",
                                  "+serve.resources.custom={models: 1}"])
    assert deps[ROUTER]["ray_actor_options"] == {"num_cpus": 0.1,
                                                 "resources": {"ingress": 0.01}}
    assert deps[ROUTER]["num_replicas"] == 2
    for slot in (Slot.STABLE, Slot.CANDIDATE):
        assert deps[model_deployment(slot)]["ray_actor_options"] == {
            "num_cpus": 0.5, "resources": {"models": 1.0}}


def test_a_fused_router_needs_both_its_own_and_the_models_custom_resources() -> None:
    deps = _deployments(["serve.topology=fused", "+serve.router.custom={ingress: 0.01}",
                         "+serve.resources.custom={models: 1}"])
    assert deps[ROUTER]["ray_actor_options"]["resources"] == {"ingress": 0.01, "models": 1.0}


def test_without_custom_resources_the_serve_config_is_unchanged() -> None:
    deps = _deployments(ROUTED)
    assert "resources" not in deps[ROUTER]["ray_actor_options"]


def test_a_data_path_with_a_plain_text_s3_key_is_refused_by_policy() -> None:
    result = validate_one(FRAUD, [
        "data.train.path='s3://bucket/train.parquet?secret_key=abc123&scheme=http'"])
    assert "BASE-003" in {p.code for p in result.errors}
    ok = validate_one(FRAUD, [
        "data.train.path='s3://bucket/train.parquet?secret_key=secret://S3_SECRET'"])
    assert "BASE-003" not in {p.code for p in ok.problems}


@pytest.mark.parametrize("store, tracking, flag", [
    ("s3://b/runs?access_key=AKIAABCDEFGHIJKLMNOP", None, "--store"),
    (None, "http://alice:hunter2@mlflow:5000", "--tracking-uri"),
])
def test_a_plain_text_credential_in_store_or_tracking_uri_is_refused(
        tmp_path: Path, store: str | None, tracking: str | None, flag: str) -> None:
    options = RunOptions(project_root=tmp_path, store=store, tracking_uri=tracking)
    with pytest.raises(InputError) as err:
        options.resolved_store()
        options.resolved_tracking_uri()
    [problem] = err.value.problems
    assert problem.code == "run.credentials" and problem.location.origin == flag
    assert "hunter2" not in str(err.value) and "AKIAABCDEFGHIJKLMNOP" not in str(err.value)


def test_references_and_environment_credentials_pass(tmp_path: Path) -> None:
    options = RunOptions(project_root=tmp_path,
                         store="s3://b/runs?access_key=secret://K&secret_key=secret://S",
                         tracking_uri="http://127.0.0.1:5000")
    assert options.resolved_store().endswith("secret_key=secret://S")
    assert options.resolved_tracking_uri() == "http://127.0.0.1:5000"


def test_run_refuses_a_credential_in_the_tracking_uri_before_anything_is_written(
        tmp_path: Path) -> None:
    """Said before the run starts: no run folder, no log, no journal in the store."""
    from lifecycle.cli.main import main

    store = tmp_path / "store"
    code = main(["run", str(FRAUD), "--store", str(store),
                 "--tracking-uri", "http://alice:hunter2@mlflow:5000"])
    assert code == 2
    assert not (store / "runs").exists()
