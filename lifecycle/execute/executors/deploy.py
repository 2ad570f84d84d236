"""deploy: the plan's Serve application on the cluster's Ray Serve, by config deploy (the
`serve deploy` path, so later weight changes reconfigure live). The candidate slot serves
the version the register stage made; the stable slot the current champion, if any. Each
slot is pinned to a version number: aliases move, a running replica's model does not."""

from __future__ import annotations

import copy
from typing import Any

from ...errors import ExitCode
from ...plan import DeployStage
from ...runtime.contract import (
    CHAMPION_ALIAS,
    MONITOR,
    ROUTER,
    JournalRef,
    ModelConfig,
    MonitorConfig,
    RetrainConfig,
    RouterConfig,
    Slot,
    WatchConfig,
    slot_of,
)
from ..context import StageContext, StageFailed


def resolve_versions(client: Any, model: str, candidate: str,
                     stable_alias: str = CHAMPION_ALIAS) -> dict[Slot, str | None]:
    try:
        stable: str | None = str(client.get_model_version_by_alias(model, stable_alias).version)
    except Exception:
        stable = None  # no champion yet: the first deploy serves the candidate alone
    if stable == candidate:
        stable = None
    return {Slot.STABLE: stable, Slot.CANDIDATE: candidate}


def _project() -> tuple[str | None, bool]:
    """The project's code as a retrain's Ray Job will get it: the package this run's own
    job unpacked (a cluster), or None for the project root on this node (a local Ray)."""
    import ray

    working_dir = (ray.get_runtime_context().runtime_env or {}).get("working_dir")
    if working_dir and "://" in str(working_dir):
        return str(working_dir), False
    return None, True


def monitor_config(ctx: StageContext) -> MonitorConfig | None:
    """The Monitor deployment's config: each fitted detector (where it was saved, the
    hash its loader checks, the plan's parameters), the run journal, and what a retrain
    needs to submit a new run of this plan."""
    fitted = (ctx.upstream.get("monitor") or {}).get("monitors")
    if not fitted:
        return None
    params = {m.name: m for m in ctx.plan.stage("monitor").monitors}
    host, port = ctx.options.serve_http(ctx.plan.serve_config or {})
    tracking = ctx.tracking.uri if ctx.tracking else None
    project, local = _project()
    return MonitorConfig(
        monitors=[WatchConfig(params=params[name], path=f["path"],
                              manifest_sha256=f["manifest_sha256"], probe=f.get("probe"),
                              artifact_uri=f.get("artifact_uri"), tracking_uri=tracking)
                  for name, f in sorted(fitted.items())],
        journal=JournalRef(store=ctx.store.uri, run_id=ctx.run_id),
        retrain=RetrainConfig(plan=f"runs/{ctx.run_id}/plan.json", store=ctx.store.uri,
                              tracking_uri=tracking, spec_path=ctx.options.spec_path,
                              project=project or ctx.root, project_is_local=local,
                              serve_host=host, serve_port=port,
                              source=ctx.options.resolved_source()))


def application_config(serve_config: dict[str, Any], model: str,
                       versions: dict[Slot, str | None], tracking_uri: str,
                       monitors: MonitorConfig | None = None) -> dict[str, Any]:
    """The plan's application with each slot pinned to a version; without a stable
    version the app has the candidate slot only (all traffic, no shadow). The Monitor
    deployment gets the detectors the monitor stage fitted."""
    app = copy.deepcopy(serve_config["applications"][0])
    slots = [s for s in app["args"]["slots"] if versions.get(Slot(s)) is not None]
    app["args"]["slots"] = slots

    def pinned(config: ModelConfig) -> ModelConfig:
        v = str(versions[config.slot])
        return config.model_copy(update={"model_uri": f"models:/{model}/{v}", "version": v,
                                         "tracking_uri": tracking_uri})

    deployments = []
    for dep in app["deployments"]:
        slot = slot_of(dep["name"])
        if dep["name"] == ROUTER:
            router = RouterConfig.model_validate(dep["user_config"])
            # fused: the Router's replicas load each slot's pinned version themselves
            router = router.model_copy(update={"models": {
                s: pinned(m) for s, m in router.models.items() if s in slots}})
            if Slot.STABLE not in slots:
                router = router.model_copy(update={"weights": {Slot.CANDIDATE: 100.0},
                                                   "shadow": None})
            dep["user_config"] = router.model_dump(mode="json")
        elif dep["name"] == MONITOR:
            if monitors is None:
                raise StageFailed("the plan has monitors but none were fitted",
                                  ExitCode.INTERNAL)
            dep["user_config"] = monitors.model_dump(mode="json")
        elif slot is not None:
            if slot not in slots:
                continue
            dep["user_config"] = pinned(ModelConfig.model_validate(dep["user_config"])
                                        ).model_dump(mode="json")
        deployments.append(dep)
    app["deployments"] = deployments
    return app


def run(stage: DeployStage, ctx: StageContext) -> dict[str, Any]:
    from mlflow.tracking import MlflowClient
    from ray import serve

    from ...runtime.serve import collector, control

    if ctx.plan.serve_config is None or ctx.tracking is None:
        raise StageFailed("the plan has no Serve config", ExitCode.INTERNAL)
    registered = ctx.upstream.get("register") or {}
    if registered.get("version") is None:
        raise StageFailed("nothing was registered to deploy", ExitCode.RUNTIME)
    host, port = ctx.options.serve_http(ctx.plan.serve_config)
    serve.start(http_options={"host": host, "port": port})
    client = MlflowClient(ctx.tracking.uri)
    versions = resolve_versions(client, stage.model, str(registered["version"]))
    app = application_config(ctx.plan.serve_config, stage.model, versions, ctx.tracking.uri,
                             monitor_config(ctx))
    try:
        collector.collector(stage.application)  # where the Router replicas push evidence
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
    return {"application": stage.application,
            "versions": {slot.value: v for slot, v in versions.items()},
            "url": f"http://{shown}:{port}{stage.route_prefix}",
            "router": next(d["user_config"] for d in app["deployments"]
                           if d["name"] == ROUTER)}
