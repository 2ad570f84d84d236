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
from ...runtime.contract import (
    CHAMPION_ALIAS,
    DATA_TIME_TAG,
    MONITOR,
    ROUTER,
    Freshness,
    JournalRef,
    LogConfig,
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


def made_at(client: Any, model: str, versions: dict[Slot, str | None]) -> dict[Slot, Freshness]:
    """When each slot's version was registered and its training data read (the register
    stage's tag), for the freshness gauges and SLOs."""
    out = {}
    for slot, version in versions.items():
        if version is None:
            continue
        try:
            mv = client.get_model_version(model, version)
        except Exception:  # not known: no freshness for it
            continue
        data_at = (mv.tags or {}).get(DATA_TIME_TAG)
        out[slot] = Freshness(trained_at=mv.creation_timestamp / 1000.0
                              if mv.creation_timestamp else None,
                              data_at=float(data_at) if data_at else None)
    return out


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


def _project() -> tuple[str | None, bool]:
    """The project's code as a retrain's Ray Job will get it: the package this run's own
    job unpacked (a cluster), or None for the project root on this node (a local Ray)."""
    import ray

    working_dir = (ray.get_runtime_context().runtime_env or {}).get("working_dir")
    if working_dir and "://" in str(working_dir):
        return str(working_dir), False
    return None, True


def monitor_config(stage: DeployStage, ctx: StageContext) -> MonitorConfig | None:
    """The Monitor deployment's config: each fitted detector (where it was saved, the
    hash its loader checks, the plan's parameters), each quality monitor (with its
    calibration), the prediction log, the run journal, and what a retrain needs to
    submit a new run of this plan. None when the application has no Monitor."""
    fitted = (ctx.upstream.get("monitor") or {}).get("monitors") or {}
    if not fitted and stage.logging is None:
        return None
    params = {m.name: m for s in ctx.plan.stages if s.kind == "monitor" for m in s.monitors}
    host, port = ctx.options.serve_http(ctx.plan.serve_config or {})
    tracking = ctx.tracking.uri if ctx.tracking else None
    project, local = _project()
    serve: Any = ctx.plan.serve_config or {}
    features = serve["applications"][0]["args"]["features"] if serve else {}
    log = stage.logging
    return MonitorConfig(
        monitors=[WatchConfig(params=params[name], path=f.get("path"),
                              manifest_sha256=f.get("manifest_sha256"), probe=f.get("probe"),
                              calibration=f.get("calibration"),
                              artifact_uri=f.get("artifact_uri"), tracking_uri=tracking)
                  for name, f in sorted(fitted.items())],
        logging=None if log is None else LogConfig(
            store=ctx.store.uri, sample=log.sample, redact=log.redact,
            redaction=log.redaction, retention_s=log.retention_s, flush_rows=log.flush_rows,
            flush_interval_s=log.flush_interval_s, max_buffered=log.max_buffered),
        labels_store=ctx.store.uri, features=features,
        journal=JournalRef(store=ctx.store.uri, run_id=ctx.run_id),
        retrain=RetrainConfig(plan=f"runs/{ctx.run_id}/plan.json", store=ctx.store.uri,
                              tracking_uri=tracking, spec_path=ctx.options.spec_path,
                              project=project or ctx.root, project_is_local=local,
                              serve_host=host, serve_port=port,
                              source=ctx.options.resolved_source()))


def application_config(serve_config: dict[str, Any], model: str,
                       versions: dict[Slot, str | None], tracking_uri: str,
                       monitors: MonitorConfig | None = None,
                       freshness: dict[Slot, Freshness] | None = None) -> dict[str, Any]:
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
                s: pinned(m) for s, m in router.models.items() if s in slots},
                "freshness": {s: f for s, f in (freshness or {}).items() if s in slots}})
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
    tag_approvals(client, stage.model, str(versions[Slot.CANDIDATE]), ctx.plan)
    app = application_config(ctx.plan.serve_config, stage.model, versions, ctx.tracking.uri,
                             monitor_config(stage, ctx),
                             made_at(client, stage.model, versions))
    _supersede(stage.application, ctx.run_id)
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


def _supersede(application: str, run_id: str) -> None:
    """A rollout still running for this application ends before the new versions are
    deployed (it would route traffic for versions no longer there): journaled in its own
    run as `rollout_superseded` by this run."""
    import ray

    from ...runtime.rollout import controller as rollout

    old = rollout.find(application)
    if old is None:
        return
    try:
        ray.get(old.superseded.remote(run_id), timeout=10)
    except Exception:  # a controller that cannot say so is still stopped
        pass
    ray.kill(old, no_restart=True)
