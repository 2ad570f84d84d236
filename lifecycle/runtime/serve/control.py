"""Deploying and changing Serve applications the declarative way (the `serve deploy`
path), without a dashboard: through the Serve controller, as the dashboard's REST API
does. A config deploy that changes only a deployment's `user_config` reconfigures its
replicas live; one that changes `args` restarts them.

The controller applies the whole set of config-deployed applications at once, so every
change here reads the current set and replaces only its own application."""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from typing import Any, TypeVar

import ray
from pydantic import BaseModel

from ..contract import (
    MONITOR,
    ROUTER,
    SERVE_FAST_MODE,
    Evidence,
    ModelConfig,
    MonitorStatus,
    RouterConfig,
    Slot,
    VersionEvidence,
    slot_of,
)
from . import collector

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


def router_config(name: str) -> RouterConfig:
    """The Router's config as deployed."""
    configs = app_configs()
    if name not in configs:
        raise KeyError(name)
    return RouterConfig.model_validate(
        deployment_config(configs[name], ROUTER).get("user_config") or {})


def update_router(name: str, **changes: Any) -> RouterConfig:
    """Change the Router's config live; its generation goes up by one, so
    `wait_applied` can tell when every replica runs it."""
    current = router_config(name)
    return update_user_config(name, ROUTER, RouterConfig,
                              **{**changes, "generation": current.generation + 1})


def slot_models(name: str) -> dict[Slot, ModelConfig]:
    """What each model slot of a deployed application serves (from its config)."""
    config = app_configs().get(name) or {}
    out: dict[Slot, ModelConfig] = {}
    for d in config.get("deployments", []):
        if d["name"] == ROUTER:  # fused: the Router serves the versions itself
            out.update(RouterConfig.model_validate(d.get("user_config") or {}).models)
        slot = slot_of(d["name"])
        if slot is not None:
            out[slot] = ModelConfig.model_validate(d.get("user_config") or {})
    return out


def slot_versions(name: str) -> dict[Slot, str | None]:
    """The version each model slot of a deployed application serves (from its config)."""
    return {slot: m.version for slot, m in slot_models(name).items()}


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


def evidence(name: str, since: float | None = None, timeout_s: float = 30.0) -> Evidence:
    """The application's evidence, merged over its Router replicas (a plain actor call:
    it works from any thread, in every Serve mode)."""
    found = collector.find(name)
    if found is None:
        raise LookupError(f"no evidence collector for '{name}' (is it deployed?)")
    result: Evidence = ray.get(found.evidence.remote(since), timeout=timeout_s)
    return result


def evidence_windows(name: str, seconds: list[float], timeout_s: float = 30.0
                     ) -> dict[float, dict[str, VersionEvidence]]:
    """Each version's evidence over each window back from now (SLO budgets and burn)."""
    found = collector.find(name)
    if found is None:
        raise LookupError(f"no evidence collector for '{name}' (is it deployed?)")
    result: dict[float, dict[str, VersionEvidence]] = ray.get(
        found.windows.remote(seconds), timeout=timeout_s)
    return result


def wait_applied(name: str, config: RouterConfig, timeout_s: float = 60.0) -> bool:
    """A config deploy returns when Serve has it; the Router's replicas reconfigure a
    moment later. Wait until every live replica reports this config's generation (a
    replica that died stops counting once its reports are stale)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            replicas = evidence(name, timeout_s=10).replicas
            if replicas and all(r.config >= config.generation for r in replicas):
                return True
        except Exception:
            pass  # the collector restarting: ask again
        time.sleep(0.1)
    return False


@ray.remote(num_cpus=0)
def _serve_environment() -> dict[str, str | None]:
    import os

    return {k: os.environ.get(k) for k in SERVE_FAST_MODE}


def fast_mode() -> tuple[bool, dict[str, str | None]]:
    """Whether the cluster's workers run with Ray Serve's high-throughput settings (as
    its nodes were started), and what they have."""
    env: dict[str, str | None] = ray.get(_serve_environment.remote(), timeout=30)
    return all(env.get(k) == v for k, v in SERVE_FAST_MODE.items()), env


_LOOP: asyncio.AbstractEventLoop | None = None
_LOOP_LOCK = threading.Lock()
_HANDLES: dict[tuple[str, str], Any] = {}


def _handle_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, on its own thread, for calls through Serve handles:
    in Serve's high-throughput mode a handle's router runs in the caller's loop, and a
    synchronous `.remote().result()` outside a running loop raises."""
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None:
            _LOOP = asyncio.new_event_loop()
            threading.Thread(target=_LOOP.run_forever, name="lifecycle-handles",
                             daemon=True).start()
        return _LOOP


def call(deployment: str, name: str, method: str, *args: Any, timeout_s: float = 30.0
         ) -> Any:
    """`deployment.method(*args)` of application `name`, from any thread, in any mode."""
    from ray import serve

    async def go() -> Any:
        handle = _HANDLES.get((deployment, name))
        if handle is None:  # made in the loop that will use it, once
            handle = _HANDLES[(deployment, name)] = serve.get_deployment_handle(
                deployment, app_name=name)
        return await getattr(handle, method).remote(*args)

    return asyncio.run_coroutine_threadsafe(go(), _handle_loop()).result(timeout_s)


def monitor_status(name: str, since: float = 0.0, timeout_s: float = 30.0) -> MonitorStatus:
    """What the application's Monitor saw (windows opened and closed since `since`)."""
    result: MonitorStatus = call(MONITOR, name, "status", since, timeout_s=timeout_s)
    return result
