"""Live model quality: answered predictions joined with the labels posted back for them
(by request id), per model version and per slice, over windows of labels — and, while
labels lag, a confidence-based estimate from the predictions alone. Pure (numpy and
scikit-learn): unit-tested without Ray.

- `JoinBuffer`: the predictions answered lately, by (request id, row), bounded by count
  and age: a label joins the prediction it names, once (a second label for the same row
  is a duplicate); a label for a row it does not hold is unknown (never answered, or
  older than the horizon: expired).
- `metric_value`: the evaluation's metrics (auc, accuracy, f1, ...) on (label,
  prediction) pairs, exactly as scikit-learn computes them.
- `slice_of`: a row's slice keys (a category's value, a numeric feature's bin).
- `estimate`: a binary classifier's expected accuracy and AUC from calibrated
  probabilities (confidence-based performance estimation): right while calibration holds
  and the concept does not shift (docs/monitors.md says when it fails)."""

from __future__ import annotations

import bisect
import collections
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

HIGHER_IS_BETTER = {"auc": True, "accuracy": True, "f1": True, "precision": True,
                    "recall": True, "r2": True, "logloss": False, "rmse": False, "mae": False}


@dataclass(frozen=True)
class Slice:
    """A slice dimension: a feature's value, or a numeric feature's bin."""

    feature: str
    bins: tuple[float, ...] | None = None

    def key(self, value: Any) -> str:
        if self.bins is None:
            return f"{self.feature}={value}"
        i = bisect.bisect_right(self.bins, float(value))
        lo = "-inf" if i == 0 else f"{self.bins[i - 1]:g}"
        hi = "inf" if i == len(self.bins) else f"{self.bins[i]:g}"
        return f"{self.feature}=[{lo},{hi})"


def slice_of(row: dict[str, Any], slices: Sequence[Slice]) -> tuple[str, ...]:
    return tuple(s.key(row.get(s.feature)) for s in slices)


@dataclass
class Answered:
    """One answered row, kept until its label comes (or it expires)."""

    time: float
    version: str
    prediction: float
    slices: tuple[str, ...]
    labelled: bool = False


@dataclass
class JoinBuffer:
    max_rows: int = 200_000
    horizon_s: float = 86_400.0
    rows: collections.OrderedDict[tuple[str, int], Answered] = field(
        default_factory=collections.OrderedDict)
    expired: int = 0  # rows that aged out before a label came

    def add(self, request_id: str, row: int, answered: Answered) -> None:
        self.rows[(request_id, row)] = answered
        while len(self.rows) > self.max_rows:
            self.rows.popitem(last=False)
            self.expired += 1

    def trim(self, now: float) -> None:
        while self.rows:
            key, first = next(iter(self.rows.items()))
            if now - first.time <= self.horizon_s:
                break
            del self.rows[key]
            self.expired += 1

    def join(self, request_id: str, row: int) -> Answered | str:
        """The answered row a label names, or why it cannot join: duplicate | unknown."""
        found = self.rows.get((request_id, row))
        if found is None:
            return "unknown"
        if found.labelled:
            return "duplicate"
        found.labelled = True
        return found


def metric_value(metric: str, labels: Sequence[float], predictions: Sequence[float],
                 threshold: float = 0.5) -> float | None:
    """The metric as scikit-learn computes it; None where it is undefined (AUC with one
    class)."""
    from sklearn import metrics as m

    if not labels:
        return None
    y = [float(v) for v in labels]
    p = [float(v) for v in predictions]
    if metric == "auc":
        return None if len(set(y)) < 2 else float(m.roc_auc_score(y, p))
    if metric in ("accuracy", "f1", "precision", "recall"):
        hard = [1.0 if v >= threshold else 0.0 for v in p]
        fn = {"accuracy": m.accuracy_score, "f1": m.f1_score,
              "precision": m.precision_score, "recall": m.recall_score}[metric]
        kwargs = {} if metric == "accuracy" else {"zero_division": 0.0}
        return float(fn(y, hard, **kwargs))
    if metric == "logloss":
        return None if len(set(y)) < 2 else float(m.log_loss(y, p, labels=[0.0, 1.0]))
    if metric == "rmse":
        return float(math.sqrt(m.mean_squared_error(y, p)))
    if metric == "mae":
        return float(m.mean_absolute_error(y, p))
    if metric == "r2":
        return None if len(y) < 2 else float(m.r2_score(y, p))
    raise ValueError(f"unknown metric '{metric}'")


