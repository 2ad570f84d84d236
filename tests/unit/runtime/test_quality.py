"""Live quality (pure): the join of labels with answered predictions, metrics equal to
scikit-learn's, slices, windows and the confidence-based estimate."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from lifecycle.runtime.monitor.quality import (
    Answered,
    Calibration,
    JoinBuffer,
    QualityWatch,
    Slice,
    estimate,
    metric_value,
)


def _data(n: int, seed: int = 0) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(float)
    p = np.clip(0.3 * y + rng.normal(0.35, 0.2, n), 0, 1)
    return y.tolist(), p.tolist()


@pytest.mark.parametrize("metric, fn", [
    ("auc", lambda y, p: skm.roc_auc_score(y, p)),
    ("accuracy", lambda y, p: skm.accuracy_score(y, [1.0 if v >= 0.5 else 0.0 for v in p])),
    ("f1", lambda y, p: skm.f1_score(y, [1.0 if v >= 0.5 else 0.0 for v in p])),
    ("logloss", lambda y, p: skm.log_loss(y, p)),
    ("rmse", lambda y, p: np.sqrt(skm.mean_squared_error(y, p))),
])
def test_metrics_equal_scikit_learn(metric: str, fn: object) -> None:
    y, p = _data(500)
    assert metric_value(metric, y, p) == pytest.approx(fn(y, p), abs=1e-12)  # type: ignore[operator]


def test_undefined_metrics_are_none_not_errors() -> None:
    assert metric_value("auc", [1.0, 1.0], [0.2, 0.9]) is None
    assert metric_value("auc", [], []) is None
    with pytest.raises(ValueError, match="unknown metric"):
        metric_value("nope", [1.0], [1.0])


def test_slice_keys_of_categories_and_bins() -> None:
    assert Slice("channel").key("web") == "channel=web"
    amount = Slice("amount", (10.0, 100.0))
    assert [amount.key(v) for v in (5, 10, 50, 100, 1e6)] == [
        "amount=[-inf,10)", "amount=[10,100)", "amount=[10,100)", "amount=[100,inf)",
        "amount=[100,inf)"]


def test_a_label_joins_once_and_unknown_or_expired_ids_are_counted() -> None:
    join = JoinBuffer(max_rows=3, horizon_s=10)
    for i in range(4):
        join.add(f"r{i}", 0, Answered(float(i), "1", 0.5, ()))
    assert join.expired == 1  # the oldest made room
    assert join.join("r0", 0) == "unknown"
    assert isinstance(join.join("r1", 0), Answered)
    assert join.join("r1", 0) == "duplicate"
    assert join.join("r1", 1) == "unknown"  # another row of it was never answered
    join.trim(now=12.5)  # r1 (t=1) and r2 (t=2) are older than 10 s
    assert join.join("r2", 0) == "unknown"
    assert isinstance(join.join("r3", 0), Answered)


def test_windows_per_version_and_slice_match_scikit_learn() -> None:
    y, p = _data(400, seed=3)
    watch = QualityWatch("q", ["auc", "accuracy"], [Slice("channel")], window=100,
                         window_duration_s=None, minimum={"auc": 0.99}, maximum={},
                         horizon_s=3600)
    channels = ["web", "app"]
    for i, score in enumerate(p):
        watch.answered(float(i), f"r{i}", 0, "1" if i % 2 else "2", score,
                       {"channel": channels[i % 3 % 2]})
    outcomes = [watch.label(f"r{i}", 0, y[i], now=500.0) for i in range(400)]
    assert outcomes.count("accepted") == 400
    assert watch.label("r0", 0, 1.0, now=500.0) == "duplicate"
    closed = watch.take(now=501.0)  # 200 labels per version: two windows of 100 each
    assert sorted((w.version, w.labels) for w in closed) == [("1", 100)] * 2 + [("2", 100)] * 2
    assert watch.take(now=502.0) == []
    seen: dict[str, int] = {}
    for w in closed:  # in the order they filled
        k = seen[w.version] = seen.get(w.version, -1) + 1
        theirs = [i for i in range(400) if ("1" if i % 2 else "2") == w.version]
        mine = theirs[100 * k:100 * (k + 1)]
        assert w.labels == 100
        assert w.values["auc"] == pytest.approx(
            skm.roc_auc_score([y[i] for i in mine], [p[i] for i in mine]), abs=1e-9)
        web = [i for i in mine if channels[i % 3 % 2] == "web"]
        assert w.slices["channel=web"]["auc"] == pytest.approx(
            skm.roc_auc_score([y[i] for i in web], [p[i] for i in web]), abs=1e-9)
        assert w.dropped == ["auc"]  # below min 0.99


def test_a_time_window_closes_with_few_labels() -> None:
    watch = QualityWatch("q", ["accuracy"], [], window=1000, window_duration_s=60,
                         minimum={}, maximum={}, horizon_s=3600)
    watch.answered(0.0, "a", 0, "1", 0.9, {})
    assert watch.take(now=10.0) == []
    watch.label("a", 0, 1.0, now=10.0)
    assert watch.take(now=30.0) == []
    [w] = watch.take(now=71.0)
    assert (w.reason, w.labels, w.values["accuracy"]) == ("time", 1, 1.0)


def _calibrated(n: int, seed: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Scores whose calibrated probability is known: y ~ Bernoulli(sigmoid(x)),
    score = sigmoid(x); a covariate shift moves x."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.5, n)
    prob = 1 / (1 + np.exp(-x))
    y = (rng.random(n) < prob).astype(float)
    return prob, y


def test_the_estimate_tracks_realised_quality_under_covariate_shift() -> None:
    ref_p, ref_y = _calibrated(5000, 1)
    calibration = Calibration.fit(ref_p.tolist(), ref_y.tolist())
    for shift in (0.0, 1.0, -1.5):
        p, y = _calibrated(5000, 2, shift)
        est = estimate(p.tolist(), calibration)
        assert est["estimated_auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=0.02)
        assert est["estimated_accuracy"] == pytest.approx(
            skm.accuracy_score(y, p >= 0.5), abs=0.02)


def test_the_estimate_misses_a_concept_shift() -> None:
    ref_p, ref_y = _calibrated(5000, 1)
    calibration = Calibration.fit(ref_p.tolist(), ref_y.tolist())
    p, y = _calibrated(5000, 2)
    flipped = np.where(np.random.default_rng(3).random(5000) < 0.3, 1 - y, y)
    est = estimate(p.tolist(), calibration)
    realised = skm.roc_auc_score(flipped, p)
    assert est["estimated_auc"] - realised > 0.1  # unchanged estimate, worse reality


def test_estimate_exact_on_a_tiny_case() -> None:
    identity = Calibration((0.0, 1.0), (0.0, 1.0))
    est = estimate([0.2, 0.8], identity)
    # pairs: P(second positive, first negative) = 0.8*0.8, the reverse 0.2*0.2
    assert est["estimated_auc"] == pytest.approx(0.64 / (0.64 + 0.04))
    assert est["estimated_accuracy"] == pytest.approx(0.8)
    assert estimate([], identity) == {"estimated_accuracy": None, "estimated_auc": None}


def _live(values: dict[str, tuple[float, int, int]], estimated: float | None = None) -> object:
    from lifecycle.runtime.contract import VersionQuality, WatchSummary
    from lifecycle.runtime.rollout.gates import Live

    summary = WatchSummary(
        detector="quality", features=[], verified=None, window=100, p_val=0.05, actions=[],
        windows_closed=0, windows_dropped=0, rows_dropped=0, rows_invalid=0, rows_pending=0,
        windows_detected=0, sampled_fraction=1.0, windows_since=0, flagged_since=0,
        drift_since=0, detections_since=0, outlier_rate_since=None, last=None, recent=[],
        retrains=[], quality={v: VersionQuality(
            labels=n, positives=pos, predictions=n, values={"auc": auc},
            estimated={"estimated_auc": estimated}) for v, (auc, n, pos) in values.items()})
    return Live(candidate="2", stable="1", monitors={"q": summary})


def _gate(**kw: object) -> object:
    from lifecycle.plan import RolloutGateParams

    return RolloutGateParams(metric="live_auc", monitor="q", **kw)


@pytest.mark.parametrize("values, verdict", [
    ({"2": (0.80, 10, 3)}, "inconclusive"),            # fewer than 30 labels
    ({"2": (0.80, 500, 100)}, "failed"),
    ({"2": (0.90, 500, 100)}, "passed"),
])
def test_an_absolute_live_gate(values: dict, verdict: str) -> None:
    from lifecycle.runtime.rollout.gates import check

    got, _ = check(_gate(min=0.85), _live(values), 0.95)  # type: ignore[arg-type]
    assert got.verdict == verdict


@pytest.mark.parametrize("cand, verdict", [
    ((0.80, 3000, 500), "failed"),        # 0.08 below stable
    ((0.879, 3000, 500), "inconclusive"),  # the same, but 0.03 is within the interval yet
    ((0.879, 12000, 2000), "passed"),     # the same, on enough labels to exclude -0.03
    ((0.86, 200, 30), "inconclusive"),    # too few labels to tell
])
def test_a_live_gate_vs_stable_uses_both_versions_standard_errors(cand: tuple, verdict: str
                                                                   ) -> None:
    from lifecycle.runtime.rollout.gates import check

    live = _live({"1": (0.88, cand[1], cand[2]), "2": cand})
    got, _ = check(_gate(vs="stable", max_decrease=0.03), live, 0.95)  # type: ignore[arg-type]
    assert got.verdict == verdict, got
    low, high = got.interval
    assert low < got.value < high and got.value == pytest.approx(cand[0] - 0.88)


def test_the_estimate_gate_needs_no_labels() -> None:
    from lifecycle.plan import RolloutGateParams
    from lifecycle.runtime.rollout.gates import check

    gate = RolloutGateParams(metric="estimated_auc", monitor="q", min=0.85)
    got, _ = check(gate, _live({"2": (0.5, 100, 0)}, estimated=0.9), 0.95)  # type: ignore[arg-type]
    assert (got.verdict, got.value) == ("passed", 0.9)
