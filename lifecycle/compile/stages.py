"""Spec -> stages: one small builder per stage kind. Pure functions; no I/O."""

from __future__ import annotations

from typing import Any

from ..plan import (
    AlertParams,
    CheckpointParams,
    DataStage,
    DeployStage,
    EvaluateStage,
    GateParams,
    LoggingParams,
    MonitorParams,
    MonitorStage,
    QualityParams,
    RegisterStage,
    Resources,
    RetireStage,
    RetrainParams,
    RolloutGateParams,
    RolloutStage,
    RolloutStepParams,
    SchedulerParams,
    SearchParam,
    SliceParams,
    TrainParams,
    TrainStage,
    TuneStage,
    canonical_json,
)
from ..spec import Spec
from ..spec.monitor import BACKENDS, DRIFT_DETECTORS, MIN_WINDOW, MonitorSpec
from ..spec.serve import Shadow

ROUTER_CPUS = 0.1  # the router is I/O bound; see NOTES on fitting Serve on 2 CPUs
# the monitor runs detectors in its own actor so they never slow the replicas (NOTES)
MONITOR_CPUS = 0.25


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json") if model is not None else None


def data_stage(spec: Spec) -> DataStage:
    sources = {role: _dump(src) for role, src in
               (("train", spec.data.train), ("eval", spec.data.eval),
                ("reference", spec.data.reference)) if src is not None}
    if spec.data.time_column is not None:  # what a retrain's recent_data filters on
        sources["train"] = {**sources["train"], "time_column": spec.data.time_column}
    return DataStage(id="data", sources=sources, contract=_dump(spec.data.contract),
                     resources=Resources(cpus=1, workers=1))


def train_params(spec: Spec) -> TrainParams:
    assert spec.train is not None
    t = spec.train
    return TrainParams(
        entrypoint=t.entrypoint, framework=t.framework, num_workers=t.scaling.num_workers,
        use_gpu=t.scaling.use_gpu, cpus_per_worker=t.scaling.cpus_per_worker,
        gpus_per_worker=t.scaling.gpus_per_worker if t.scaling.use_gpu else 0.0,
        resources_per_worker=dict(t.scaling.resources_per_worker),
        max_failures=t.scaling.max_failures,
        checkpointing=CheckpointParams(**_dump(t.checkpointing)),
        config=dict(t.config))


def _train_resources(p: TrainParams, parallel: int = 1) -> Resources:
    return Resources(cpus=p.num_workers * p.cpus_per_worker * parallel,
                     gpus=p.num_workers * p.gpus_per_worker * parallel,
                     workers=p.num_workers * parallel)


def train_stage(spec: Spec) -> TrainStage:
    p = train_params(spec)
    return TrainStage(id="train", depends_on=["data"], train=p, resources=_train_resources(p))


def tune_stage(spec: Spec) -> TuneStage:
    assert spec.tune is not None
    t = spec.tune
    p = train_params(spec)
    space = []
    for name in sorted(t.search_space):
        kind, args = t.search_space[name].kind_and_args()
        space.append(SearchParam.model_validate({"name": name, "distribution": kind,
                                                  "args": args}))
    return TuneStage(
        id="tune", depends_on=["data"], train=p, metric=t.metric, mode=t.mode,
        num_samples=t.num_samples, max_concurrent_trials=t.max_concurrent_trials,
        time_budget_s=t.time_budget, scheduler=SchedulerParams(**_dump(t.scheduler)),
        search_space=space,
        seed=t.seed,
        resources=_train_resources(p, min(t.max_concurrent_trials, t.num_samples)))


def evaluate_stage(spec: Spec, upstream: str) -> EvaluateStage:
    ev = spec.evaluate
    gates = [] if ev is None else [
        GateParams(metric=g.metric, min=g.min, max=g.max, vs=g.vs,
                   max_regression=g.max_regression, higher_is_better=g.higher_is_better)
        for g in ev.gates]
    metrics = sorted({*([] if ev is None else ev.metrics), *(g.metric for g in gates)})
    # order of metrics and gates means nothing: it must not change the stage's hash
    gates.sort(key=lambda g: canonical_json(g.model_dump(mode="json")))
    return EvaluateStage(id="evaluate", depends_on=[upstream, "data"], metrics=metrics,
                         gates=gates, resources=Resources(cpus=1, workers=1))


