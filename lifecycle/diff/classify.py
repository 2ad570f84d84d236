"""What a change to one key of a resolved spec does to risk.

A table from key patterns (list items and user-named map keys written `*`) to a
classifier. Bounds follow one convention: removing a bound loosens, setting one
tightens; moving it towards letting more through loosens. Keys not in the table are
neutral (descriptions, labels, schedules) unless a policy rule reads them: then they are
flagged for review by compare.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..spec.base import format_duration
from .model import Direction

Kind = Literal["added", "removed", "changed"]
Verdict = tuple[Direction, str]
Classifier = Callable[[Kind, Any, Any], Verdict]


def _num(value: Any) -> float | None:
    """Numbers, and ISO dates (waiver expiry) as day numbers."""
    if isinstance(value, str):
        try:
            return float(dt.date.fromisoformat(value).toordinal())
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def bound(what: str, loosen_when: Literal["lower", "higher"], up: str = "raised",
          down: str = "lowered", note: str = "") -> Classifier:
    """A threshold: moving it `loosen_when` lets more through; removing it loosens."""

    def classify(kind: Kind, old: Any, new: Any) -> Verdict:
        if kind == "added":
            return "tightens", f"{what} set"
        if kind == "removed":
            return "loosens", f"{what} removed"
        a, b = _num(old), _num(new)
        if a is None or b is None:
            return "review", f"{what} changed"
        went = "higher" if b > a else "lower"
        word = up if went == "higher" else down
        return ("loosens" if went == loosen_when else "tightens"), f"{what} {word}{note}"

    return classify


def budget(what: str) -> Classifier:
    """A resource or search budget: more of it (or no limit) loosens."""
    inner = bound(what, "higher")

    def classify(kind: Kind, old: Any, new: Any) -> Verdict:
        if kind == "added":  # a budget that was unlimited now has a limit
            return "tightens", f"{what} limited"
        if kind == "removed":
            return "loosens", f"{what} unlimited"
        return inner(kind, old, new)

    return classify


def _presence(what: str, when_added: Direction, when_removed: Direction) -> Classifier:
    def classify(kind: Kind, old: Any, new: Any) -> Verdict:
        if kind == "added":
            return when_added, f"{what} added"
        if kind == "removed":
            return when_removed, f"{what} removed"
        return "review", f"{what} changed"

    return classify


def safeguard(what: str) -> Classifier:
    """Something that protects (a gate, a monitor, an approval): removing it loosens."""
    return _presence(what, "tightens", "loosens")


def exception(what: str) -> Classifier:
    """Something that relaxes (a waiver, an allowed category): adding it loosens."""
    return _presence(what, "loosens", "tightens")


def ranked(what: str, order: list[str]) -> Classifier:
    """An enumeration from loosest to strictest."""

    def classify(kind: Kind, old: Any, new: Any) -> Verdict:
        if old in order and new in order:
            looser = order.index(new) < order.index(old)
            return ("loosens" if looser else "tightens"), f"{what} {old} → {new}"
        return safeguard(what)(kind, old, new)

    return classify


def flag(what: str, direction: Direction = "review") -> Classifier:
    def classify(kind: Kind, old: Any, new: Any) -> Verdict:
        return direction, f"{what} {kind}"

    return classify


def _switch(what: str, protective: bool) -> Classifier:
    """A boolean that protects when true (protective) or costs when true."""

    def classify(kind: Kind, old: Any, new: Any) -> Verdict:
        on = bool(new) and kind != "removed"
        if protective:
            return ("tightens" if on else "loosens"), f"{what} {'on' if on else 'off'}"
        return ("loosens" if on else "tightens"), f"{what} {'on' if on else 'off'}"

    return classify


def _features_watched(kind: Kind, old: Any, new: Any) -> Verdict:
    if old == "all" and new != "all":
        return "loosens", "monitor no longer watches every feature"
    if new == "all" and old != "all":
        return "tightens", "monitor now watches every feature"
    return safeguard("watched features")(kind, old, new)


def _exposure(kind: Kind, old: Any, new: Any) -> Verdict:
    """serve.host: binding beyond loopback exposes the application to other machines."""
    import ipaddress

    def exposed(host: Any) -> bool:
        try:
            return host is not None and not ipaddress.ip_address(str(host)).is_loopback
        except ValueError:
            return True

    a, b = exposed(old if kind != "added" else "127.0.0.1"), exposed(
        new if kind != "removed" else "127.0.0.1")
    if a == b:
        return "review", f"serving address {old} → {new}"
    return ("loosens", f"serving exposed beyond the node ({new})") if b else (
        "tightens", f"serving back on loopback only ({new})")


TABLE: dict[str, Classifier] = {
    "risk_tier": ranked("risk tier", ["low", "medium", "high"]),
    "policy": flag("policy bundle named", "review"),
    # evaluate
    "evaluate": safeguard("evaluation"),
    "evaluate.gates[*]": safeguard("evaluation gate"),
    "evaluate.gates[*].min": bound("gate minimum", "lower"),
    "evaluate.gates[*].max": bound("gate maximum", "higher"),
    "evaluate.gates[*].max_regression": bound("allowed regression vs champion", "higher"),
    "evaluate.gates[*].vs": safeguard("comparison with the champion"),
    "evaluate.gates[*].higher_is_better": flag("gate direction"),
    # serving and rollout
    "serve": flag("serving"),
    "serve.host": _exposure,
    "serve.rollout": safeguard("progressive rollout"),
    "serve.rollout.strategy": flag("rollout strategy"),
    "serve.rollout.steps[*]": safeguard("rollout step"),
    "serve.rollout.steps[*].weight": bound("canary step", "higher", up="widened",
                                           down="narrowed"),
    "serve.rollout.steps[*].hold": bound("step hold time", "lower", up="lengthened",
                                         down="shortened"),
    "serve.rollout.steps[*].gates[*]": safeguard("rollout gate"),
    "serve.rollout.steps[*].gates[*].max": bound("rollout gate maximum", "higher"),
    "serve.rollout.steps[*].gates[*].min": bound("rollout gate minimum", "lower"),
    "serve.rollout.steps[*].gates[*].vs": safeguard("comparison with the stable version"),
    "serve.rollout.steps[*].gates[*].max_increase": bound(
        "allowed error-rate increase vs stable", "higher"),
    "serve.rollout.steps[*].gates[*].max_ratio": bound("allowed latency ratio vs stable",
                                                       "higher"),
    "serve.rollout.steps[*].max_hold": flag("longest step extension"),
    "serve.rollout.confidence": bound("rollout gates' confidence", "lower"),
    "serve.rollout.on_inconclusive": ranked("action on inconclusive gates",
                                            ["extend", "pause", "rollback"]),
    "serve.rollout.traffic": flag("expected traffic (judging times)", "neutral"),
    "serve.router.replicas": bound("Router replicas", "lower"),
    "serve.router.autoscaling": flag("Router autoscaling"),
    "serve.topology": flag("serving topology"),
    "serve.rollout.gate_interval": bound("gate check interval", "higher",
                                         up="lengthened", down="shortened"),
    "serve.rollout.on_failure": ranked("action on a failed gate",
                                       ["alert", "pause", "rollback"]),
    "serve.rollout.sticky_key": flag("A/B sticky key"),
    "serve.shadow": safeguard("shadow traffic"),
    "serve.shadow.fraction": bound("shadow fraction", "lower"),
    "serve.resources.num_gpus": budget("GPUs per serving replica"),
    # training and tuning
    "train.entrypoint": flag("training entrypoint"),
    "train.scaling.use_gpu": _switch("GPU training", protective=False),
    "train.scaling.gpus_per_worker": budget("GPUs per training worker"),
    "tune": flag("hyperparameter tuning"),
    "tune.num_samples": budget("tuning budget (trials)"),
    "tune.time_budget": budget("tuning time budget"),
    "tune.max_concurrent_trials": budget("concurrent trials"),
    # data and its contract
    "data.train": flag("training data source"),
    "data.train.path": flag("training data source"),
    "data.eval": safeguard("evaluation data"),
    "data.eval.path": flag("evaluation data source"),
    "data.reference": flag("reference data source"),
    "data.reference.path": flag("reference data source"),
    "data.time_column": flag("event-time column (retraining window)"),
    "data.contract.label": flag("label column"),
    "data.contract.min_rows": bound("minimum rows", "lower"),
    "data.contract.features.*": safeguard("contract feature"),
    "data.contract.features.*.type": flag("feature type"),
    "data.contract.features.*.min": bound("feature minimum", "lower"),
    "data.contract.features.*.max": bound("feature maximum", "higher"),
    "data.contract.features.*.max_null_fraction": bound("allowed null fraction", "higher"),
    "data.contract.features.*.categories[*]": exception("allowed category"),
    # monitors
    "monitors[*]": safeguard("monitor"),
    "monitors[*].detector": flag("monitor detector"),
    "monitors[*].features": _features_watched,
    "monitors[*].features[*]": safeguard("watched feature"),
    "monitors[*].p_val": bound("drift p-value threshold", "lower",
                               note=" (a window is flagged when p < p_val)"),
    "monitors[*].max_outlier_rate": bound("allowed outlier rate", "higher"),
    "monitors[*].online": flag("online (per-row) detection"),
    "monitors[*].ert": bound("online expected run time between false alarms", "higher",
                             note=" (a larger ert alarms less often, and later)"),
    "monitors[*].n_bootstraps": flag("online threshold calibration"),
    "monitors[*].threshold": bound("outlier score threshold", "higher"),
    "monitors[*].on_drift[*]": safeguard("action on drift"),
    "monitors[*].on_outlier[*]": safeguard("action on outliers"),
    "monitors[*].retrain.cooldown": bound("retrain cooldown", "lower", up="lengthened",
                                          down="shortened"),
    "monitors[*].retrain.max_per_week": bound("retrains per week", "higher"),
    "monitors[*].retrain.recent_data": flag("retraining data window"),
    # slos (the operational contract; docs/slo.md)
    "slos[*]": safeguard("SLO"),
    "slos[*].sli": flag("SLI measured"),
    "slos[*].objective": bound("SLO objective", "lower"),
    "slos[*].window": bound("SLO window", "lower", up="lengthened", down="shortened",
                            note=" (old errors are forgotten sooner)"),
    "slos[*].threshold_ms": bound("latency SLO threshold", "higher"),
    "slos[*].metric": flag("quality SLO metric"),
    "slos[*].min": bound("quality SLO minimum", "lower"),
    "slos[*].max": bound("quality SLO maximum", "higher"),
    "slos[*].of": flag("freshness SLO subject"),
    "slos[*].max_age": bound("freshness SLO max age", "higher", up="lengthened",
                             down="shortened"),
    "slos[*].burn_alerts[*]": safeguard("burn-rate alert"),
    "slos[*].burn_alerts[*].factor": bound("burn-rate alert factor", "higher",
                                           note=" (a higher factor fires later)"),
    "slos[*].burn_alerts[*].severity": ranked("burn-rate alert severity", ["ticket", "page"]),
    "slos[*].on_burn[*]": safeguard("action on burn"),
    # governance
    "approvals[*]": safeguard("approval"),
    "waivers[*]": exception("waiver"),
    "waivers[*].expires": bound("waiver expiry", "higher", up="extended", down="shortened"),
    "register.model": flag("registered model name"),
    "register.alias": flag("registry alias"),
}


@dataclass(frozen=True)
class Shape:
    """How to compare the lists and maps of a spec: by item identity, as sets, or as
    maps whose keys are the user's names (written `*` in patterns)."""

    identity: dict[str, Callable[[dict[str, Any]], str]]
    sets: frozenset[str]
    named_maps: frozenset[str]


