"""deploy: the plan's Serve application on the cluster's Ray Serve, by config deploy (the
`serve deploy` path, so later weight changes reconfigure live). The candidate slot serves
the version the register stage made; the stable slot the current champion, if any. Each
slot is pinned to a version number: aliases move, a running replica's model does not."""

from __future__ import annotations

import copy
from typing import Any

from ...errors import ExitCode
from ...plan import DeployStage
from ...plan.approvals import DIGEST_TAG, approval_tags
from ..context import StageContext, StageFailed


def resolve_versions(client: Any, model: str, candidate: str,
                     stable_alias: str = "champion") -> dict[str, str | None]:
    try:
        stable: str | None = str(client.get_model_version_by_alias(model, stable_alias).version)
    except Exception:
        stable = None  # no champion yet: the first deploy serves the candidate alone
    if stable == candidate:
        stable = None
    return {"stable": stable, "candidate": candidate}


def tag_approvals(client: Any, model: str, version: str, plan: Any) -> None:
    """The candidate carries the approvals of the plan deploying it: the register stage
    tagged it, but is skipped when the model's inputs did not change (a re-approved
    rollout change deploys the same version under a new approval digest)."""
    tags = approval_tags(plan)
    for key, value in tags.items():
        client.set_model_version_tag(model, version, key, value)
    if DIGEST_TAG not in tags:
        try:
            client.delete_model_version_tag(model, version, DIGEST_TAG)
        except Exception:  # it had none
            pass


def monitor_config(ctx: StageContext) -> dict[str, Any] | None:
    """The Monitor deployment's user_config: each fitted detector (where it was saved, the
    hash its loader checks, the plan's parameters), the run journal, and what a retrain
    needs to start a new run of this plan."""
    fitted = (ctx.upstream.get("monitor") or {}).get("monitors")
    if not fitted:
        return None
    params = {m.name: m.model_dump(mode="json") for m in ctx.plan.stage("monitor").monitors}
    host, port = ctx.options.serve_http(ctx.plan.serve_config or {})
    return {
        "monitors": [{"params": params[name], "path": f["path"],
                      "manifest_sha256": f["manifest_sha256"], "probe": f.get("probe"),
                      "artifact_uri": f.get("artifact_uri"),
                      "tracking_uri": ctx.tracking.uri if ctx.tracking else None}
                     for name, f in sorted(fitted.items())],
        "max_queued_windows": 2,
        "journal": {"store": ctx.store.uri, "run_id": ctx.run_id},
        "retrain": {"plan": f"runs/{ctx.run_id}/plan.json", "store": ctx.store.uri,
                    "tracking_uri": ctx.tracking.uri if ctx.tracking else None,
                    "project_root": ctx.root, "spec_path": ctx.options.spec_path,
                    "serve_host": host, "serve_port": port},
    }


def application_config(serve_config: dict[str, Any], model: str, versions: dict[str, Any],
                       tracking_uri: str,
                       monitors: dict[str, Any] | None = None) -> dict[str, Any]:
    """The plan's application with each slot pinned to a version; without a stable
    version the app has the candidate slot only (all traffic, no shadow). The Monitor
    deployment gets the detectors the monitor stage fitted."""
    app = copy.deepcopy(serve_config["applications"][0])
    slots = [s for s in app["args"]["slots"] if versions.get(s) is not None]
    app["args"]["slots"] = slots
    deployments = []
    for dep in app["deployments"]:
        if dep["name"] == "Router":
            if "stable" not in slots:
                dep["user_config"] = {**dep["user_config"], "weights": {"candidate": 100.0},
                                      "shadow": None}
        elif dep["name"] == "Monitor":
            if monitors is None:
                raise StageFailed("the plan has monitors but none were fitted",
                                  ExitCode.INTERNAL)
            dep["user_config"] = {**dep["user_config"], **monitors}
        elif dep["name"].startswith("Model_"):
            slot = dep["name"][len("Model_"):]
            if slot not in slots:
                continue
            v = str(versions[slot])
            dep["user_config"] = {**dep["user_config"], "model_uri": f"models:/{model}/{v}",
                                  "version": v, "tracking_uri": tracking_uri}
        deployments.append(dep)
    app["deployments"] = deployments
    return app


def run(stage: DeployStage, ctx: StageContext) -> dict[str, Any]:
    from mlflow.tracking import MlflowClient
    from ray import serve

    from ...runtime.serve import control

    if ctx.plan.serve_config is None or ctx.tracking is None:
        raise StageFailed("the plan has no Serve config", ExitCode.INTERNAL)
    registered = ctx.upstream.get("register") or {}
    if registered.get("version") is None:
        raise StageFailed("nothing was registered to deploy", ExitCode.RUNTIME)
    host, port = ctx.options.serve_http(ctx.plan.serve_config)
    serve.start(http_options={"host": host, "port": port})
    client = MlflowClient(ctx.tracking.uri)
    versions = resolve_versions(client, stage.model, str(registered["version"]))
    tag_approvals(client, stage.model, str(versions["candidate"]), ctx.plan)
    app = application_config(ctx.plan.serve_config, stage.model, versions, ctx.tracking.uri,
                             monitor_config(ctx))
    try:
        control.deploy(app)
    except Exception as exc:
        raise StageFailed(f"Serve refused the application: {type(exc).__name__}: {exc}",
                          ExitCode.RUNTIME, hint="`serve status` shows why") from exc
    status = control.wait_running(stage.application, ctx.options.serve_timeout_s)
    if not status.endswith("RUNNING"):
        detail = serve.status().applications.get(stage.application)
        message = getattr(detail, "message", "") if detail is not None else ""
        raise StageFailed(f"Serve application '{stage.application}' is {status}: {message}",
                          ExitCode.RUNTIME, hint="`serve status` and the replica logs "
                          "(Ray dashboard) say why; the previous version keeps serving")
    shown = "127.0.0.1" if host == "0.0.0.0" else host
    return {"application": stage.application, "versions": versions,
            "url": f"http://{shown}:{port}{stage.route_prefix}",
            "router": next(d["user_config"] for d in app["deployments"]
                           if d["name"] == "Router")}
