"""Operating a deployed application from the driver side: status, promote, rollback,
pause, resume, retire. They attach to the running cluster (a GCS address, `auto` on
a cluster node, or RAY_ADDRESS / LIFECYCLE_RAY_ATTACH) and talk to the application's
Router and rollout controller."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import Location, PolicyError, Problem, RuntimeFailure
from ..plan.approvals import (
    ApprovalRecord,
    promotion_refusal,
    recorded_approvals,
    recorded_digest,
)
from ..runtime.contract import (
    MONITOR,
    CommandReply,
    Evidence,
    ModelConfig,
    RolloutCommand,
    RolloutPhase,
    RolloutStatus,
    Slot,
    command_refusal,
)

COMMANDS = ("promote", "rollback", "pause", "resume")


def _fail(message: str, hint: str, code: str = "serving.not-found") -> RuntimeFailure:
    loc = Location(origin="--address")
    return RuntimeFailure(message, location=loc, hint=hint,
                          problems=(Problem(code, message, "", loc, hint),))


def attach(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        return
    target = address or os.environ.get("LIFECYCLE_RAY_ATTACH") or os.environ.get("RAY_ADDRESS")
    if not target:
        raise _fail("no running Ray cluster named", "pass --address HOST:6379 (or `auto` on a "
                    "cluster node), or set RAY_ADDRESS; a local Ray started by `lifecycle "
                    "run` ends with that run", code="serving.no-cluster")
    if target.startswith(("http://", "https://")):
        raise _fail(f"{target} is a dashboard (Jobs) address", "operating commands attach "
                    "to the cluster itself: pass its GCS address (HOST:6379) or `auto`",
                    code="serving.no-cluster")
    if target.startswith("ray://"):
        from .cluster import dashboard_url

        dashboard_url(target)  # refused, saying why
    try:
        ray.init(address=target, log_to_driver=False)
    except Exception as exc:
        from .cluster import explain

        known = explain(exc, target)
        if known is not None and known.problems[0].code != "cluster.unreachable":
            raise known from None
        raise _fail(f"cannot attach to Ray at {target}: {exc}", "is the cluster up? "
                    "(`ray status`)", code="serving.no-cluster") from None


def _serve_client() -> Any:
    from ray.serve.context import _get_global_client

    try:
        return _get_global_client()
    except Exception:
        raise _fail("Ray Serve is not running on this cluster",
                    "deploy first: lifecycle run SPEC") from None


COST_WINDOW_S = 3600.0  # cost per 1,000 predictions over the last hour


def status(application: str, replica_hourly: dict[str, float] | None = None,
           currency: str | None = None) -> dict[str, Any]:
    """What `lifecycle status SPEC|APP` shows; with the plan's replica prices, also the
    cost of 1,000 predictions over the last hour."""
    from ray import serve

    from ..runtime.rollout import controller as rollout
    from ..runtime.serve import control

    _serve_client()
    apps = serve.status().applications
    if application not in apps:
        raise _fail(f"no Serve application '{application}'",
                    f"deployed applications: {', '.join(apps) or 'none'}")
    app = apps[application]
    out: dict[str, Any] = {
        "application": application, "status": str(app.status),
        "deployments": {name: {"status": str(d.status),
                               "replicas": {str(k): v for k, v in d.replica_states.items()}}
                        for name, d in app.deployments.items()},
        "versions": {}, "router": None, "rollout": None}
    out["versions"] = {slot.value: v for slot, v in control.slot_versions(application).items()}
    try:
        fast, env = control.fast_mode()
        out["serve_mode"] = {"high_throughput": fast, "environment": env}
    except Exception as exc:
        out["serve_mode"] = {"error": f"{type(exc).__name__}: {exc}"}
    try:
        out["router"] = router_status(control.evidence(application, timeout_s=10))
    except Exception as exc:
        out["router"] = {"error": f"{type(exc).__name__}: {exc}"}
    if replica_hourly:
        try:
            out["cost"] = _cost(application, app, replica_hourly, currency)
        except Exception as exc:
            out["cost"] = {"error": f"{type(exc).__name__}: {exc}"}
    if MONITOR in app.deployments:
        try:
            watched = control.monitor_status(application, timeout_s=10)
            out["monitors"] = watched.model_dump(
                mode="json", exclude={"monitors": {"__all__": {"recent"}}})
        except Exception as exc:
            out["monitors"] = {"error": f"{type(exc).__name__}: {exc}"}
    controller = rollout.find(application)
    if controller is not None:
        import ray

        state: RolloutStatus = ray.get(controller.status.remote(), timeout=10)
        state.events = state.events[-10:]
        out["rollout"] = state.model_dump(mode="json")
    return out


def _cost(application: str, app: Any, replica_hourly: dict[str, float],
          currency: str | None) -> dict[str, Any]:
    """Replica-seconds (the replicas running now, over the window) priced at the plan's
    replica-hour, over the predictions answered in the window."""
    import time

    from ..plan import cost_per_1000_predictions
    from ..runtime.serve import control

    ev = control.evidence(application, since=time.time() - COST_WINDOW_S, timeout_s=10)
    seconds = ev.time - (ev.since if ev.since is not None else ev.time - COST_WINDOW_S)
    running = {name: sum(n for state, n in d.replica_states.items()
                         if str(state).endswith("RUNNING"))
               for name, d in app.deployments.items() if name in replica_hourly}
    predictions = sum(v.requests for v in ev.versions.values())
    per_1000 = cost_per_1000_predictions({n: k * seconds for n, k in running.items()},
                                         predictions, replica_hourly)
    return {"per_1000_predictions": per_1000, "currency": currency, "window_s": seconds,
            "predictions": predictions, "replicas": running}


def router_status(ev: Evidence) -> dict[str, Any]:
    """The Router's replicas and what they counted, per version (as `status` shows it)."""
    from ..runtime.evidence import monitor_totals, shadow_totals, summarize

    newest = max(ev.replicas, key=lambda r: r.time, default=None)
    monitor = monitor_totals(ev.replicas)
    return {
        "replicas": len(ev.replicas),
        "weights": {} if newest is None else {s.value: w for s, w in newest.weights.items()},
        "draining": bool(newest and newest.draining),
        "in_flight": sum(r.in_flight for r in ev.replicas),
        "bad_requests": ev.bad_requests, "refused_draining": ev.refused,
        "versions": {v: summarize(e).model_dump(mode="json") for v, e in ev.versions.items()},
        "shadow": shadow_totals(ev.replicas).model_dump(mode="json", exclude={"recent"}),
        "monitor": None if monitor is None else monitor.model_dump(mode="json")}


