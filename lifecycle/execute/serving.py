"""Operating a deployed application from the driver side: status, promote, rollback,
pause, resume, retire. They attach to the running cluster (a GCS address, `auto` on
a cluster node, or RAY_ADDRESS / LIFECYCLE_RAY_ATTACH) and talk to the application's
Router and rollout controller."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from typing import Any

from ..errors import Location, PolicyError, Problem, RuntimeFailure
from ..plan.approvals import (
    ApprovalRecord,
    promotion_refusal,
    recorded_approvals,
    recorded_digest,
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
    try:
        ray.init(address=target, log_to_driver=False)
    except Exception as exc:
        raise _fail(f"cannot attach to Ray at {target}: {exc}", "is the cluster up? "
                    "(`ray status`)", code="serving.no-cluster") from None


def _serve_client() -> Any:
    from ray.serve.context import _get_global_client

    try:
        return _get_global_client()
    except Exception:
        raise _fail("Ray Serve is not running on this cluster",
                    "deploy first: lifecycle run SPEC") from None


def status(application: str) -> dict[str, Any]:
    from ray import serve

    from ..runtime.serve import control, rollout

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
    config = control.app_configs().get(application)
    if config is not None:
        for d in config.get("deployments", []):
            if d["name"].startswith("Model_"):
                out["versions"][d["name"][len("Model_"):]] = (d.get("user_config") or {}).get(
                    "version")
    try:
        out["router"] = control.router(application).stats.remote().result(timeout_s=10)
        out["router"]["shadow"].pop("recent", None)
    except Exception as exc:
        out["router"] = {"error": f"{type(exc).__name__}: {exc}"}
    if "Monitor" in app.deployments:
        try:
            watched = control.monitor(application).status.remote().result(timeout_s=10)
            for m in watched["monitors"].values():
                m.pop("recent", None)
            out["monitors"] = watched
        except Exception as exc:
            out["monitors"] = {"error": f"{type(exc).__name__}: {exc}"}
    controller = rollout.find(application)
    if controller is not None:
        import ray

        state = ray.get(controller.status.remote(), timeout=10)
        (state.get("live") or {}).pop("monitors", None)  # shown once, below
        state["events"] = state["events"][-10:]
        out["rollout"] = state
    return out


Approval = tuple[str | None, Sequence[ApprovalRecord]]  # (approved digest, approvals)


def command(application: str, name: str, approval: Approval | None = None,
            today: dt.date | None = None) -> str:
    """Send a command to the application's rollout controller. A promote is first checked
    against `approval` (the approved digest and approvals of the spec named; None when
    only the application was named: then the candidate version's own record)."""
    import ray

    from ..runtime.serve import rollout

    controller = rollout.find(application)
    if controller is None:
        raise _fail(f"no rollout controller for '{application}'",
                    "a rollout starts with `lifecycle run SPEC` when the spec has "
                    "serve.rollout")
    if name == "promote":
        state = ray.get(controller.status.remote(), timeout=30)
        candidate = (state.get("versions") or {}).get("candidate")
        if candidate is not None:
            _authorise_promotion(application, str(candidate), approval, today)
    return str(ray.get(controller.send.remote(name), timeout=30))


def _authorise_promotion(application: str, version: str, approval: Approval | None,
                         today: dt.date | None) -> None:
    """Refuse (exit 1) to promote a version whose tags do not carry the plan digest the
    approvals cover."""
    from mlflow.tracking import MlflowClient

    from ..runtime.serve import control

    config = control.app_configs().get(application) or {}
    slot = next((d.get("user_config") or {} for d in config.get("deployments", [])
                 if d.get("name") == "Model_candidate"), {})
    model = (config.get("args") or {}).get("model")
    uri = slot.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI")
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


def retire(application: str, model: str, tracking_uri: str | None, archive: bool,
           drain_s: float) -> dict[str, Any]:
    """Stop the controller, drain the application (the Router answers new requests 503
    and the requests in flight finish, for at most `drain_s`), delete it, and (archive)
    tag its versions."""
    import ray

    from ..runtime.serve import control, rollout

    _serve_client()
    config = control.app_configs().get(application) or {}
    versions = [str((d.get("user_config") or {}).get("version"))
                for d in config.get("deployments", []) if d["name"].startswith("Model_")]
    controller = rollout.find(application)
    if controller is not None:
        ray.kill(controller)
    drained = _drain(application, drain_s) if config else None
    deleted = control.delete(application)
    if deleted and not control.wait_deleted(application):
        raise _fail(f"Serve is still deleting '{application}' after 120 s",
                    "`serve status` shows what it waits for; run retire again to finish",
                    "serving.timeout")
    archived: list[str] = []
    if archive and tracking_uri and versions:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri)
        for v in versions:
            client.set_model_version_tag(model, v, "lifecycle.retired", "true")
            archived.append(v)
    return {"application": application, "deleted": deleted, "archived_versions": archived,
            "drained": drained}


def _drain(application: str, drain_s: float) -> dict[str, Any]:
    """New requests refused (503, the Router says the application is being retired)
    while those in flight finish; at most `drain_s`, then the deletion goes on anyway
    (Serve's own graceful shutdown still waits for replicas' requests)."""
    import time

    from ..runtime.serve import control

    control.update_user_config(application, "Router", {"draining": True})
    control.wait_router(application, lambda s: bool(s.get("draining")))
    t0 = time.monotonic()
    while True:
        try:
            left = int(control.router(application).stats.remote().result()["in_flight"])
        except Exception:  # the Router is gone: nothing left to drain
            left = None
            break
        if left == 0 or time.monotonic() - t0 >= drain_s:
            break
        time.sleep(0.2)
    return {"seconds": round(time.monotonic() - t0, 3), "in_flight_left": left}

