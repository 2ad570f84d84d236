"""Lowering `serve` to a Ray Serve config (the `serve deploy` schema).

Ray Serve has no weighted split, mirror or canary: a split becomes an ingress router
deployment holding a handle per model version, with the weights in its `user_config`
(a config deploy that changes only `user_config` reconfigures live, with no restart).
`args` hold only what never changes during a rollout, because changing them restarts
every replica. With monitors, a `Monitor` deployment receives the Router's rows off the
response path and runs the detectors.
"""

from __future__ import annotations

from typing import Any

from ..runtime.contract import (
    APP_IMPORT_PATH,
    MONITOR,
    ROUTER,
    AppArgs,
    BatchingConfig,
    FeatureCheck,
    ModelConfig,
    MonitorConfig,
    RouterConfig,
    ShadowConfig,
    Slot,
    model_deployment,
)
from ..spec import Spec
from .stages import MONITOR_CPUS, ROUTER_CPUS, versions

MODEL_MAX_ONGOING = 5  # Ray Serve's default per replica, written out so the Router can count


def model_max_ongoing(spec: Spec) -> int:
    """Requests one model replica takes at once: Serve's default, or the batch size when
    batching asks for more (a replica never forms a batch larger than this)."""
    assert spec.serve is not None
    batch = spec.serve.batching.max_batch_size if spec.serve.batching else 1
    return max(MODEL_MAX_ONGOING, batch)


def slot_capacity(spec: Spec) -> int:
    """Requests one version slot takes at once (replicas x max_ongoing_requests; with
    autoscaling, at its minimum, at least one replica). The Router lets shadow copies use
    only what the target's own callers leave of this."""
    assert spec.serve is not None
    s = spec.serve
    replicas = max(1, s.autoscaling.min_replicas) if s.autoscaling else (s.replicas or 1)
    return replicas * model_max_ongoing(spec)


def initial_weights(spec: Spec) -> dict[Slot, float]:
    slots = versions(spec)
    if Slot.STABLE not in slots:
        return {Slot.CANDIDATE: 100.0}
    assert spec.serve is not None and spec.serve.rollout is not None
    first = spec.serve.rollout.steps[0].weight
    return {Slot.STABLE: 100.0 - first, Slot.CANDIDATE: first}


def serve_config(spec: Spec) -> dict[str, Any] | None:
    if spec.serve is None or spec.register is None:
        return None
    s = spec.serve
    slots = versions(spec)
    rollout = s.rollout
    router = RouterConfig(
        weights=initial_weights(spec), step=0,
        sticky_key=rollout.sticky_key if rollout else None,
        shadow=None if s.shadow is None else ShadowConfig(
            # the spec's `champion` is the stable slot's version
            target=Slot.STABLE if s.shadow.target == "champion" and Slot.STABLE in slots
            else Slot.CANDIDATE,
            fraction=s.shadow.fraction, max_queued=s.shadow.max_queued),
        capacity={Slot(slot): slot_capacity(spec) for slot in slots})
    deployments: list[dict[str, Any]] = [{
        "name": ROUTER,
        "num_replicas": 1,
        "max_ongoing_requests": 256,
        "ray_actor_options": {"num_cpus": ROUTER_CPUS},
        "user_config": router.model_dump(mode="json"),
    }]
    for slot, alias in slots.items():
        actor: dict[str, Any] = {"num_cpus": s.resources.num_cpus}
        if s.resources.num_gpus:
            actor["num_gpus"] = s.resources.num_gpus
        if s.resources.memory_mb:
            actor["memory"] = s.resources.memory_mb * 1024 * 1024
        dep: dict[str, Any] = {
            "name": model_deployment(slot),
            "max_ongoing_requests": model_max_ongoing(spec),
            "ray_actor_options": actor,
            "user_config": ModelConfig(model_uri=f"models:/{spec.register.model}@{alias}",
                                       slot=Slot(slot)).model_dump(mode="json",
                                                                   exclude_none=True),
        }
        # no max_queued_requests on the shadow target: Serve would reject the target's
        # own callers once copies fill its queue; the Router caps copies in flight instead
        if s.autoscaling is not None:
            dep["autoscaling_config"] = {
                "min_replicas": s.autoscaling.min_replicas,
                "max_replicas": s.autoscaling.max_replicas,
                "target_ongoing_requests": s.autoscaling.target_ongoing_requests,
            }
        else:
            dep["num_replicas"] = s.replicas or 1
        deployments.append(dep)
    if spec.monitors:
        # the detectors (fitted by the monitor stage) are filled in at deploy time
        deployments.append({
            "name": MONITOR,
            "num_replicas": 1,
            "max_ongoing_requests": 64,
            "ray_actor_options": {"num_cpus": MONITOR_CPUS},
            "user_config": MonitorConfig().model_dump(mode="json", exclude_none=True),
        })
    # what the router checks each request against (a 400 names the feature and the fix)
    features = {name: FeatureCheck(type=f.type, categories=f.categories)
                for name, f in spec.data.contract.features.items()}
    args = AppArgs(
        application=spec.name, model=spec.register.model,
        slots=sorted(Slot(slot) for slot in slots), features=features,
        batching=None if s.batching is None else BatchingConfig(
            max_batch_size=s.batching.max_batch_size,
            batch_wait_timeout=s.batching.batch_wait_timeout),
        monitor=bool(spec.monitors))
    app = {
        "name": spec.name,
        "route_prefix": s.route_prefix,
        "import_path": APP_IMPORT_PATH,
        "args": args.model_dump(mode="json"),
        "deployments": deployments,
    }
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": "0.0.0.0", "port": 8000},
        "applications": [app],
    }
