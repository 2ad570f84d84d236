"""Cross-field rules of the spec, one small registered function each. Each yields
findings at the exact key path it is about (pydantic model validators can only point
at the model)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .model import Spec
from .monitor import DRIFT_DETECTORS
from .problems import SpecFinding, check, did_you_mean

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


@check
def monitor_names_unique(spec: Spec) -> Iterator[SpecFinding]:
    seen: set[str] = set()
    for i, m in enumerate(spec.monitors):
        if m.name in seen:
            yield SpecFinding(("monitors", i, "name"), "schema.rule",
                              f"monitor name '{m.name}' is used twice", "rename one of them")
        seen.add(m.name)


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
                is_drift = mon.detector in DRIFT_DETECTORS
                if (gate.metric == "drift") != is_drift:
                    yield SpecFinding(
                        ("serve", "rollout", "steps", i, "gates", j, "metric"),
                        "schema.rule", f"metric '{gate.metric}' does not match monitor "
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