Approval = tuple[str | None, Sequence[ApprovalRecord]]  # (approved digest, approvals)


def command(application: str, name: str, approval: Approval | None = None,
            today: dt.date | None = None, target: str | None = None) -> str:
    """Send promote / rollback / pause / resume to the application's rollout. A promote is
    first checked against `approval` (the approved digest and approvals of the spec named;
    None when only the application was named: then the candidate version's own record).
    A command that would change nothing (no rollout, an ended one, pausing a paused one)
    raises, saying what to do instead."""
    import ray

    from ..runtime.rollout import controller as rollout

    spec = target or "SPEC"
    new_rollout = (f"a rollout starts with each new version: `lifecycle run {spec}` "
                   "registers one and rolls it out (the spec needs serve.rollout); "
                   f"`lifecycle status {spec}` shows what serves now")
    controller = rollout.find(application)
    if controller is None:
        raise _fail(f"{name}: '{application}' has no rollout running, nothing was done",
                    new_rollout, code="rollout.none")
    if name == "promote":  # one the controller would refuse anyway is not checked
        state: RolloutStatus = ray.get(controller.status.remote(), timeout=30)
        candidate = state.versions.get(Slot.CANDIDATE)
        if candidate is not None and command_refusal(state.phase,
                                                     RolloutCommand.PROMOTE) is None:
            _authorise_promotion(application, str(candidate), state, approval, today)
    reply: CommandReply = ray.get(controller.send.remote(name), timeout=30)
    if reply.accepted:
        return reply.message
    if reply.phase.ended:
        hint = new_rollout
    elif reply.phase == RolloutPhase.PAUSED:
        hint = f"`lifecycle resume {spec}` continues it"
    else:
        hint = f"it is {reply.phase.value}; `lifecycle pause {spec}` holds it"
    raise _fail(f"{name}: {reply.message}, nothing was done", hint, code="rollout.refused")