def register_stage(spec: Spec, upstream: str) -> RegisterStage:
    assert spec.register is not None
    r = spec.register
    return RegisterStage(id="register", depends_on=[upstream], model=r.model, alias=r.alias,
                         tags=dict(r.tags), resources=Resources(cpus=0, workers=0))


def monitor_stage(spec: Spec, upstream: list[str]) -> MonitorStage:
    all_features = list(spec.data.contract.features)
    monitors = []
    for m in spec.monitors:
        if m.kind == "quality":
            monitors.append(quality_params(spec, m))
            continue
        assert m.detector is not None
        default_backend = BACKENDS.get(m.detector, ("numpy",) if m.detector in DRIFT_DETECTORS
                                       else ("sklearn",))[0]
        monitors.append(MonitorParams(
            name=m.name, detector=m.detector,
            features=sorted(all_features if m.features == "all" else m.features),
            window=m.window, window_duration_s=m.window_duration,
            min_window=1 if m.online else MIN_WINDOW[m.detector], p_val=m.p_val,
            correction=m.correction, online=m.online, ert=m.ert,
            n_bootstraps=m.bootstraps if m.online else None,
            backend=m.backend or default_backend, reference_size=m.reference_size,
            threshold=m.threshold, max_outlier_rate=m.max_outlier_rate,
            preprocess=_dump(m.preprocess), on_drift=sorted(m.on_drift),
            on_outlier=sorted(m.on_outlier),
            alert=None if m.alert is None else AlertParams(**m.alert.model_dump(mode="json")),
            retrain=None if m.retrain is None else RetrainParams(**_dump(m.retrain))))
    return MonitorStage(id="monitor", depends_on=upstream, monitors=monitors,
                        resources=Resources(cpus=0.5, workers=1))


def observed(spec: Spec) -> bool:
    """Whether the application has a Monitor deployment: the monitors' windows and
    quality, and the prediction log, all live there (off the request path)."""
    return bool(spec.monitors) or (spec.serve is not None and spec.serve.logging is not None)


CLASS_METRICS = ("auc", "accuracy", "f1", "precision", "recall", "logloss")
NUMBER_METRICS = ("rmse", "mae", "r2")


def quality_params(spec: Spec, m: MonitorSpec) -> MonitorParams:
    """A quality monitor: its metrics default to the evaluation's (those that fit the
    label), else auc and accuracy for classes, rmse for numbers."""
    regression = spec.data.contract.label_type == "float"
    fits = NUMBER_METRICS if regression else CLASS_METRICS
    evaluated = [] if spec.evaluate is None else [
        *spec.evaluate.metrics, *(g.metric for g in spec.evaluate.gates)]
    metrics = list(m.metrics) or [x for x in dict.fromkeys(evaluated) if x in fits] or \
        (["rmse"] if regression else ["auc", "accuracy"])
    slices = [SliceParams(feature=s) if isinstance(s, str)
              else SliceParams(feature=s.feature, bins=list(s.bins)) for s in m.slices]
    return MonitorParams(
        name=m.name, kind="quality", detector="quality", features=[], window=m.window,
        window_duration_s=m.window_duration, min_window=1, p_val=m.p_val,
        correction=m.correction, online=False, ert=m.ert, n_bootstraps=None,
        backend="numpy", reference_size=m.reference_size, threshold=None,
        max_outlier_rate=m.max_outlier_rate, preprocess=_dump(m.preprocess), on_drift=[],
        on_outlier=[],
        alert=None if m.alert is None else AlertParams(**m.alert.model_dump(mode="json")),
        retrain=None if m.retrain is None else RetrainParams(**_dump(m.retrain)),
        quality=QualityParams(metrics=metrics, slices=slices, min=dict(m.min),
                              max=dict(m.max), on_drop=sorted(m.on_drop),
                              estimate=m.estimate, horizon_s=m.horizon))


