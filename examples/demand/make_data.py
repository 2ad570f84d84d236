"""Synthetic weekly store demand for the low-risk batch example (CSV, made locally).

    python -m examples.demand.make_data [--rows 3000] [--out examples/demand/data]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv


def make(rows: int, seed: int = 11) -> pa.Table:
    rng = np.random.default_rng(seed)
    store_size = rng.uniform(200, 2000, rows)
    week = rng.integers(1, 54, rows)
    promo = rng.random(rows) < 0.3
    units = (50 + 0.05 * store_size + 10 * promo + 8 * np.sin(week / 53 * 2 * np.pi)
             + rng.normal(0, 8, rows))
    return pa.table({"store_size": store_size, "week_of_year": week.astype(np.int64),
                     "promo": promo, "units": units})


def write(out: Path, rows: int = 3000, seed: int = 11) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    table = make(rows, seed)
    cut = int(rows * 0.8)
    train, evaluation = out / "train.csv", out / "eval.csv"
    pacsv.write_csv(table.slice(0, cut), train)
    pacsv.write_csv(table.slice(cut), evaluation)
    return train, evaluation


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--out", type=Path, default=Path("examples/demand/data"))
    a = ap.parse_args()
    print("wrote", *write(a.out, a.rows))
