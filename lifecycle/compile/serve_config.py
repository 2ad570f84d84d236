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
    FUSED_SCORING_THREADS,
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
    Topology,
    model_deployment,
)
from ..spec import Spec
from ..spec.serve import Autoscaling
from .stages import MONITOR_CPUS, ROUTER_CPUS, observed, versions

MODEL_MAX_ONGOING = 5  # Ray Serve's default per replica, written out so the Router can count


def model_max_ongoing(spec: Spec) -> int:
    """Requests one model replica takes at once: Serve's default, or the batch size when
    batching asks for more (a replica never forms a batch larger than this)."""
    assert spec.serve is not None
    batch = spec.serve.batching.max_batch_size if spec.serve.batching else 1
    return max(MODEL_MAX_ONGOING, batch)


LARGE_MODEL_MB = 2048  # auto: a model this large is served routed (one copy per replica)


def topology(spec: Spec) -> Topology:
    """fused (the Router scores) or routed (a model deployment per version)."""
    assert spec.serve is not None
    s = spec.serve
    if s.topology != "auto":
        return s.topology
    large = s.resources.memory_mb is not None and s.resources.memory_mb >= LARGE_MODEL_MB
    return "routed" if s.batching is not None or s.resources.num_gpus > 0 or large \
        else "fused"


def slot_capacity(spec: Spec) -> int:
    """Requests one version slot takes at once. Routed: its replicas x
    max_ongoing_requests (with autoscaling, at its minimum, at least one replica); fused:
    a Router replica's scoring threads for that version. The Router lets shadow copies
    use only what the target's own callers leave of this."""
    assert spec.serve is not None
    s = spec.serve
    if topology(spec) == "fused":
        return FUSED_SCORING_THREADS
    replicas = max(1, s.autoscaling.min_replicas) if s.autoscaling else (s.replicas or 1)
    return replicas * model_max_ongoing(spec)


def _replicas(autoscaling: Autoscaling | None, replicas: int) -> dict[str, Any]:
    if autoscaling is None:
        return {"num_replicas": replicas}
    return {"autoscaling_config": {
        "min_replicas": autoscaling.min_replicas, "max_replicas": autoscaling.max_replicas,
        "target_ongoing_requests": autoscaling.target_ongoing_requests}}


def router_replicas(spec: Spec) -> dict[str, Any]:
    """The Router's replicas. Fused, a Router replica is also a model replica: as many as
    the Router asks and the version's sizing asks, whichever is more."""
    assert spec.serve is not None
    s = spec.serve
    r = s.router
    if topology(spec) == "routed" or (s.autoscaling is None and r.autoscaling is None):
        floor = r.replicas if topology(spec) == "routed" else max(r.replicas, s.replicas or 1)
        return _replicas(r.autoscaling, floor) if r.autoscaling else _replicas(None, floor)
    scaling = r.autoscaling or s.autoscaling
    assert scaling is not None
    low = max(scaling.min_replicas, r.replicas if r.autoscaling is None else 1, 1)
    return _replicas(scaling.model_copy(update={
        "min_replicas": low, "max_replicas": max(scaling.max_replicas, low)}), low)


def _actor(spec: Spec) -> dict[str, Any]:
    assert spec.serve is not None
    res = spec.serve.resources
    actor: dict[str, Any] = {"num_cpus": res.num_cpus}
    if res.num_gpus:
        actor["num_gpus"] = res.num_gpus
    if res.memory_mb:
        actor["memory"] = res.memory_mb * 1024 * 1024
    if res.custom:
        actor["resources"] = dict(sorted(res.custom.items()))
    return actor


def _router_actor(spec: Spec, fused: bool) -> dict[str, Any]:
    """Routed, a Router replica is light: a tenth of a CPU. Fused, it scores and gets
    the model's resources. Either way it needs the custom resources that keep the
    ingress where `serve.router.custom` says."""
    assert spec.serve is not None
    actor: dict[str, Any] = _actor(spec) if fused else {"num_cpus": ROUTER_CPUS}
    custom: dict[str, float] = {**actor.get("resources", {}), **spec.serve.router.custom}
    if custom:
        actor["resources"] = dict(sorted(custom.items()))
    return actor


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
    fused = topology(spec) == "fused"
    model_configs = {Slot(slot): ModelConfig(
        model_uri=f"models:/{spec.register.model}@{alias}", slot=Slot(slot))
        for slot, alias in slots.items()}
    router = RouterConfig(
        weights=initial_weights(spec), step=0,
        sticky_key=rollout.sticky_key if rollout else None,
        shadow=None if s.shadow is None else ShadowConfig(
            # the spec's `champion` is the stable slot's version
            target=Slot.STABLE if s.shadow.target == "champion" and Slot.STABLE in slots
            else Slot.CANDIDATE,
            fraction=s.shadow.fraction, max_queued=s.shadow.max_queued),
        capacity={Slot(slot): slot_capacity(spec) for slot in slots},
        models=model_configs if fused else {},
        # every answered request to the Monitor when monitors watch the traffic; only
        # the ones the log samples when the log is all there is
        feed="all" if spec.monitors else "sampled" if s.logging is not None else "none",
        log_sample=0.0 if s.logging is None else s.logging.sample,
        feedback_token=s.feedback.token)
    deployments: list[dict[str, Any]] = [{
        "name": ROUTER,
        **router_replicas(spec),
        "max_ongoing_requests": 256,
        # fused, a Router replica scores: it gets the model's resources
        "ray_actor_options": _router_actor(spec, fused),
        "user_config": router.model_dump(mode="json", exclude_none=True),
    }]
    for slot, model in ([] if fused else model_configs.items()):
        # no max_queued_requests on the shadow target: Serve would reject the target's
        # own callers once copies fill its queue; the Router caps copies in flight instead
        deployments.append({
            "name": model_deployment(slot),
            **_replicas(s.autoscaling, s.replicas or 1),
            "max_ongoing_requests": model_max_ongoing(spec),
            "ray_actor_options": _actor(spec),
            "user_config": model.model_dump(mode="json", exclude_none=True)})
    if observed(spec):
        # the detectors (fitted by the monitor stage) are filled in at deploy time
        deployments.append({
            "name": MONITOR,
            "num_replicas": 1,
            "max_ongoing_requests": 64,
            "ray_actor_options": {"num_cpus": MONITOR_CPUS},
            "user_config": MonitorConfig().model_dump(mode="json", exclude_none=True),
        })
    # what the router checks each request against (a 400 names the feature and the fix)
    features = {name: FeatureCheck(type=f.type, categories=f.categories, min=f.min, max=f.max)
                for name, f in spec.data.contract.features.items()}
    args = AppArgs(
        application=spec.name, model=spec.register.model,
        slots=sorted(Slot(slot) for slot in slots), features=features,
        topology=topology(spec),
        batching=None if s.batching is None else BatchingConfig(
            max_batch_size=s.batching.max_batch_size,
            batch_wait_timeout=s.batching.batch_wait_timeout),
        monitor=observed(spec))
    app = {
        "name": spec.name,
        "route_prefix": s.route_prefix,
        "import_path": APP_IMPORT_PATH,
        "args": args.model_dump(mode="json"),
        "deployments": deployments,
    }
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": str(s.host), "port": 8000},  # loopback unless the spec exposes it
        "applications": [app],
    }
