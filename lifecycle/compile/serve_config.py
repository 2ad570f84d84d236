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

from ..spec import Spec
from .stages import MONITOR_CPUS, ROUTER_CPUS, versions

APP_IMPORT_PATH = "lifecycle.runtime.serve.app:build_app"
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


def initial_weights(spec: Spec) -> dict[str, float]:
    slots = versions(spec)
    if "stable" not in slots:
        return {"candidate": 100.0}
    assert spec.serve is not None and spec.serve.rollout is not None
    first = spec.serve.rollout.steps[0].weight
    return {"stable": 100.0 - first, "candidate": first}


def serve_config(spec: Spec) -> dict[str, Any] | None:
    if spec.serve is None or spec.register is None:
        return None
    s = spec.serve
    slots = versions(spec)
    rollout = s.rollout
    router_user_config: dict[str, Any] = {
        "weights": initial_weights(spec),
        "step": 0,
        "sticky_key": rollout.sticky_key if rollout else None,
        "shadow": None if s.shadow is None else {
            "target": s.shadow.target if "stable" in slots else "candidate",
            "fraction": s.shadow.fraction,
            "max_queued": s.shadow.max_queued,
        },
        "capacity": {slot: slot_capacity(spec) for slot in slots},
    }
    deployments: list[dict[str, Any]] = [{
        "name": "Router",
        "num_replicas": 1,
        "max_ongoing_requests": 256,
        "ray_actor_options": {"num_cpus": ROUTER_CPUS},
        "user_config": router_user_config,
    }]
    for slot, alias in slots.items():
        actor: dict[str, Any] = {"num_cpus": s.resources.num_cpus}
        if s.resources.num_gpus:
            actor["num_gpus"] = s.resources.num_gpus
        if s.resources.memory_mb:
            actor["memory"] = s.resources.memory_mb * 1024 * 1024
        dep: dict[str, Any] = {
            "name": f"Model_{slot}",
            "max_ongoing_requests": model_max_ongoing(spec),
            "ray_actor_options": actor,
            "user_config": {"model_uri": f"models:/{spec.register.model}@{alias}",
                            "slot": slot},
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
            "name": "Monitor",
            "num_replicas": 1,
            "max_ongoing_requests": 64,
            "ray_actor_options": {"num_cpus": MONITOR_CPUS},
            "user_config": {"monitors": [], "max_queued_windows": 2},
        })
    # what the router checks each request against (a 400 names the feature and the fix)
    features = {name: {"type": f.type, "categories": f.categories}
                for name, f in spec.data.contract.features.items()}
    app = {
        "name": spec.name,
        "route_prefix": s.route_prefix,
        "import_path": APP_IMPORT_PATH,
        "args": {
            "application": spec.name,
            "model": spec.register.model,
            "slots": sorted(slots),
            "features": features,
            "batching": None if s.batching is None else s.batching.model_dump(mode="json"),
            "monitor": bool(spec.monitors),
        },
        "deployments": deployments,
    }
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": "0.0.0.0", "port": 8000},
        "applications": [app],
    }
