"""Cross-field rules of the spec, one small registered function each. Each yields
findings at the exact key path it is about (pydantic model validators can only point
at the model)."""

from __future__ import annotations

from collections.abc import Iterator

from .model import Spec
from .monitor import DRIFT_DETECTORS
from .problems import SpecFinding, check, did_you_mean
from .serve import QUALITY_GATES


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
