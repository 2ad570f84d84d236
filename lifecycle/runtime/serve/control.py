"""Deploying and changing Serve applications the declarative way (the `serve deploy`
path), without a dashboard: through the Serve controller, as the dashboard's REST API
does. A config deploy that changes only a deployment's `user_config` reconfigures its
replicas live; one that changes `args` restarts them.

The controller applies the whole set of config-deployed applications at once, so every
change here reads the current set and replaces only its own application."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any, TypeVar

import ray
from pydantic import BaseModel

from ..contract import MONITOR, ROUTER, RouterConfig, RouterStats, Slot, slot_of

M = TypeVar("M", bound=BaseModel)


def _controller() -> Any:
    from ray.serve.context import _get_global_client

    client = _get_global_client()
    assert client is not None  # _get_global_client connects or raises
    return client._controller


def app_configs() -> dict[str, dict[str, Any]]:
    configs = ray.get(_controller().get_app_configs.remote())
    return {name: c.model_dump(mode="json", exclude_unset=True) for name, c in configs.items()}


def _apply(configs: dict[str, dict[str, Any]]) -> None:
    from ray.serve.schema import ServeDeploySchema

    schema = ServeDeploySchema.model_validate({"applications": list(configs.values())})
    ray.get(_controller().apply_config.remote(schema))


def deploy(app: dict[str, Any]) -> None:
    configs = app_configs()
    configs[app["name"]] = app
    _apply(configs)


def delete(name: str) -> bool:
    configs = app_configs()
    if name not in configs:
        return False
    del configs[name]
    _apply(configs)
    return True


def deployment_config(app: dict[str, Any], name: str) -> dict[str, Any]:
    for d in app.get("deployments", []):
        if d["name"] == name:
            return d  # type: ignore[no-any-return]
    raise KeyError(name)


def update_user_config(name: str, deployment: str, kind: type[M], **changes: Any) -> M:
    """Change fields of one deployment's user_config (a `kind` of the contract) and
    deploy: live, no restart. The merged config is validated before Serve sees it."""
    configs = app_configs()
    if name not in configs:
        raise KeyError(name)
    app = copy.deepcopy(configs[name])
    dep = deployment_config(app, deployment)
    merged = kind.model_validate(dep.get("user_config") or {}).model_copy(update=changes)
    merged = kind.model_validate(merged.model_dump())  # the changes validated too
    dep["user_config"] = merged.model_dump(mode="json")
    configs[name] = app
    _apply(configs)
    return merged


def update_router(name: str, **changes: Any) -> RouterConfig:
    return update_user_config(name, ROUTER, RouterConfig, **changes)


def slot_versions(name: str) -> dict[Slot, str | None]:
    """The version each model slot of a deployed application serves (from its config)."""
    config = app_configs().get(name) or {}
    out: dict[Slot, str | None] = {}
    for d in config.get("deployments", []):
        slot = slot_of(d["name"])
        if slot is not None:
            version = (d.get("user_config") or {}).get("version")
            out[slot] = None if version is None else str(version)
    return out


def status(name: str) -> str | None:
    from ray import serve

    apps = serve.status().applications
    return None if name not in apps else str(apps[name].status)


def wait_running(name: str, timeout_s: float = 180.0) -> str:
    """Block until the application is RUNNING; returns the last status seen."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = status(name)
        if last is not None and last.endswith("RUNNING"):
            return last
        if last is not None and last.endswith("DEPLOY_FAILED"):
            break
        time.sleep(0.5)
    return last or "NOT_STARTED"


def wait_deleted(name: str, timeout_s: float = 120.0) -> bool:
    """Block until Serve no longer lists the application (a delete is asynchronous: its
    replicas finish their requests first)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if status(name) is None:
            return True
        time.sleep(0.5)
    return False


def wait_router(name: str, accept: Callable[[RouterStats], bool],
                timeout_s: float = 60.0) -> bool:
    """A config deploy returns when the controller has it; the Router's replicas
    reconfigure a moment later. Wait until the Router's stats satisfy `accept`."""
    deadline = time.monotonic() + timeout_s
    handle = router(name)
    while time.monotonic() < deadline:
        try:
            if accept(handle.stats.remote().result(timeout_s=10)):
                return True
        except Exception:
            pass  # a router replica restarting: ask again
        time.sleep(0.1)
    return False


def wait_router_weights(name: str, weights: dict[Slot, float], timeout_s: float = 60.0
                        ) -> bool:
    """Wait until the Router routes by `weights`."""
    return wait_router(name, lambda stats: all(
        abs(stats.weights.get(k, 0.0) - float(v)) < 1e-9 for k, v in weights.items()),
        timeout_s)


def router(name: str) -> Any:
    from ray import serve

    return serve.get_deployment_handle(ROUTER, app_name=name)


def monitor(name: str) -> Any:
    """The application's Monitor deployment (present when the spec has monitors)."""
    from ray import serve

    return serve.get_deployment_handle(MONITOR, app_name=name)
