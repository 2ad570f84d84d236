"""Cross-field rules of the spec, one small registered function each. Each yields
findings at the exact key path it is about (pydantic model validators can only point
at the model)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .base import format_duration
from .model import Spec
from .monitor import DRIFT_DETECTORS
from .problems import SpecFinding, check, did_you_mean
from .serve import QUALITY_GATES
from .slo import LIVE_METRIC_EXAMPLES, SLI_FIELDS

# Ray's built-in resources, named in resources_per_worker, would reach Ray past the fields
# the plan, the price and the GPU cap read (and override them): each has its own field.
_ACCELERATOR = "remove it: lifecycle schedules GPUs only (train.scaling.use_gpu)"
_RAY_BUILT_IN: dict[str, tuple[str, str]] = {
    "cpu": ("CPU", "set train.scaling.cpus_per_worker"),
    "gpu": ("GPU", "ask for GPUs with train.scaling.use_gpu and gpus_per_worker, which the "
            "plan and the policy's GPU cap count"),
    "memory": ("memory", "remove it: lifecycle does not reserve memory per training worker"),
    "objectstorememory": ("object_store_memory", "remove it: lifecycle does not reserve "
                          "object store memory"),
    "tpu": ("TPU", _ACCELERATOR),
    "hpu": ("HPU", _ACCELERATOR),
    "npu": ("NPU", _ACCELERATOR),
    "neuroncore": ("neuron_cores", _ACCELERATOR),
}


def ray_built_in(resource: str) -> str | None:
    """The built-in Ray resource a name means in any case or spelling ('GPU', 'gpus',
    'num_gpus', 'Neuron-Cores'), or None for a custom resource."""
    name = re.sub(r"[^a-z0-9]", "", resource.casefold()).removeprefix("num")
    for candidate in (name, name.removesuffix("s")):
        if candidate in _RAY_BUILT_IN:
            return _RAY_BUILT_IN[candidate][0]
    return None


@check
def custom_resources_only(spec: Spec) -> Iterator[SpecFinding]:
    if spec.train is None:
        return
    hints = dict(_RAY_BUILT_IN.values())
    for name in spec.train.scaling.resources_per_worker:
        built_in = ray_built_in(name)
        if built_in is not None:
            yield SpecFinding(("train", "scaling", "resources_per_worker", name), "schema.rule",
                              f"'{name}' is Ray's built-in {built_in} resource; "
                              "resources_per_worker takes custom resources only",
                              hints[built_in])


@check
def tune_needs_train(spec: Spec) -> Iterator[SpecFinding]:
    if spec.tune is not None and spec.train is None:
        yield SpecFinding(("tune",), "schema.rule", "tune needs a train section",
                          "add train.entrypoint: trials run the training function")


@check
def serve_needs_register(spec: Spec) -> Iterator[SpecFinding]:
    if spec.serve is not None and spec.register is None:
        yield SpecFinding(("serve",), "schema.rule", "serve needs a register section",
                          "add register.model: Serve loads registered model versions")


def _names_used_twice(section: str, what: str, names: list[str]) -> Iterator[SpecFinding]:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            yield SpecFinding((section, i, "name"), "schema.rule",
                              f"{what} name '{name}' is used twice", "rename one of them")
        seen.add(name)


@check
def monitor_names_unique(spec: Spec) -> Iterator[SpecFinding]:
    yield from _names_used_twice("monitors", "monitor", [m.name for m in spec.monitors])


@check
def monitor_features_in_contract(spec: Spec) -> Iterator[SpecFinding]:
    features = spec.data.contract.features
    for i, m in enumerate(spec.monitors):
        if m.features == "all":
            continue
        for j, name in enumerate(m.features):
            if name not in features:
                near = did_you_mean(name, features)
                yield SpecFinding(
                    ("monitors", i, "features", j), "schema.unknown-feature",
                    f"monitor '{m.name}' watches '{name}', which is not a feature of "
                    "data.contract", f"did you mean '{near}'?" if near else
                    f"contract features: {', '.join(features)}")


@check
def monitor_detector_fits_types(spec: Spec) -> Iterator[SpecFinding]:
    features = spec.data.contract.features
    for i, m in enumerate(spec.monitors):
        names = list(features) if m.features == "all" else [f for f in m.features
                                                            if f in features]
        if m.detector == "chisquare":
            bad = [f for f in names if features[f].type not in ("category", "bool", "int")]
            if bad:
                yield SpecFinding(("monitors", i, "detector"), "schema.rule",
                                  f"chisquare compares categorical counts; {', '.join(bad)} "
                                  "are continuous", "use tabular for mixed features, or ks")
        elif m.detector == "fet":
            bad = [f for f in names if features[f].type != "bool"]
            if bad:
                yield SpecFinding(("monitors", i, "detector"), "schema.rule",
                                  f"fet needs binary (bool) features; {', '.join(bad)} are "
                                  "not", "use chisquare or tabular")


@check
def rollout_gate_monitors_exist(spec: Spec) -> Iterator[SpecFinding]:
    if spec.serve is None or spec.serve.rollout is None:
        return
    names = [m.name for m in spec.monitors]
    for i, step in enumerate(spec.serve.rollout.steps):
        for j, gate in enumerate(step.gates):
            if gate.monitor is None:
                continue
            if gate.monitor not in names:
                near = did_you_mean(gate.monitor, names)
                yield SpecFinding(("serve", "rollout", "steps", i, "gates", j, "monitor"),
                                  "schema.unknown-monitor", f"no monitor named "
                                  f"'{gate.monitor}'", f"did you mean '{near}'?" if near else
                                  f"monitors: {', '.join(names) or '(none defined)'}")
            else:
                mon = spec.monitors[names.index(gate.monitor)]
                where = ("serve", "rollout", "steps", i, "gates", j, "metric")
                if mon.kind == "quality":
                    if gate.metric not in QUALITY_GATES:
                        yield SpecFinding(where, "schema.rule", f"metric '{gate.metric}' "
                                          f"does not read quality monitor '{mon.name}'",
                                          "use live_<metric> or estimated_auc / "
                                          "estimated_accuracy for a quality monitor")
                    elif gate.metric.startswith("estimated_") and not mon.estimate:
                        yield SpecFinding(where, "schema.rule", f"'{gate.metric}' needs "
                                          f"monitor '{mon.name}' to estimate",
                                          f"set estimate: true on monitor '{mon.name}'")
                    continue
                if gate.metric in QUALITY_GATES:
                    yield SpecFinding(where, "schema.rule", f"metric '{gate.metric}' reads a "
                                      f"quality monitor; '{mon.name}' is a detector",
                                      "name a monitor of kind: quality")
                    continue
                is_drift = mon.detector in DRIFT_DETECTORS
                if (gate.metric == "drift") != is_drift:
                    yield SpecFinding(
                        where, "schema.rule", f"metric '{gate.metric}' does not match monitor "
                        f"'{mon.name}' (detector {mon.detector})",
                        "use drift for drift detectors, outlier_rate for outlier detectors")


@check
def eval_data_for_gates(spec: Spec) -> Iterator[SpecFinding]:
    if spec.evaluate is not None and spec.evaluate.gates and spec.data.eval is None:
        yield SpecFinding(("evaluate", "gates"), "schema.rule",
                          "gates need evaluation data", "add data.eval.path")


@check
def recent_data_needs_a_time_column(spec: Spec) -> Iterator[SpecFinding]:
    if spec.data.time_column is not None:
        return
    for i, m in enumerate(spec.monitors):
        if m.retrain is not None and m.retrain.recent_data is not None:
            yield SpecFinding(("monitors", i, "retrain", "recent_data"), "schema.rule",
                              "recent_data needs to know each row's time",
                              "set data.time_column to the training data's event-time "
                              "column, or remove recent_data to retrain on all the data")


# --- slos ---------------------------------------------------------------------------

@check
def slos_need_serve(spec: Spec) -> Iterator[SpecFinding]:
    if spec.slos and spec.serve is None:
        yield SpecFinding(("slos",), "schema.rule", "SLOs measure a served model; this spec "
                          "has no serve section", "add serve, or remove slos")


@check
def slo_names_unique(spec: Spec) -> Iterator[SpecFinding]:
    yield from _names_used_twice("slos", "SLO", [s.name for s in spec.slos])


@check
def slo_fields_fit_sli(spec: Spec) -> Iterator[SpecFinding]:
    for i, slo in enumerate(spec.slos):
        own = SLI_FIELDS[slo.sli]
        for field, slis in _FIELD_SLI.items():
            if field not in own and getattr(slo, field) is not None:
                yield SpecFinding(("slos", i, field), "schema.rule",
                                  f"{field} applies to {slis} SLOs, not {slo.sli}",
                                  f"remove {field}, or set sli: {slis}")
        required = {"latency": ("threshold_ms",), "quality": ("metric",),
                    "freshness": ("of", "max_age")}.get(slo.sli, ())
        for field in required:
            if getattr(slo, field) is None:
                yield SpecFinding(("slos", i), "schema.missing-key",
                                  f"a {slo.sli} SLO needs {field}", f"add '{field}:' to SLO "
                                  f"'{slo.name}'")
        if slo.sli == "quality" and (slo.min is None) == (slo.max is None):
            yield SpecFinding(("slos", i), "schema.rule", "a quality SLO needs exactly one of "
                              "min (a score such as live_auc) or max (a loss)",
                              "e.g. min: 0.85 for live_auc")


_FIELD_SLI = {field: sli for sli, fields in SLI_FIELDS.items() for field in fields}


@check
def quality_slo_reads_a_live_metric(spec: Spec) -> Iterator[SpecFinding]:
    for i, slo in enumerate(spec.slos):
        if slo.sli == "quality" and slo.metric is not None \
                and not _LIVE_METRIC.match(slo.metric):
            near = did_you_mean(f"live_{slo.metric}", LIVE_METRIC_EXAMPLES)
            yield SpecFinding(("slos", i, "metric"), "schema.rule",
                              f"'{slo.metric}' is not a live metric: quality SLOs read a "
                              "metric measured from ground truth on live traffic",
                              f"did you mean '{near}'?" if near else
                              "name it live_<metric>, e.g. " + ", ".join(LIVE_METRIC_EXAMPLES))


_LIVE_METRIC = re.compile(r"^live_[a-z][a-z0-9_]*$")


@check
def burn_alerts_fit_the_slo(spec: Spec) -> Iterator[SpecFinding]:
    dur = format_duration
    for i, slo in enumerate(spec.slos):
        highest = 100.0 / (100.0 - slo.objective)  # every request bad: 1 / error budget
        seen: set[tuple[float, float]] = set()
        for j, alert in enumerate(slo.burn_alerts):
            at = ("slos", i, "burn_alerts", j)
            if alert.short_window >= alert.long_window:
                yield SpecFinding((*at, "short_window"), "schema.rule",
                                  f"short_window {dur(alert.short_window)} is not shorter "
                                  f"than long_window {dur(alert.long_window)}",
                                  "the SRE workbook uses a twelfth of the long window, e.g. "
                                  "1h and 5m")
            if alert.long_window > slo.window:
                yield SpecFinding((*at, "long_window"), "schema.rule",
                                  f"long_window {dur(alert.long_window)} is longer than the "
                                  f"SLO window {dur(slo.window)}",
                                  "shorten the alert's window or lengthen the SLO's")
            if alert.factor >= highest:
                yield SpecFinding((*at, "factor"), "schema.rule",
                                  f"factor {alert.factor:g} can never fire for objective "
                                  f"{slo.objective:g}: the highest burn rate is "
                                  f"{highest:.4g} (every request bad)",
                                  f"lower the factor below {highest:.4g}, or raise the "
                                  "objective")
            windows = (alert.long_window, alert.short_window)
            if windows in seen:
                yield SpecFinding(at, "schema.rule", "two burn alerts of SLO "
                                  f"'{slo.name}' use the same windows",
                                  "keep one (the lower factor fires first)")
            seen.add(windows)


@check
def slo_actions_need_a_rollout(spec: Spec) -> Iterator[SpecFinding]:
    if spec.serve is None or spec.serve.rollout is not None:
        return
    for i, slo in enumerate(spec.slos):
        for k, action in enumerate(slo.on_burn):
            if action in ("rollback", "block_promotion"):
                yield SpecFinding(("slos", i, "on_burn", k), "schema.rule",
                                  f"{action} acts on a rollout's candidate, and serve has no "
                                  "rollout", "add serve.rollout, or keep only alert")

@check
def quality_monitors_read_the_contract(spec: Spec) -> Iterator[SpecFinding]:
    """Slices name contract features (bins only for numeric ones); metrics need labels of
    a fitting kind; a quality monitor needs a served model."""
    features = spec.data.contract.features
    for i, m in enumerate(spec.monitors):
        if m.kind != "quality":
            continue
        if spec.serve is None:
            yield SpecFinding(("monitors", i, "kind"), "schema.rule",
                              f"quality monitor '{m.name}' reads labels of served "
                              "predictions", "add a serve section, or remove the monitor")
        for j, s in enumerate(m.slices):
            name = s if isinstance(s, str) else s.feature
            if name not in features:
                near = did_you_mean(name, features)
                yield SpecFinding(("monitors", i, "slices", j), "schema.unknown-feature",
                                  f"slice '{name}' is not a feature of data.contract",
                                  f"did you mean '{near}'?" if near else
                                  f"contract features: {', '.join(features)}")
            elif not isinstance(s, str) and features[name].type not in ("float", "int"):
                yield SpecFinding(("monitors", i, "slices", j, "bins"), "schema.rule",
                                  f"bins slice numeric features; '{name}' is "
                                  f"{features[name].type}", f"write just '{name}' to slice by "
                                  "its values")
        regression = spec.data.contract.label_type == "float"
        for metric in m.metrics:
            if regression != (metric in ("rmse", "mae", "r2")):
                kind = "a number" if regression else "a class"
                yield SpecFinding(("monitors", i, "metrics"), "schema.rule",
                                  f"metric '{metric}' does not fit a label that is {kind}",
                                  "rmse, mae, r2 for numeric labels; auc, accuracy, f1, "
                                  "precision, recall, logloss for classes")
        if m.estimate and regression:
            yield SpecFinding(("monitors", i, "estimate"), "schema.rule",
                              "the estimate needs a binary classifier's probabilities",
                              "remove estimate for a regression model")


@check
def logging_redacts_contract_features(spec: Spec) -> Iterator[SpecFinding]:
    if spec.serve is None or spec.serve.logging is None:
        return
    features = spec.data.contract.features
    for j, name in enumerate(spec.serve.logging.redact):
        if name not in features:
            near = did_you_mean(name, features)
            yield SpecFinding(("serve", "logging", "redact", j), "schema.unknown-feature",
                              f"'{name}' is not a feature of data.contract",
                              f"did you mean '{near}'?" if near else
                              f"contract features: {', '.join(features)}")
