"""The typed seam: every config the compiled plan hands Serve is a contract model the
runtime reads back, unknown keys are refused at the seam, and names live in one place."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lifecycle.api import compile_spec
from lifecycle.runtime.contract import (
    MONITOR,
    ROUTER,
    AppArgs,
    ModelConfig,
    MonitorConfig,
    RolloutPhase,
    RouterConfig,
    Slot,
    model_deployment,
    slot_of,
)

from ...conftest import ROOT, compile_approved

FRAUD = ROOT / "specs" / "fraud.yaml"


def test_every_user_config_of_the_plan_is_a_contract_model() -> None:
    plan = compile_spec(FRAUD)
    assert plan.serve_config is not None
    app = plan.serve_config["applications"][0]
    args = AppArgs.model_validate(app["args"])
    assert args.slots == [Slot.CANDIDATE, Slot.STABLE] and args.monitor
    kinds = {ROUTER: RouterConfig, MONITOR: MonitorConfig,
             model_deployment(Slot.STABLE): ModelConfig,
             model_deployment(Slot.CANDIDATE): ModelConfig}
    for dep in app["deployments"]:
        kinds[dep["name"]].model_validate(dep["user_config"])
    router = RouterConfig.model_validate(app["deployments"][0]["user_config"])
    assert router.weights == {Slot.STABLE: 95.0, Slot.CANDIDATE: 5.0}


def test_shadow_to_the_champion_targets_the_stable_slot() -> None:
    plan = compile_approved(FRAUD, ["serve.shadow.target=champion"])
    assert plan.serve_config is not None
    router = RouterConfig.model_validate(
        plan.serve_config["applications"][0]["deployments"][0]["user_config"])
    assert router.shadow is not None and router.shadow.target == Slot.STABLE


def test_a_key_the_runtime_does_not_know_is_refused_at_the_seam() -> None:
    with pytest.raises(ValidationError, match="wieghts"):
        RouterConfig.model_validate({"weights": {"candidate": 100}, "wieghts": {}})
    with pytest.raises(ValidationError, match="slot"):
        ModelConfig.model_validate({"model_uri": "models:/m/1", "slot": "canary"})


def test_deployment_names_map_to_slots_and_back() -> None:
    assert model_deployment(Slot.STABLE) == "Model_stable"
    assert slot_of("Model_candidate") == Slot.CANDIDATE
    assert slot_of(ROUTER) is None and slot_of(MONITOR) is None


def test_only_promoted_rolled_back_and_failed_end_a_rollout() -> None:
    assert {p for p in RolloutPhase if p.ended} == {
        RolloutPhase.PROMOTED, RolloutPhase.ROLLED_BACK, RolloutPhase.FAILED}