def versions(spec: Spec) -> dict[str, str]:
    """Version slot -> registry alias. With a rollout the stable slot serves the champion
    and the candidate slot the newly registered alias; without one, only the candidate."""
    assert spec.register is not None
    if spec.serve is not None and spec.serve.rollout is not None:
        return {"stable": "champion", "candidate": spec.register.alias}
    return {"candidate": spec.register.alias}


def deploy_stage(spec: Spec, upstream: list[str]) -> DeployStage:
    from .serve_config import router_replicas, topology

    assert spec.serve is not None and spec.register is not None
    s = spec.serve
    sizing = router_replicas(spec)
    scaling = sizing.get("autoscaling_config")
    routers = scaling["min_replicas"] if scaling else sizing["num_replicas"]
    routers_peak = scaling["max_replicas"] if scaling else routers
    monitor = MONITOR_CPUS if observed(spec) else 0.0
    monitors = 1 if observed(spec) else 0
    if topology(spec) == "fused":  # each Router replica holds every version
        cpus, gpus = s.resources.num_cpus * routers_peak, 0.0
        workers = routers_peak + monitors
    else:
        per_version = s.replicas or (s.autoscaling.max_replicas if s.autoscaling else 1)
        n = per_version * len(versions(spec))
        cpus = s.resources.num_cpus * n + ROUTER_CPUS * routers_peak
        gpus, workers = s.resources.num_gpus * n, n + routers_peak + monitors
    log = s.logging
    return DeployStage(
        id="deploy", depends_on=upstream, application=spec.name, route_prefix=s.route_prefix,
        model=spec.register.model, topology=topology(spec), router_replicas=routers,
        logging=None if log is None else LoggingParams(
            sample=log.sample, redact=sorted(log.redact), redaction=log.redaction,
            retention_s=log.retention, flush_rows=log.flush_rows,
            flush_interval_s=log.flush_interval, max_buffered=log.max_buffered),
        feedback_token=s.feedback.token,
        replicas=s.replicas, autoscaling=_dump(s.autoscaling),
        replica_resources=_dump(s.resources), batching=_dump(s.batching), shadow=_dump(s.shadow),
        resources=Resources(cpus=cpus + monitor, gpus=gpus, workers=workers))


def rollout_stage(spec: Spec, approved_digest: str | None = None) -> RolloutStage:
    assert spec.serve is not None and spec.serve.rollout is not None
    r = spec.serve.rollout
    steps = [RolloutStepParams(weight=s.weight, hold_s=s.hold,
                               max_hold_s=s.max_hold if s.max_hold is not None else 3 * s.hold,
                               gates=[
        RolloutGateParams(**g) for g in sorted((g.model_dump(mode="json") for g in s.gates),
                                               key=canonical_json)]) for s in r.steps]
    shadow = spec.serve.shadow
    return RolloutStage(id="rollout", depends_on=["deploy"], strategy=r.strategy, steps=steps,
                        gate_interval_s=r.gate_interval, on_failure=r.on_failure,
                        sticky_key=r.sticky_key, approved_digest=approved_digest,
                        resources=Resources(cpus=0, workers=1),
                        preview_max_queued=shadow.max_queued if shadow is not None
                        else Shadow.model_fields["max_queued"].default,
                        confidence=r.confidence, on_inconclusive=r.on_inconclusive,
                        traffic=r.traffic)


def retire_stage(spec: Spec, upstream: list[str]) -> RetireStage:
    assert spec.retirement is not None
    r = spec.retirement
    return RetireStage(id="retire", depends_on=upstream,
                       after=r.after.isoformat() if r.after else None, drain_s=r.drain,
                       archive=r.archive, replaced_by=r.replaced_by,
                       resources=Resources(cpus=0, workers=0))