def _gate_id(g: dict[str, Any]) -> str:
    return str(g.get("metric")) + (f" vs {g['vs']}" if g.get("vs") else "")


def _serve_gate_id(g: dict[str, Any]) -> str:
    return str(g.get("metric")) + (f" of {g['monitor']}" if g.get("monitor") else "")


def _burn_alert_id(a: dict[str, Any]) -> str:
    def d(seconds: Any) -> str:
        return format_duration(float(seconds)) if isinstance(seconds, (int, float)) \
            else str(seconds)

    return f"{d(a.get('long_window'))}/{d(a.get('short_window'))}"


SHAPE = Shape(
    identity={
        "evaluate.gates": _gate_id,
        "serve.rollout.steps[*].gates": _serve_gate_id,
        "monitors": lambda m: str(m.get("name")),
        "approvals": lambda a: f"{a.get('role')}: {a.get('by')}",
        "waivers": lambda w: str(w.get("rule")),
        "slos": lambda s: str(s.get("name")),
        "slos[*].burn_alerts": _burn_alert_id,
    },
    sets=frozenset({"evaluate.metrics", "monitors[*].features", "monitors[*].on_drift",
                    "monitors[*].on_outlier", "data.contract.features.*.categories",
                    "slos[*].on_burn",
                    "data.train.columns", "data.eval.columns", "data.reference.columns"}),
    named_maps=frozenset({"data.contract.features", "tune.search_space", "train.config",
                          "labels", "register.tags", "train.scaling.resources_per_worker"}),
)


def classify(pattern: str, kind: Kind, old: Any, new: Any) -> Verdict | None:
    fn = TABLE.get(pattern)
    return None if fn is None else fn(kind, old, new)
