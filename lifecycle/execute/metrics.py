"""Evaluation metrics on scores and labels, and gate checks. Pure numpy/sklearn."""

from __future__ import annotations

from typing import Any

import numpy as np


def compute(name: str, labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn import metrics as m

    y = labels.astype(float)
    s = scores.astype(float)
    pred = (s >= 0.5).astype(int)
    if name == "auc":
        return float(m.roc_auc_score(y, s)) if len(np.unique(y)) > 1 else 0.5
    if name == "accuracy":
        return float(m.accuracy_score(y, pred))
    if name == "f1":
        return float(m.f1_score(y, pred, zero_division=0))
    if name == "precision":
        return float(m.precision_score(y, pred, zero_division=0))
    if name == "recall":
        return float(m.recall_score(y, pred, zero_division=0))
    if name == "logloss":
        return float(m.log_loss(y, np.clip(s, 1e-7, 1 - 1e-7), labels=[0, 1]))
    if name == "rmse":
        return float(np.sqrt(m.mean_squared_error(y, s)))
    if name == "mae":
        return float(m.mean_absolute_error(y, s))
    if name == "r2":
        return float(m.r2_score(y, s))
    raise ValueError(f"unknown metric {name}")


def check_gate(gate: dict[str, Any], value: float, champion: float | None) -> dict[str, Any]:
    """{'gate', 'value', 'bound', 'passed'}; a champion gate without a champion passes."""
    metric = gate["metric"]
    if gate.get("vs") == "champion":
        if champion is None:
            return {"gate": f"{metric} vs champion", "value": value, "bound": None,
                    "passed": True, "note": "no champion yet"}
        reg = float(gate.get("max_regression") or 0.0)
        if gate.get("higher_is_better", True):
            bound = champion - reg
            return {"gate": f"{metric} >= champion - {reg:g}", "value": value, "bound": bound,
                    "champion": champion, "passed": value >= bound}
        bound = champion + reg
        return {"gate": f"{metric} <= champion + {reg:g}", "value": value, "bound": bound,
                "champion": champion, "passed": value <= bound}
    if gate.get("min") is not None and value < float(gate["min"]):
        return {"gate": f"{metric} >= {gate['min']:g}", "value": value, "bound": gate["min"],
                "passed": False}
    if gate.get("max") is not None and value > float(gate["max"]):
        return {"gate": f"{metric} <= {gate['max']:g}", "value": value, "bound": gate["max"],
                "passed": False}
    limit = gate.get("min") if gate.get("min") is not None else gate.get("max")
    return {"gate": f"{metric} {'>=' if gate.get('min') is not None else '<='} {limit:g}",
            "value": value, "bound": limit, "passed": True}