@dataclass(frozen=True)
class Calibration:
    """Score -> probability of the positive class, as an isotonic step function fitted
    on the evaluation data (thresholds and values)."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __call__(self, score: float) -> float:
        if not self.x:
            return min(max(score, 0.0), 1.0)
        i = bisect.bisect_right(self.x, score)
        if i == 0:
            return self.y[0]
        if i == len(self.x):
            return self.y[-1]
        x0, x1, y0, y1 = self.x[i - 1], self.x[i], self.y[i - 1], self.y[i]
        return y0 if x1 == x0 else y0 + (y1 - y0) * (score - x0) / (x1 - x0)

    @staticmethod
    def fit(scores: Sequence[float], labels: Sequence[float]) -> Calibration:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(list(scores), list(labels))
        return Calibration(tuple(float(v) for v in iso.X_thresholds_),
                           tuple(float(v) for v in iso.y_thresholds_))


def estimate(scores: Sequence[float], calibration: Calibration,
             threshold: float = 0.5) -> dict[str, float | None]:
    """Expected accuracy and AUC of a binary classifier on these predictions, without
    labels: each row is positive with its calibrated probability p. Accuracy: the mean
    of p where the model says positive and 1 - p where it says negative. AUC: the chance
    a positive row scores above a negative one, each pair weighted by p_i (1 - p_j)."""
    if not scores:
        return {"estimated_accuracy": None, "estimated_auc": None}
    probs = [calibration(s) for s in scores]
    accuracy = sum(p if s >= threshold else 1.0 - p for s, p in zip(scores, probs)) / \
        len(scores)
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    below_neg, num, i = 0.0, 0.0, 0
    while i < len(order):  # ties: half credit
        j = i
        while j < len(order) and scores[order[j]] == scores[order[i]]:
            j += 1
        group = order[i:j]
        pos = sum(probs[k] for k in group)
        neg = sum(1.0 - probs[k] for k in group)
        num += pos * below_neg + 0.5 * (pos * neg - sum(probs[k] * (1 - probs[k])
                                                         for k in group))
        below_neg += neg
        i = j
    total_pos = sum(probs)
    total_neg = len(probs) - total_pos
    denom = total_pos * total_neg - sum(p * (1 - p) for p in probs)
    return {"estimated_accuracy": accuracy,
            "estimated_auc": num / denom if denom > 0 else None}


@dataclass
class Pair:
    time: float  # when the prediction was answered
    label: float
    prediction: float
    slices: tuple[str, ...]


def scores(pairs: Iterable[Pair], metrics: Sequence[str], slices: Sequence[Slice],
           threshold: float = 0.5) -> dict[str, dict[str, float | None]]:
    """Each metric over all pairs ('all') and per slice key."""
    pairs = list(pairs)
    groups: dict[str, list[Pair]] = {"all": pairs}
    for p in pairs:
        for key in p.slices:
            groups.setdefault(key, []).append(p)
    return {name: {metric: metric_value(metric, [p.label for p in group],
                                        [p.prediction for p in group], threshold)
                   for metric in metrics} for name, group in groups.items()}


@dataclass
class _Open:
    opened: float
    pairs: list[Pair] = field(default_factory=list)


@dataclass
class QualityWindow:
    """One closed window of a version's labelled predictions."""

    index: int
    version: str
    opened: float
    closed: float
    reason: str  # size | time
    labels: int
    values: dict[str, float | None]
    slices: dict[str, dict[str, float | None]]
    estimated: dict[str, float | None]
    dropped: list[str]


