"""The Serve config a plan carries validates under Ray's own ServeDeploySchema, and
Ray keeps every key we emit (its schema silently drops unknown keys, so a typo in our
lowering would otherwise vanish)."""

from __future__ import annotations

from typing import Any

import pytest

from lifecycle.api import compile_spec

from ..conftest import ROOT

pytestmark = pytest.mark.integration
import ray.serve.schema as schema  # noqa: E402  (CI installs lifecycle[runtime]: never skipped)


def _assert_subset(ours: Any, theirs: Any, path: str = "") -> None:
    if isinstance(ours, dict):
        assert isinstance(theirs, dict), path
        for k, v in ours.items():
            assert k in theirs, f"Ray dropped {path}.{k}"
            _assert_subset(v, theirs[k], f"{path}.{k}")
    elif isinstance(ours, list):
        assert isinstance(theirs, list) and len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _assert_subset(a, b, f"{path}[{i}]")
    else:
        assert ours == theirs or (isinstance(ours, (int, float))
                                  and float(ours) == float(theirs)), path


@pytest.mark.parametrize("spec, overrides", [
    ("fraud.yaml", []),
    ("fraud.yaml", ["serve.resources.num_gpus=1"]),
    ("churn-service.yaml", []),
    ("churn-service.yaml", ["~serve.rollout", "+policy=medium", "approvals=[]"]),
])
def test_plan_serve_config_validates_under_ray(spec: str, overrides: list[str]) -> None:
    from lifecycle.api import validate_one

    result = validate_one(ROOT / "specs" / spec, overrides, allow_protected_overrides=True)
    assert result.plan is not None and result.plan.serve_config is not None
    cfg = result.plan.serve_config
    parsed = schema.ServeDeploySchema.model_validate(cfg) if hasattr(
        schema.ServeDeploySchema, "model_validate") else schema.ServeDeploySchema.parse_obj(cfg)
    dumped = parsed.model_dump(mode="json", exclude_unset=True) if hasattr(
        parsed, "model_dump") else parsed.dict(exclude_unset=True)
    _assert_subset(cfg, dumped)


def test_router_fits_beside_models_on_two_cpus() -> None:
    cfg = compile_spec(ROOT / "specs" / "churn-service.yaml").serve_config
    assert cfg is not None
    total = sum(d["ray_actor_options"]["num_cpus"] * d.get("num_replicas", 1)
                for d in cfg["applications"][0]["deployments"])
    assert total <= 2.1
