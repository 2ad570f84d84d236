"""How well the quality estimate (confidence-based: expected AUC and accuracy from
calibrated probabilities, no labels) tracks the realised quality, under covariate shift
(where it should) and under concept shift (where it cannot).

A logistic model is trained on reference data; its calibration is fitted (isotonic) on
held-out evaluation data, as the monitor stage does. Two worlds: one the model can
represent (its calibration holds wherever the inputs go), and one with an interaction
the model misses (its calibration holds only near the reference inputs). Windows of
live traffic are drawn:

  covariate shift  the inputs move (mean shifted by 0..2 standard deviations, spread
                   changed); P(label | inputs) stays what it was
  concept shift    P(label | inputs) changes: the weights move, or a share of the
                   labels flips

Per scenario, over `--repetitions` seeded windows of `--window` predictions: the median
and 95th percentile of |estimated - realised| for AUC and accuracy. Pure numpy and
scikit-learn (no Ray); seconds on a laptop.

    python benchmarks/quality_estimate.py [--window 2000] [--repetitions 50]
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score

from lifecycle.runtime.monitor.quality import Calibration, estimate

WEIGHTS = np.array([1.2, -0.8, 0.5, 0.0])


def draw(n: int, rng: np.random.Generator, mean: float = 0.0, scale: float = 1.0,
         weights: np.ndarray = WEIGHTS, flip: float = 0.0, interaction: float = 0.0
         ) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(mean, scale, (n, len(WEIGHTS)))
    logit = x @ weights - 1.0 + interaction * x[:, 0] * x[:, 1]  # a logistic model misses it
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    if flip:
        y = np.where(rng.random(n) < flip, 1 - y, y)
    return x, y


SCENARIOS = {
    "none": {},
    "covariate: mean +0.5 sd": {"mean": 0.5},
    "covariate: mean +1 sd": {"mean": 1.0},
    "covariate: mean +2 sd": {"mean": 2.0},
    "covariate: spread x1.5": {"scale": 1.5},
    "concept: weights move": {"weights": np.array([0.4, -0.8, 1.2, 0.6])},
    "concept: 10% labels flip": {"flip": 0.1},
    "concept: 25% labels flip": {"flip": 0.25},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--window", type=int, default=2000)
    ap.add_argument("--repetitions", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for world, interaction in (("the model matches the world", 0.0),
                               ("the model misses an interaction (x0*x1)", 0.6)):
        print(f"\n{world}: window {args.window} predictions, {args.repetitions} windows "
              "per scenario; |estimated - realised|: median / 95th percentile\n")
        table(args, interaction)


def table(args: argparse.Namespace, interaction: float) -> None:
    rng = np.random.default_rng(args.seed)
    x, y = draw(20_000, rng, interaction=interaction)
    model = LogisticRegression().fit(x, y)
    xe, ye = draw(5_000, rng, interaction=interaction)
    calibration = Calibration.fit(model.predict_proba(xe)[:, 1].tolist(), ye.tolist())
    print(f"{'scenario':<28}{'AUC real':>9}{'est':>7}{'|err| med':>11}{'p95':>7}"
          f"{'acc real':>10}{'est':>7}{'|err| med':>11}{'p95':>7}")
    for name, shift in SCENARIOS.items():
        auc_err, acc_err, aucs, est_aucs, accs, est_accs = [], [], [], [], [], []
        for _ in range(args.repetitions):
            xw, yw = draw(args.window, rng, interaction=interaction, **shift)  # type: ignore[arg-type]
            p = model.predict_proba(xw)[:, 1]
            got = estimate(p.tolist(), calibration)
            auc, acc = roc_auc_score(yw, p), accuracy_score(yw, p >= 0.5)
            aucs.append(auc)
            accs.append(acc)
            est_aucs.append(got["estimated_auc"])
            est_accs.append(got["estimated_accuracy"])
            auc_err.append(abs(got["estimated_auc"] - auc))  # type: ignore[operator]
            acc_err.append(abs(got["estimated_accuracy"] - acc))  # type: ignore[operator]

        def p95(v: list[float]) -> float:
            return float(np.quantile(v, 0.95))

        print(f"{name:<28}{statistics.median(aucs):>9.3f}{statistics.median(est_aucs):>7.3f}"
              f"{statistics.median(auc_err):>11.3f}{p95(auc_err):>7.3f}"
              f"{statistics.median(accs):>10.3f}{statistics.median(est_accs):>7.3f}"
              f"{statistics.median(acc_err):>11.3f}{p95(acc_err):>7.3f}")


if __name__ == "__main__":
    main()