def _authorise_promotion(application: str, version: str, state: RolloutStatus,
                         approval: Approval | None, today: dt.date | None) -> None:
    """Refuse (exit 1) to promote a version whose tags do not carry the plan digest the
    approvals cover."""
    from mlflow.tracking import MlflowClient

    model = state.model
    uri = state.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not model or not uri:
        raise _fail(f"cannot read version {version} of '{application}' from the registry",
                    "the application's config names no model or tracking URI: redeploy it "
                    "with `lifecycle run SPEC`", "serving.registry")
    tags = dict(MlflowClient(uri).get_model_version(model, version).tags)
    digest, approvals = approval if approval is not None else (
        recorded_digest(tags), recorded_approvals(tags))
    refusal = promotion_refusal(tags, digest, approvals, version=f"{model} {version}",
                                today=today)
    if refusal is not None:
        loc = Location(origin=f"lifecycle promote {application}")
        raise PolicyError(f"promotion refused: {refusal}", location=loc, problems=(Problem(
            "promote.unapproved", f"promotion refused: {refusal}", "", loc),))


def retire(application: str, model: str, tracking_uri: str | None,
           default_tracking_uri: Callable[[], str], archive: bool,
           drain_s: float, replaced_by: str | None = None) -> dict[str, Any]:
    """Stop the controller, drain the application (the Router answers new requests 503
    and the requests in flight finish, for at most `drain_s`), delete it, and (archive)
    tag its versions — in `tracking_uri`, else the registry the application's versions
    were deployed from, else `default_tracking_uri()` (what `run` used by default)."""
    import ray

    from ..runtime.rollout import controller as rollout
    from ..runtime.serve import collector, control

    _serve_client()
    config = control.app_configs().get(application) or {}
    served = control.slot_models(application)
    versions = [m.version for m in served.values() if m.version is not None]
    controller = rollout.find(application)
    if controller is not None:
        ray.kill(controller)
    drained = _drain(application, drain_s) if config else None
    deleted = control.delete(application)
    found = collector.find(application)
    if found is not None:
        ray.kill(found)
    if deleted and not control.wait_deleted(application):
        raise _fail(f"Serve is still deleting '{application}' after 120 s",
                    "`serve status` shows what it waits for; run retire again to finish",
                    "serving.timeout")
    archived: list[str] = []
    if archive and versions:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(registry_of(tracking_uri, served, default_tracking_uri))
        for v in versions:
            client.set_model_version_tag(model, v, "lifecycle.retired", "true")
            if replaced_by:
                client.set_model_version_tag(model, v, "lifecycle.replaced_by", replaced_by)
            archived.append(v)
    return {"application": application, "deleted": deleted, "archived_versions": archived,
            "drained": drained}


def registry_of(explicit: str | None, served: dict[Slot, ModelConfig],
                default: Callable[[], str]) -> str:
    """The MLflow registry an application's versions live in: the one named, else the
    one its deploy recorded in each slot's config, else `run`'s default."""
    recorded = next((m.tracking_uri for m in served.values() if m.tracking_uri), None)
    return explicit or recorded or default()


def _drain(application: str, drain_s: float) -> dict[str, Any]:
    """New requests refused (503, the Router says the application is being retired)
    while those in flight finish; at most `drain_s`, then the deletion goes on anyway
    (Serve's own graceful shutdown still waits for replicas' requests)."""
    import time

    from ..runtime.serve import control

    control.wait_applied(application, control.update_router(application, draining=True))
    t0 = time.monotonic()
    while True:
        try:
            left = sum(r.in_flight for r in control.evidence(application).replicas)
        except Exception:  # the Router is gone: nothing left to drain
            left = None
            break
        if left == 0 or time.monotonic() - t0 >= drain_s:
            break
        time.sleep(0.2)
    return {"seconds": round(time.monotonic() - t0, 3), "in_flight_left": left}

