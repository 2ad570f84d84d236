"""One interface over alibi-detect's detectors: fit on the reference, save, verify, load,
and one result shape per window whatever the detector.

Kept to what alibi-detect 0.11.4 (Apache-2.0) also offers: the detector classes' plain
constructors, `predict`, `alibi_detect.saving.save_detector` / `load_detector`, and the
legacy `IForest` (`fit`, `infer_threshold`, `predict`).

Loading a saved detector can run code (NOTES.md: `load_detector` unpickles and evaluates
what its folder holds). So a folder is loaded only after every file's sha256 matches the
manifest written at fit time, and the feature-wise detectors (ks, cvm, chisquare, tabular,
fet) are not unpickled at all: they are rebuilt from `x_ref.npy` (allow_pickle=False) and
the recorded parameters. IForest cannot be saved without TensorFlow (alibi-detect's
legacy saver needs it): its reference sample and seed are saved and it is refitted on
load, which gives the same scores (sklearn's forest is deterministic for a seed)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .encode import Encoder

MANIFEST = "lifecycle-monitor.json"
FEATURE_WISE = ("ks", "cvm", "chisquare", "tabular", "fet")
PERMUTATIONS = 100
SEED = 0
OUTLIER_REFERENCE_PERCENTILE = 99.0  # default threshold: 1% of reference rows score above


@dataclass
class Fitted:
    params: dict[str, Any]  # the plan's MonitorParams
    encoder: Encoder
    detector: Any
    projection: np.ndarray | None = None  # reduce_dim: columns -> components
    reference: np.ndarray | None = None  # the encoded reference sample (before projection)

    @property
    def kind(self) -> str:
        return str(self.params["detector"])

    @property
    def is_drift_detector(self) -> bool:
        return self.kind != "iforest"

    def prepare(self, x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32, copy=False)
        return x if self.projection is None else (x @ self.projection).astype(np.float32)

    def detect(self, x: np.ndarray) -> dict[str, Any]:
        """One window -> is_drift / p_value / distance / per-feature p-values, or, for an
        outlier detector, the outlier rate and whether it breaks `max_outlier_rate`."""
        x = self.prepare(x)
        if not self.is_drift_detector:
            out = self.detector.predict(x)["data"]
            flags = np.asarray(out["is_outlier"], dtype=bool)
            rate = float(flags.mean()) if len(flags) else 0.0
            return {"kind": "outlier", "rows": int(len(x)), "outlier_rate": rate,
                    "is_outlier_window": rate > float(self.params["max_outlier_rate"]),
                    "mean_score": float(np.mean(out["instance_score"])) if len(x) else None}
        out = self.detector.predict(x)["data"]
        p = np.atleast_1d(np.asarray(out["p_val"], dtype=float))
        dist = np.atleast_1d(np.asarray(out["distance"], dtype=float))
        result: dict[str, Any] = {
            "kind": "drift", "rows": int(len(x)), "is_drift": bool(out["is_drift"]),
            "p_value": float(p.min()), "distance": float(dist.max()),
            "threshold": float(out["threshold"])}
        if self.kind in FEATURE_WISE:
            result["features"] = {c: float(v) for c, v in zip(self.encoder.columns, p)}
        return result


PROBE_ROWS = 200
PROBE_TOLERANCE = 1e-6


def probe(fitted: Fitted) -> dict[str, Any]:
    """The detector's answer on a fixed window (the first PROBE_ROWS reference rows, torch
    seeded): recorded when the detector is fitted and recomputed wherever it is loaded —
    the monitor stage and every Serve replica — so a saved detector that decides
    differently after loading is caught before it watches traffic."""
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:
        pass
    assert fitted.reference is not None  # set by fit() and load()
    return fitted.detect(fitted.reference[:PROBE_ROWS])


def probe_differs(expected: dict[str, Any], got: dict[str, Any]) -> str | None:
    """None when `got` is the same answer as `expected`, else what differs."""
    for key in sorted(set(expected) | set(got)):
        a, b = expected.get(key), got.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            inner = probe_differs(a, b)
            if inner:
                return f"{key}.{inner}"
        elif isinstance(a, float) and isinstance(b, float):
            if not abs(a - b) <= PROBE_TOLERANCE * max(1.0, abs(a)):
                return f"{key}: {a} then {b}"
        elif a != b:
            return f"{key}: {a} then {b}"
    return None


def reference_sample(columns: dict[str, list[Any]], encoder: Encoder, size: int) -> np.ndarray:
    """Encoded reference rows: rows with a missing value dropped, then a seeded sample."""
    x = encoder.columns_of(columns)
    x = x[~np.isnan(x).any(axis=1)]
    if len(x) > size:
        x = x[np.sort(np.random.default_rng(SEED).choice(len(x), size, replace=False))]
    return x


def _projection(x: np.ndarray, k: int) -> np.ndarray:
    """PCA by SVD of the centred reference: columns -> k components. Kept as a plain
    matrix (saved as .npy), never as a pickled function."""
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return vt[: min(k, vt.shape[0])].T.astype(np.float32)


def _build(kind: str, params: dict[str, Any], x_ref: np.ndarray, encoder: Encoder) -> Any:
    import alibi_detect.cd as cd

    p_val, correction = float(params["p_val"]), str(params["correction"])
    # codes taken from the reference: a code seen in neither the reference nor a window
    # would make the chi-square table's expected count zero (scipy raises)
    categories = {i: sorted(int(v) for v in np.unique(x_ref[:, i]))
                  for i in encoder.categorical_columns()}
    if kind == "ks":
        return cd.KSDrift(x_ref, p_val=p_val, correction=correction)
    if kind == "cvm":
        return cd.CVMDrift(x_ref, p_val=p_val, correction=correction)
    if kind == "fet":
        return cd.FETDrift(x_ref, p_val=p_val, correction=correction)
    if kind == "chisquare":
        return cd.ChiSquareDrift(x_ref, p_val=p_val, correction=correction,
                                 categories_per_feature=categories)
    if kind == "tabular":
        return cd.TabularDrift(x_ref, p_val=p_val, correction=correction,
                               categories_per_feature=categories)
    if kind == "mmd":
        return cd.MMDDrift(x_ref, backend="pytorch", p_val=p_val, n_permutations=PERMUTATIONS)
    if kind == "lsdd":
        return cd.LSDDDrift(x_ref, backend="pytorch", p_val=p_val,
                            n_permutations=PERMUTATIONS)
    if kind == "classifier":  # validate allows only backend sklearn
        from sklearn.linear_model import LogisticRegression

        return cd.ClassifierDrift(x_ref, LogisticRegression(max_iter=500), backend="sklearn",
                                  p_val=p_val, n_folds=5, seed=SEED)
    if kind == "iforest":
        from alibi_detect.od import IForest

        od = IForest(threshold=params.get("threshold"))
        od.isolationforest.set_params(random_state=SEED)
        od.fit(x_ref)
        if params.get("threshold") is None:
            od.infer_threshold(x_ref, threshold_perc=OUTLIER_REFERENCE_PERCENTILE)
        return od
    raise ValueError(f"unknown detector '{kind}'")


def fit(params: dict[str, Any], encoder: Encoder, x_ref: np.ndarray) -> Fitted:
    if params.get("online"):  # validate refuses these first
        raise ValueError("online detectors are not run by this version of lifecycle")
    original = x_ref
    projection = None
    reduce = (params.get("preprocess") or {}).get("reduce_dim")
    if reduce and params["detector"] in ("mmd", "lsdd"):
        projection = _projection(x_ref, int(reduce))
        x_ref = (x_ref @ projection).astype(np.float32)
    detector = _build(str(params["detector"]), params, x_ref.astype(np.float32), encoder)
    return Fitted(dict(params), encoder, detector, projection, original)


# --- saving -------------------------------------------------------------------------
def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(folder: str) -> list[str]:
    out = []
    for base, _, names in os.walk(folder):
        for n in names:
            rel = os.path.relpath(os.path.join(base, n), folder)
            if rel != MANIFEST:
                out.append(rel.replace(os.sep, "/"))
    return sorted(out)


def save(fitted: Fitted, folder: str, x_ref: np.ndarray) -> dict[str, Any]:
    """Write the detector and a manifest (parameters, encoder, sha256 of every file)."""
    import alibi_detect
    from alibi_detect.saving import save_detector

    os.makedirs(folder, exist_ok=True)
    if fitted.is_drift_detector:
        save_detector(fitted.detector, os.path.join(folder, "detector"))
    else:  # alibi-detect's legacy saver needs TensorFlow: keep what refitting needs
        os.makedirs(os.path.join(folder, "detector"), exist_ok=True)
        np.save(os.path.join(folder, "detector", "x_ref.npy"), x_ref.astype(np.float32))
        np.save(os.path.join(folder, "detector", "threshold.npy"),
                np.asarray([fitted.detector.threshold], dtype=np.float64))
    if fitted.projection is not None:
        np.save(os.path.join(folder, "projection.npy"), fitted.projection)
    # the encoded reference before any projection: the report's reference distribution
    np.save(os.path.join(folder, "reference.npy"), x_ref.astype(np.float32))
    manifest = {"params": fitted.params, "encoder": fitted.encoder.to_dict(),
                "alibi_detect": alibi_detect.__version__, "seed": SEED,
                "sha256": {rel: _sha256(os.path.join(folder, rel)) for rel in _files(folder)}}
    with open(os.path.join(folder, MANIFEST), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
    return {"path": folder, "manifest_sha256": _sha256(os.path.join(folder, MANIFEST))}


class TamperedDetector(Exception):
    """A saved detector's files do not match what was recorded when it was fitted."""