class QualityWatch:
    """One quality monitor: answered rows wait in a join buffer; a label joins its row
    once; each version's pairs fill windows of `window` labels (or `window_duration`);
    a window whose metric breaks `min`/`max` is a drop. Bounded throughout."""

    KEPT = 100_000  # pairs and predictions kept for `since` questions

    def __init__(self, name: str, metrics: Sequence[str], slices: Sequence[Slice],
                 window: int, window_duration_s: float | None, minimum: dict[str, float],
                 maximum: dict[str, float], horizon_s: float, threshold: float = 0.5,
                 calibration: Calibration | None = None) -> None:
        self.name, self.metrics, self.slices = name, list(metrics), list(slices)
        self.window, self.duration = window, window_duration_s
        self.minimum, self.maximum = dict(minimum), dict(maximum)
        self.threshold, self.calibration = threshold, calibration
        self.join = JoinBuffer(horizon_s=horizon_s)
        self.pairs: collections.deque[tuple[str, Pair]] = collections.deque(maxlen=self.KEPT)
        self.scores: collections.deque[tuple[float, str, float]] = collections.deque(
            maxlen=self.KEPT)
        self.open: dict[str, _Open] = {}
        self.full: list[tuple[str, _Open]] = []  # filled windows, closed at the next take
        self.closed = 0

    def answered(self, time: float, request_id: str, row: int, version: str,
                 prediction: float, features: dict[str, Any]) -> None:
        self.join.add(request_id, row, Answered(time, version, prediction,
                                                slice_of(features, self.slices)))
        self.scores.append((time, version, prediction))

    def label(self, request_id: str, row: int, label: float, now: float) -> str:
        """accepted | duplicate | unknown"""
        found = self.join.join(request_id, row)
        if isinstance(found, str):
            return found
        pair = Pair(found.time, float(label), found.prediction, found.slices)
        self.pairs.append((found.version, pair))
        current = self.open.setdefault(found.version, _Open(now))
        current.pairs.append(pair)
        if len(current.pairs) >= self.window:  # full: the next label opens the next one
            self.full.append((found.version, self.open.pop(found.version)))
        return "accepted"

    def take(self, now: float) -> list[QualityWindow]:
        """Windows closed now: each full one (exactly `window` labels), then by time those
        with at least one label."""
        self.join.trim(now)
        out = [self._close(version, current, now, "size") for version, current in self.full]
        self.full.clear()
        for version, current in list(self.open.items()):
            if self.duration is not None and current.pairs and \
                    now - current.opened >= self.duration:
                del self.open[version]
                out.append(self._close(version, current, now, "time"))
        return out

    def _close(self, version: str, current: _Open, now: float, reason: str
               ) -> QualityWindow:
        values_by_slice = scores(current.pairs, self.metrics, self.slices, self.threshold)
        values = values_by_slice.pop("all")
        dropped = [m for m, v in values.items() if v is not None and (
            (m in self.minimum and v < self.minimum[m])
            or (m in self.maximum and v > self.maximum[m]))]
        window = QualityWindow(self.closed, version, current.opened, now, reason,
                               len(current.pairs), values, values_by_slice,
                               self._estimate(version, current.opened), dropped)
        self.closed += 1
        return window

    def _estimate(self, version: str, since: float) -> dict[str, float | None]:
        if self.calibration is None:
            return {}
        mine = [s for t, v, s in self.scores if v == version and t >= since]
        return estimate(mine, self.calibration, self.threshold)

    def summary(self, since: float) -> dict[str, dict[str, Any]]:
        """Per version: labelled pairs of predictions answered since `since`, their
        metrics (overall and per slice), and the estimate from all its predictions."""
        by_version: dict[str, list[Pair]] = {}
        for version, pair in self.pairs:
            if pair.time >= since:
                by_version.setdefault(version, []).append(pair)
        versions = set(by_version) | {v for t, v, _ in self.scores if t >= since}
        out = {}
        for version in sorted(versions):
            pairs = by_version.get(version, [])
            values = scores(pairs, self.metrics, self.slices, self.threshold)
            out[version] = {
                "labels": len(pairs), "positives": sum(1 for p in pairs if p.label > 0.5),
                "predictions": sum(1 for t, v, _ in self.scores if v == version and t >= since),
                "values": values.pop("all"), "slices": values,
                "estimated": self._estimate(version, since)}
        return out
