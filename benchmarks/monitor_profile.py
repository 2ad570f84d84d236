"""Where a monitored request's extra CPU goes, per row, in one process: the fraud spec's
detector monitors (tabular drift, IForest outliers) fitted as the monitor stage does,
then — on the example's evaluation rows — encoding a Router batch of 64 rows, scoring
whole windows, and pickling the batch the Router sends the Monitor (what Ray does to it).
CPU time (`time.process_time`), medians of `--repeats`; compare the sum with serve_floor's
L90M - L90 CPU per request (the rest is the Router -> Monitor calls themselves and the
scheduling of one more busy process).

    python -m examples.fraud.make_data
    python benchmarks/monitor_profile.py [--rows 5000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.monitor_overhead import fit_monitors  # noqa: E402

BATCH = 64  # the Router's batch to the Monitor (router.MONITOR_BATCH_ROWS)


def per_row_us(work, rows: int, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        work()
        times.append((time.process_time() - t0) / rows * 1e6)
    return statistics.median(times)


def main() -> None:
    import pyarrow.parquet as pq
    import ray.cloudpickle as cloudpickle

    from lifecycle.runtime.contract import AnsweredBatch

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    fitted, _, _ = fit_monitors(Path(tempfile.mkdtemp()))
    table = pq.read_table(ROOT / "examples/fraud/data/eval.parquet").drop_columns(["is_fraud"])
    base = table.to_pylist()
    rows = (base * (args.rows // len(base) + 1))[:args.rows]
    print(f"per row, CPU µs (median of {args.repeats}), {args.rows} rows")
    total = 0.0
    for f in fitted:
        enc = f.encoder
        encode = per_row_us(lambda enc=enc: [enc.rows(rows[i:i + BATCH])
                                             for i in range(0, len(rows), BATCH)],
                            len(rows), args.repeats)
        x = enc.rows(rows)
        size = int(f.params["window"])
        starts = range(0, len(x) - size + 1, size)
        detect = per_row_us(lambda f=f, x=x, size=size, starts=starts: [
            f.detect(x[i:i + size]) for i in starts], len(starts) * size, args.repeats)
        total += encode + detect
        print(f"  {f.params['name']:<14} {f.kind:<9} encode {encode:6.1f}  detect {detect:6.1f}"
              f"  (window {size})")
    batch = AnsweredBatch.model_construct(
        time=[1.0] * BATCH, request_id=["0123456789abcdef"] * BATCH, version=["1"] * BATCH,
        slot=["stable"] * BATCH, latency_ms=[1.0] * BATCH, logged=[False] * BATCH,
        rows=rows[:BATCH], row_of=list(range(BATCH)), row_index=[0] * BATCH,
        predictions=[0.1] * BATCH)
    pickling = per_row_us(lambda: [cloudpickle.loads(cloudpickle.dumps(batch))
                                   for _ in range(100)], 100 * BATCH, args.repeats)
    total += pickling
    print(f"  batch pickle + unpickle          {pickling:6.1f}")
    print(f"  total                            {total:6.1f} µs a row")


if __name__ == "__main__":
    main()