def load(folder: str, manifest_sha256: str | None = None) -> Fitted:
    """Verify every file against the manifest (and the manifest against the hash the
    plan's run recorded), then rebuild or load the detector."""
    path = os.path.join(folder, MANIFEST)
    if manifest_sha256 is not None and _sha256(path) != manifest_sha256:
        raise TamperedDetector(f"{path}: the manifest changed since the detector was fitted")
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    if _files(folder) != sorted(manifest["sha256"]):
        raise TamperedDetector(f"{folder}: files were added or removed since fitting")
    for rel, digest in manifest["sha256"].items():
        if _sha256(os.path.join(folder, rel)) != digest:
            raise TamperedDetector(f"{folder}/{rel}: changed since the detector was fitted")
    params, encoder = manifest["params"], Encoder.from_dict(manifest["encoder"])
    projection = None
    if os.path.exists(os.path.join(folder, "projection.npy")):
        projection = np.load(os.path.join(folder, "projection.npy"), allow_pickle=False)
    kind = str(params["detector"])
    x_ref = os.path.join(folder, "detector", "x_ref.npy")
    if kind in FEATURE_WISE:
        detector = _build(kind, params, np.load(x_ref, allow_pickle=False), encoder)
    elif kind == "iforest":
        threshold = float(np.load(os.path.join(folder, "detector", "threshold.npy"),
                                  allow_pickle=False)[0])
        detector = _build(kind, {**params, "threshold": threshold},
                          np.load(x_ref, allow_pickle=False), encoder)
    else:
        from alibi_detect.saving import load_detector

        detector = load_detector(os.path.join(folder, "detector"))
    reference = np.load(os.path.join(folder, "reference.npy"), allow_pickle=False)
    return Fitted(params, encoder, detector, projection, reference)
