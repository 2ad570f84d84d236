"""Real alibi-detect detectors through our interface (no Ray): fitted, saved, verified,
reloaded with the same decisions; tampered folders refused; the false-positive rate on
drift-free windows within what the p-value promises, and a shift found."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lifecycle.runtime.monitor import detectors
from lifecycle.runtime.monitor.encode import Encoder

INFO = {"features": {"amount": "float", "risk": "float", "hour": "int",
                     "channel": "category", "flag": "category"},
        "categories": {"channel": ["web", "pos", "app"], "flag": ["no", "yes"]}}
NUMERIC = ["amount", "risk", "hour"]


def _columns(n: int, seed: int, shift: float = 0.0) -> dict[str, list[Any]]:
    rng = np.random.default_rng(seed)
    return {"amount": (rng.lognormal(3.0, 1.0, n) * (1 + shift)).tolist(),
            "risk": (rng.beta(2, 5, n) + shift / 4).tolist(),
            "hour": rng.integers(0, 24, n).tolist(),
            "channel": rng.choice(["web", "pos", "app"], n,
                                  p=[.5 - shift / 2, .3, .2 + shift / 2]).tolist(),
            "flag": rng.choice(["no", "yes"], n, p=[.9 - shift / 2, .1 + shift / 2]).tolist()}


def _params(detector: str, **kw: Any) -> dict[str, Any]:
    backend = {"mmd": "pytorch", "lsdd": "pytorch", "classifier": "sklearn",
               "iforest": "sklearn"}.get(detector, "numpy")
    return {"name": f"{detector}-monitor", "detector": detector, "p_val": 0.05,
            "correction": "bonferroni", "online": False, "backend": backend,
            "threshold": None, "max_outlier_rate": 0.05, "preprocess": {}, **kw}


CASES = {"ks": NUMERIC, "cvm": NUMERIC, "tabular": NUMERIC + ["channel"],
         "chisquare": ["channel", "flag"], "fet": ["flag"], "mmd": NUMERIC,
         "classifier": NUMERIC, "iforest": NUMERIC, "mahalanobis": NUMERIC}


def _seeded_detect(fitted: detectors.Fitted, x: np.ndarray) -> dict[str, Any]:
    import torch

    torch.manual_seed(0)
    return fitted.detect(x)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_saved_detector_reloads_with_the_same_results(kind: str, tmp_path: Path) -> None:
    features = CASES[kind]
    enc = Encoder.of(features, INFO, "ordinal")
    extra = {"preprocess": {"reduce_dim": 2}} if kind == "mmd" else {}
    x_ref = detectors.reference_sample(_columns(3000, 0), enc, 500)
    assert x_ref.shape == (500, len(features))
    fitted = detectors.fit(_params(kind, **extra), enc, x_ref)
    saved = detectors.save(fitted, str(tmp_path / kind), x_ref)
    loaded = detectors.load(saved["path"], saved["manifest_sha256"])
    window = enc.columns_of(_columns(300, 1, shift=0.5))
    a, b = _seeded_detect(fitted, window), _seeded_detect(loaded, window)
    assert a == b
    if kind in detectors.OUTLIER:  # more outliers than the 1% the threshold was fitted to
        assert a["outlier_rate"] > 0.015, a
    else:
        assert a["is_drift"] is True, a  # the shifted window is found by every detector
    if kind in detectors.FEATURE_WISE:
        assert set(a["features"]) == set(enc.columns)
    # the probe recorded at fit time is what a loaded copy (a Serve replica) recomputes
    assert detectors.probe_differs(detectors.probe(fitted), detectors.probe(loaded)) is None


def test_a_probe_that_differs_says_where() -> None:
    expected = {"kind": "drift", "is_drift": False, "p_value": 0.31,
                "features": {"amount": 0.31, "hour": 0.8}}
    assert detectors.probe_differs(expected, {**expected, "p_value": 0.31 + 1e-9}) is None
    assert detectors.probe_differs(
        expected, {**expected, "features": {"amount": 0.29, "hour": 0.8}}) == \
        "features.amount: 0.31 then 0.29"
    assert detectors.probe_differs(expected, {**expected, "is_drift": True}) == \
        "is_drift: False then True"


def test_a_tampered_folder_is_refused(tmp_path: Path) -> None:
    enc = Encoder.of(NUMERIC, INFO, "ordinal")
    x_ref = detectors.reference_sample(_columns(1000, 0), enc, 200)
    saved = detectors.save(detectors.fit(_params("ks"), enc, x_ref), str(tmp_path / "d"), x_ref)
    ref = tmp_path / "d" / "detector" / "x_ref.npy"
    original = ref.read_bytes()
    np.save(ref, np.zeros((200, 3), dtype=np.float32))
    with pytest.raises(detectors.TamperedDetector, match="x_ref.npy: changed"):
        detectors.load(saved["path"], saved["manifest_sha256"])
    ref.write_bytes(original)
    (tmp_path / "d" / "detector" / "function.dill").write_bytes(b"not ours")
    with pytest.raises(detectors.TamperedDetector, match="added or removed"):
        detectors.load(saved["path"])
    os.remove(tmp_path / "d" / "detector" / "function.dill")
    with pytest.raises(detectors.TamperedDetector, match="manifest changed"):
        detectors.load(saved["path"], "0" * 64)
    assert detectors.load(saved["path"], saved["manifest_sha256"]).kind == "ks"


def test_false_positives_stay_within_the_p_value_and_a_shift_is_found() -> None:
    """300 drift-free windows: KS with Bonferroni over 3 features at p=0.05 may flag at
    most 5% of them in expectation; allow 3 standard errors (n=300) above that."""
    enc = Encoder.of(NUMERIC, INFO, "ordinal")
    x_ref = detectors.reference_sample(_columns(5000, 0), enc, 1000)
    fitted = detectors.fit(_params("ks"), enc, x_ref)
    live = enc.columns_of(_columns(300 * 200, 42))
    flagged = [fitted.detect(live[i * 200:(i + 1) * 200])["is_drift"] for i in range(300)]
    rate = float(np.mean(flagged))
    assert rate <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 300), rate
    shifted = enc.columns_of(_columns(20 * 200, 7, shift=0.3))
    found = [fitted.detect(shifted[i * 200:(i + 1) * 200])["is_drift"] for i in range(20)]
    assert sum(found) >= 19, found


ONLINE = {"cvm": NUMERIC, "fet": ["flag"], "mmd": NUMERIC, "lsdd": NUMERIC}


def _online(kind: str, **kw: Any) -> dict[str, Any]:
    return _params(kind, online=True, **{"window": 20, "ert": 200, "n_bootstraps": 2000, **kw})


@pytest.mark.parametrize("kind", sorted(ONLINE))
def test_online_detector_reloads_its_calibration_and_decides_the_same(
        kind: str, tmp_path: Path) -> None:
    """The calibration (thresholds found by 2000 simulations) is saved and read back, not
    simulated again; the reloaded detector gives the same statistics, detections and
    resets on a stream that drifts half way."""
    enc = Encoder.of(ONLINE[kind], INFO, "ordinal")
    x_ref = detectors.reference_sample(_columns(3000, 0), enc, 400)
    fitted = detectors.fit(_online(kind), enc, x_ref)
    expected = detectors.probe(fitted)
    saved = detectors.save(fitted, str(tmp_path / "det"), x_ref)
    assert {"thresholds.npy", "x_ref.npy"} <= set(os.listdir(tmp_path / "det" / "detector"))
    loaded = detectors.load(saved["path"], saved["manifest_sha256"])
    assert detectors.probe_differs(expected, detectors.probe(loaded)) is None
    stream = np.vstack([enc.columns_of(_columns(300, 5)),
                        enc.columns_of(_columns(300, 6, shift=0.4))])
    a = [fitted.detect(stream[i:i + 100]) for i in range(0, 600, 100)]
    b = [loaded.detect(stream[i:i + 100]) for i in range(0, 600, 100)]
    assert a == b
    assert all(w["online"] and w["rows"] == 100 and "p_value" not in w for w in a)


def test_online_false_alarms_match_the_expected_run_time_and_a_shift_is_found() -> None:
    """ert 200: on 4000 undrifted rows about 20 detections are expected (each one resets
    the detector); allow 3 standard deviations of a Poisson count above that. Shifted
    traffic is detected within 100 rows, and again and again while it lasts."""
    enc = Encoder.of(NUMERIC, INFO, "ordinal")
    x_ref = detectors.reference_sample(_columns(5000, 0), enc, 1000)
    fitted = detectors.fit(_online("cvm"), enc, x_ref)
    live = enc.columns_of(_columns(4000, 42))
    alarms = sum(fitted.detect(live[i:i + 500])["detection_count"] for i in range(0, 4000, 500))
    assert alarms <= 20 + 3 * np.sqrt(20), alarms
    shifted = fitted.detect(enc.columns_of(_columns(1000, 7, shift=0.4)))
    assert shifted["is_drift"] and shifted["detections"][0]["row"] < 100, shifted
    assert shifted["detection_count"] > 1000 / 200 * 3, shifted["detection_count"]
    # the detector's own per-row history is not kept growing
    assert len(fitted.detector.test_stats) == 0

def test_mahalanobis_keeps_its_reference_while_it_watches(tmp_path: Path) -> None:
    """alibi-detect's Mahalanobis updates its estimate with every row it scores; each
    window is scored on a copy, so watching shifted traffic does not teach it that the
    shift is normal, and the saved estimate (not a refit) is what a replica loads."""
    enc = Encoder.of(NUMERIC, INFO, "ordinal")
    x_ref = detectors.reference_sample(_columns(3000, 0), enc, 1000)
    fitted = detectors.fit(_params("mahalanobis"), enc, x_ref)
    clean = fitted.detect(enc.columns_of(_columns(1000, 3)))
    assert clean["outlier_rate"] < 0.03, clean  # threshold: 99th percentile of the reference
    shifted = enc.columns_of(_columns(300, 4))
    shifted[:, enc.columns.index("risk")] += 1.0  # about 6 standard deviations
    rates = [fitted.detect(shifted)["outlier_rate"] for _ in range(3)]
    # (within a window it still learns: later shifted rows look less unusual)
    assert rates[0] > 0.3 and rates == [rates[0]] * 3, rates
    saved = detectors.save(fitted, str(tmp_path / "m"), x_ref)
    assert {"mean.npy", "C.npy", "n.npy", "clip.npy"} <= set(
        os.listdir(tmp_path / "m" / "detector"))
    loaded = detectors.load(saved["path"], saved["manifest_sha256"])
    assert loaded.detect(shifted) == fitted.detect(shifted)
