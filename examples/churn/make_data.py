"""Synthetic subscriber data for the churn example (made locally, nothing fetched).

    python -m examples.churn.make_data [--rows 8000] [--out examples/churn/data]

Writes train.parquet and eval.parquet (80/20) that meet the data contract in
specs/churn-service.yaml. Churn depends on the features through a known logistic model
with an interaction (short tenure on the basic plan), so gradient-boosted trees reach an
AUC around 0.8.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

PLANS = ("basic", "plus", "pro")


def make(rows: int, seed: int = 11) -> pa.Table:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 72, size=rows)
    plan = rng.choice(len(PLANS), size=rows, p=[0.5, 0.3, 0.2])
    spend = np.round(rng.gamma(4.0, 8.0, size=rows) + 15.0 * plan, 2)
    tickets = rng.poisson(1.0 + 1.5 * (plan == 0), size=rows)
    logit = (1.2 - 0.06 * tenure + 0.5 * tickets - 0.01 * spend
             + 1.5 * ((tenure < 12) & (plan == 0)))
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pa.table({
        "tenure_months": pa.array(tenure, pa.int64()),
        "monthly_spend": pa.array(spend, pa.float64()),
        "support_tickets": pa.array(tickets, pa.int64()),
        "plan": pa.array([PLANS[p] for p in plan], pa.string()),
        "churned": pa.array(churned, pa.int64()),
    })


def write(out: Path, rows: int, seed: int = 11) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    table = make(rows, seed)
    cut = int(rows * 0.8)
    train, evaluation = out / "train.parquet", out / "eval.parquet"
    pq.write_table(table.slice(0, cut), train)
    pq.write_table(table.slice(cut), evaluation)
    return train, evaluation


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=8_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=Path("examples/churn/data"))
    args = ap.parse_args()
    train, evaluation = write(args.out, args.rows, args.seed)
    print(f"wrote {train} and {evaluation} ({args.rows} rows, churn rate "
          f"{make(args.rows, args.seed).column('churned').to_numpy().mean():.1%})")


if __name__ == "__main__":
    main()
