"""One interface over alibi-detect's detectors: fit on the reference, save, verify, load,
and one result shape per window whatever the detector.

Kept to what alibi-detect 0.11.4 (Apache-2.0) also offers: the detector classes' plain
constructors, `predict`, `alibi_detect.saving.save_detector` / `load_detector`, the
legacy `IForest` (`fit`, `infer_threshold`, `predict`), and for the online detectors
`reset_state` and the `_configure_thresholds` hook their constructors call (checked
against 0.11.4: docs/monitors.md).

Loading a saved detector can run code (NOTES.md: `load_detector` unpickles and evaluates
what its folder holds). So a folder is loaded only after every file's sha256 matches the
manifest written at fit time, and the feature-wise detectors (ks, cvm, chisquare, tabular,
fet) are not unpickled at all: they are rebuilt from `x_ref.npy` (allow_pickle=False) and
the recorded parameters. IForest cannot be saved without TensorFlow (alibi-detect's
legacy saver needs it): its reference sample and seed are saved and it is refitted on
load, which gives the same scores (sklearn's forest is deterministic for a seed).

Online detectors (`online: true`: cvm, fet, mmd, lsdd) calibrate their thresholds by
simulation when constructed (minutes at a realistic `ert`), and alibi-detect does not
save them. The monitor stage calibrates once (seeded) and saves the calibration as .npy
files; loading builds the same detector class with `_configure_thresholds` answering from
those files, so a Serve replica starts in a second and decides exactly as the stage did."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .encode import Encoder

MANIFEST = "lifecycle-monitor.json"
FEATURE_WISE = ("ks", "cvm", "chisquare", "tabular", "fet")
OUTLIER = ("iforest", "mahalanobis")
# the legacy Mahalanobis detector's running estimate (mean, covariance, rows seen, clip)
MAHALANOBIS_STATE = ("mean", "C", "n", "clip")
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
        return self.kind not in OUTLIER

    @property
    def online(self) -> bool:
        return bool(self.params.get("online"))

    def prepare(self, x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32, copy=False)
        return x if self.projection is None else (x @ self.projection).astype(np.float32)

    def detect(self, x: np.ndarray) -> dict[str, Any]:
        """One window -> is_drift / p_value / distance / per-feature p-values, or, for an
        outlier detector, the outlier rate and whether it breaks `max_outlier_rate`."""
        x = self.prepare(x)
        if self.online:
            return self._detect_online(x)
        if not self.is_drift_detector:
            # Mahalanobis updates its mean and covariance with every row it scores: it
            # scores each window on a copy, so the reference stays what the stage fitted
            detector = copy.deepcopy(self.detector) if self.kind == "mahalanobis" \
                else self.detector
            out = detector.predict(x)["data"]
            flags = np.asarray(out["is_outlier"], dtype=bool)
            rate = float(flags.mean()) if len(flags) else 0.0
            return {"kind": "outlier", "rows": len(x), "outlier_rate": rate,
                    "is_outlier_window": rate > float(self.params["max_outlier_rate"]),
                    "mean_score": float(np.mean(out["instance_score"])) if len(x) else None}
        out = self.detector.predict(x)["data"]
        p = np.atleast_1d(np.asarray(out["p_val"], dtype=float))
        dist = np.atleast_1d(np.asarray(out["distance"], dtype=float))
        result: dict[str, Any] = {
            "kind": "drift", "rows": len(x), "is_drift": bool(out["is_drift"]),
            "p_value": float(p.min()), "distance": float(dist.max()),
            "threshold": float(out["threshold"])}
        if self.kind in FEATURE_WISE:
            result["features"] = {c: float(v) for c, v in zip(self.encoder.columns, p)}
        return result

    def _detect_online(self, x: np.ndarray) -> dict[str, Any]:
        """Every row through the online detector, in order. A detection is recorded and
        the detector reset (seeded), so drift that persists is detected again once a
        fresh window has filled. The window's statistic is the one closest to (or
        furthest over) its threshold."""
        det = self.detector
        detections: list[dict[str, Any]] = []
        worst: tuple[float, float, float] | None = None  # (stat - threshold, stat, thr)
        per_feature: np.ndarray | None = None
        for i, row in enumerate(x):
            out = det.predict(row, return_test_stat=True)["data"]
            stat = np.asarray(out["test_stat"], dtype=float)
            thr = np.asarray(out["threshold"], dtype=float)
            if stat.ndim == 2:  # feature-wise: (windows, features) -> per feature
                stat = np.where(np.isnan(stat), -np.inf, stat).max(axis=0)
                stat[np.isneginf(stat)] = np.nan  # no statistic before a window fills
                if not np.isnan(stat).all():
                    per_feature = stat if per_feature is None else np.fmax(per_feature, stat)
            gap = stat - thr
            if not np.isnan(gap).all():
                j = int(np.nanargmax(gap))
                g = float(np.ravel(gap)[j])
                if worst is None or g > worst[0]:
                    worst = (g, float(np.ravel(stat)[j]),
                             float(np.ravel(thr)[min(j, thr.size - 1)]))
            if out["is_drift"]:
                detections.append({"row": i, "after_rows": int(out["time"]),
                                   "test_stat": float(np.nanmax(stat)),
                                   "threshold": float(np.nanmin(thr))})
                _seed()
                det.reset_state()
        # alibi-detect keeps every row's statistic in lists that only grow: the windows
        # hold that history here, so the detector's copy is dropped
        for history in ("test_stats", "drift_preds"):
            if hasattr(det, history):
                setattr(det, history, getattr(det, history)[:0])
        result: dict[str, Any] = {
            "kind": "drift", "online": True, "rows": len(x),
            "is_drift": bool(detections), "detections": detections[:10],
            "detection_count": len(detections), "ert": int(self.params["ert"]),
            "distance": worst[1] if worst else None, "threshold": worst[2] if worst else None}
        if per_feature is not None:
            result["feature_stats"] = {c: float(v) for c, v in
                                       zip(self.encoder.columns, per_feature)}
        return result


def _seed() -> None:
    """Online detectors draw from numpy's and torch's global generators when calibrating,
    resetting (mmd, lsdd) and breaking ties (fet): seeded so every copy decides alike."""
    np.random.seed(SEED)
    try:
        import torch

        torch.manual_seed(SEED)
    except ImportError:
        pass


PROBE_ROWS = 200
PROBE_TOLERANCE = 1e-6


def probe(fitted: Fitted) -> dict[str, Any]:
    """The detector's answer on a fixed window (the first PROBE_ROWS reference rows,
    generators seeded): recorded when the detector is fitted and recomputed wherever it is
    loaded — the monitor stage and every Serve replica — so a saved detector that decides
    differently after loading is caught before it watches traffic."""
    _seed()
    assert fitted.reference is not None  # set by fit() and load()
    if not fitted.online:
        return fitted.detect(fitted.reference[:PROBE_ROWS])
    fitted.detector.reset_state()
    answer = fitted.detect(fitted.reference[:PROBE_ROWS])
    _seed()
    fitted.detector.reset_state()  # watching starts from a fresh state
    answer["calibration"] = {k: float(np.nansum(v)) for k, v in
                             _calibration(fitted.detector, fitted.kind).items()}
    return answer


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
    if kind == "mahalanobis":
        from alibi_detect.od import Mahalanobis

        od = Mahalanobis(threshold=params.get("threshold"))
        if params.get("threshold") is None:  # scores the reference: fits the estimate
            od.infer_threshold(x_ref, threshold_perc=OUTLIER_REFERENCE_PERCENTILE)
        else:
            od.score(x_ref)
        return od
    raise ValueError(f"unknown detector '{kind}'")


# what each online detector's `_configure_thresholds` sets (alibi-detect 0.11.4 and 0.13)
CALIBRATION = {"cvm": ("thresholds",), "fet": ("thresholds", "permit_probs"),
               "mmd": ("thresholds",), "lsdd": ("thresholds", "H_lam_inv")}


def _online_class(kind: str) -> Any:
    if kind == "cvm":
        from alibi_detect.cd import CVMDriftOnline

        return CVMDriftOnline
    if kind == "fet":
        from alibi_detect.cd import FETDriftOnline

        return FETDriftOnline
    # the pytorch backends themselves (the public classes wrap them): the calibration
    # hook and its attributes live there
    if kind == "mmd":
        from alibi_detect.cd.pytorch.mmd_online import MMDDriftOnlineTorch

        return MMDDriftOnlineTorch
    if kind == "lsdd":
        from alibi_detect.cd.pytorch.lsdd_online import LSDDDriftOnlineTorch

        return LSDDDriftOnlineTorch
    raise ValueError(f"'{kind}' has no online variant")


def _build_online(kind: str, params: dict[str, Any], x_ref: np.ndarray,
                  calibration: dict[str, np.ndarray] | None = None) -> Any:
    """The online detector; calibrated by simulation, or from a saved calibration."""
    cls = _online_class(kind)
    if calibration is not None:
        saved = calibration

        class Calibrated(cls):  # type: ignore[misc,valid-type]
            def _configure_thresholds(self) -> None:
                for key, value in saved.items():
                    setattr(self, key, _restore(value, getattr(self, "device", None)))

        Calibrated.__name__ = cls.__name__
        cls = Calibrated
    kwargs: dict[str, Any] = {"ert": int(params["ert"]), "verbose": False,
                              "n_bootstraps": int(params["n_bootstraps"])}
    if kind in ("cvm", "fet"):
        kwargs["window_sizes"] = [int(params["window"])]
    else:
        kwargs["window_size"] = int(params["window"])
    _seed()
    return cls(x_ref, **kwargs)


def _calibration(detector: Any, kind: str) -> dict[str, np.ndarray]:
    out = {}
    for key in CALIBRATION[kind]:
        value = getattr(detector, key)
        if hasattr(value, "detach"):  # a torch tensor
            value = value.detach().cpu().numpy()
        out[key] = np.asarray(value, dtype=np.float64)
    return out


def _restore(value: np.ndarray, device: Any) -> Any:
    if device is None:  # numpy detectors
        return value
    import torch

    return torch.from_numpy(value).to(torch.float32).to(device)


def fit(params: dict[str, Any], encoder: Encoder, x_ref: np.ndarray) -> Fitted:
    original = x_ref
    projection = None
    reduce = (params.get("preprocess") or {}).get("reduce_dim")
    if reduce and params["detector"] in ("mmd", "lsdd"):
        projection = _projection(x_ref, int(reduce))
        x_ref = (x_ref @ projection).astype(np.float32)
    if params.get("online"):
        # calibrate, then build the detector exactly as load() will (from the saved
        # calibration, right after seeding): both draw the same reference split
        kind, x = str(params["detector"]), x_ref.astype(np.float32)
        calibration = _calibration(_build_online(kind, params, x), kind)
        detector = _build_online(kind, params, x, calibration)
    else:
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
    if fitted.online:  # the reference it was built from and its calibration
        os.makedirs(os.path.join(folder, "detector"), exist_ok=True)
        np.save(os.path.join(folder, "detector", "x_ref.npy"),
                fitted.prepare(x_ref).astype(np.float32))
        for key, value in _calibration(fitted.detector, fitted.kind).items():
            np.save(os.path.join(folder, "detector", f"{key}.npy"), value)
    elif fitted.is_drift_detector:
        save_detector(fitted.detector, os.path.join(folder, "detector"))
    else:  # alibi-detect's legacy saver needs TensorFlow: keep what rebuilding needs
        os.makedirs(os.path.join(folder, "detector"), exist_ok=True)
        np.save(os.path.join(folder, "detector", "threshold.npy"),
                np.asarray([fitted.detector.threshold], dtype=np.float64))
        if fitted.kind == "iforest":  # refitted from its sample
            np.save(os.path.join(folder, "detector", "x_ref.npy"), x_ref.astype(np.float32))
        else:  # mahalanobis: restored from its running estimate, as plain arrays
            for key in MAHALANOBIS_STATE:
                value = getattr(fitted.detector, key)
                if value is not None:  # clip: set once more than 100 rows were seen
                    np.save(os.path.join(folder, "detector", f"{key}.npy"),
                            np.asarray(value, dtype=np.float64))
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
    if params.get("online"):
        calibration = {key: np.load(os.path.join(folder, "detector", f"{key}.npy"),
                                    allow_pickle=False) for key in CALIBRATION[kind]}
        detector = _build_online(kind, params, np.load(x_ref, allow_pickle=False),
                                 calibration)
    elif kind in FEATURE_WISE:
        detector = _build(kind, params, np.load(x_ref, allow_pickle=False), encoder)
    elif kind == "iforest":
        threshold = float(np.load(os.path.join(folder, "detector", "threshold.npy"),
                                  allow_pickle=False)[0])
        detector = _build(kind, {**params, "threshold": threshold},
                          np.load(x_ref, allow_pickle=False), encoder)
    elif kind == "mahalanobis":  # the saved estimate, not refitted
        from alibi_detect.od import Mahalanobis

        detector = Mahalanobis(threshold=float(np.load(
            os.path.join(folder, "detector", "threshold.npy"), allow_pickle=False)[0]))
        state = {key: np.load(os.path.join(folder, "detector", f"{key}.npy"),
                              allow_pickle=False) for key in MAHALANOBIS_STATE
                 if os.path.exists(os.path.join(folder, "detector", f"{key}.npy"))}
        detector.mean, detector.C = state["mean"], state["C"]
        detector.n = int(state["n"])
        if "clip" in state:
            detector.clip = [state["clip"][0], state["clip"][1]]
    else:
        from alibi_detect.saving import load_detector

        detector = load_detector(os.path.join(folder, "detector"))
    reference = np.load(os.path.join(folder, "reference.npy"), allow_pickle=False)
    return Fitted(params, encoder, detector, projection, reference)
