"""Synthetic card transactions for the fraud example (made locally, nothing fetched).

    python -m examples.fraud.make_data [--rows 20000] [--out examples/fraud/data]

Writes train.parquet and eval.parquet (80/20) that meet the data contract in
specs/fraud.yaml. The label depends on the features through a known logistic model,
so a small network reaches an AUC around 0.9; `--shift` moves the amount and
merchant-risk distributions, for drift experiments.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CHANNELS = ("web", "pos", "app")


def make(rows: int, seed: int = 7, shift: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(mean=3.5 + shift, sigma=1.0, size=rows)
    merchant_risk = np.clip(rng.beta(2, 5, size=rows) + shift * 0.2, 0, 1)
    hour = rng.integers(0, 24, size=rows)
    account_age_days = rng.integers(0, 3650, size=rows)
    channel = rng.choice(len(CHANNELS), size=rows, p=[0.45, 0.35, 0.20])
    night = ((hour < 6) | (hour >= 23)).astype(float)
    logit = (-7.5 + 1.1 * np.log1p(amount) + 6.0 * merchant_risk + 2.5 * night
             - 0.0012 * account_age_days + 1.2 * (channel == 0))
    is_fraud = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pa.table({
        "amount": pa.array(amount, pa.float64()),
        "merchant_risk": pa.array(merchant_risk, pa.float64()),
        "hour": pa.array(hour, pa.int64()),
        "account_age_days": pa.array(account_age_days, pa.int64()),
        "channel": pa.array([CHANNELS[c] for c in channel], pa.string()),
        "is_fraud": pa.array(is_fraud, pa.int64()),
    })


def write(out: Path, rows: int, seed: int = 7, shift: float = 0.0) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    table = make(rows, seed, shift)
    cut = int(rows * 0.8)
    train, evaluation = out / "train.parquet", out / "eval.parquet"
    pq.write_table(table.slice(0, cut), train)
    pq.write_table(table.slice(cut), evaluation)
    return train, evaluation


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--shift", type=float, default=0.0)
    ap.add_argument("--out", type=Path, default=Path("examples/fraud/data"))
    args = ap.parse_args()
    train, evaluation = write(args.out, args.rows, args.seed, args.shift)
    print(f"wrote {train} and {evaluation} ({args.rows} rows, fraud rate "
          f"{make(args.rows, args.seed, args.shift).column('is_fraud').to_numpy().mean():.1%})")


if __name__ == "__main__":
    main()
