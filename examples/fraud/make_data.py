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
        "channel": pa.DictionaryArray.from_arrays(
            pa.array(channel, pa.int8()), pa.array(CHANNELS)).cast(pa.string()),
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


# the violations `write_large` can plant, each in a column of its own
PLANTABLE = {"amount_below_min": "amount", "hour_above_max": "hour",
             "channel_outside": "channel", "merchant_risk_null": "merchant_risk"}


def write_large(path: Path, rows: int, planted: dict[str, int] | None = None,
                chunk: int = 1_000_000, seed: int = 7) -> dict[str, int]:
    """`rows` transactions in one uncompressed, plain-encoded Parquet file (about its
    size in memory on disk: ~47 bytes a row), written a chunk at a time, with exactly
    `planted[kind]` rows breaking the contract in each of the PLANTABLE ways (at random
    rows). One chunk of `make` is generated and written again and again (generating
    every row took most of the time): the file is as large, its rows less varied. For the
    bounded-memory tests and benchmarks; returns the planted counts."""
    import pyarrow.compute as pc

    planted = dict(planted or {})
    rng = np.random.default_rng(seed + 1)
    where = {kind: np.sort(rng.choice(rows, size=n, replace=False))
             for kind, n in planted.items()}
    base = make(min(chunk, rows), seed=seed)
    writer = None
    try:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            table = base.slice(0, n)
            for kind, positions in where.items():
                local = positions[(positions >= start) & (positions < start + n)] - start
                if not len(local):
                    continue
                column = PLANTABLE[kind]
                values = table.column(column).to_numpy(zero_copy_only=False).copy()
                mask = np.zeros(n, dtype=bool)
                mask[local] = True
                if kind == "amount_below_min":
                    values[local] = -1.0
                    array = pa.array(values)
                elif kind == "hour_above_max":
                    values[local] = 24
                    array = pa.array(values)
                elif kind == "channel_outside":
                    array = pc.if_else(pa.array(mask), "atm", table.column(column))
                else:
                    array = pa.array(values, mask=mask)
                table = table.set_column(table.schema.get_field_index(column), column, array)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="none",
                                          use_dictionary=False)
            writer.write_table(table, row_group_size=250_000)
    finally:
        if writer is not None:
            writer.close()
    return {kind: len(positions) for kind, positions in where.items()}


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
