"""Benchmark: what does lifecycle add to a Ray workload?

Runs, alternating, in the same session:
  (a) benchmarks/handwritten_fraud.py — data -> tune written by hand against Ray;
  (b) `lifecycle run specs/fraud.yaml --force` with the same data, trials and resources
      (lifecycle also evaluates, checks gates, registers the model in MLflow and writes
      its journal: that work is included, not subtracted).
Each as a fresh process (Ray start-up included in both). Prints medians and the ratio.

    python -m examples.fraud.make_data && python benchmarks/run_overhead.py [--repeats 3]
        [--num-samples 4 --epochs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, NO_COLOR="1"))
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--num-samples", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args()
    if not (ROOT / "examples/fraud/data/train.parquet").exists():
        sys.exit("run: python -m examples.fraud.make_data")
    from examples.approvers.sign import sign_copy

    hand, ours = [], []
    for i in range(args.repeats):
        tmp = tempfile.mkdtemp()
        try:
            hand.append(timed([sys.executable, "benchmarks/handwritten_fraud.py",
                               "--num-samples", str(args.num_samples), "--epochs",
                               str(args.epochs), "--storage", f"{tmp}/hw"]))
            changes = [f"tune.num_samples={args.num_samples}",
                       f"train.config.epochs={args.epochs}",
                       f"tune.scheduler.max_t={args.epochs}",
                       # time the work, not the model's luck: the gate always passes
                       "evaluate.gates=[{metric: auc, min: 0.5}]",
                       # the scope (data -> register): the monitor stage
                       # (fitting drift detectors) has no hand-written counterpart
                       "~monitors"]
            # a changed high-risk spec runs once its changes are approved (example keys)
            spec = sign_copy(ROOT / "specs/fraud.yaml", Path(tmp) / "approved", changes)
            ours.append(timed([sys.executable, "-m", "lifecycle", "run", str(spec), *changes,
                               "--force", "--store", f"{tmp}/store"]))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"repeat {i + 1}: hand-written {hand[-1]:.1f} s, lifecycle run {ours[-1]:.1f} s",
              flush=True)
    mh, mo = statistics.median(hand), statistics.median(ours)
    print(json.dumps({"repeats": args.repeats, "hand_written_median_s": round(mh, 1),
                      "lifecycle_median_s": round(mo, 1), "ratio": round(mo / mh, 3)}))
    print(f"wall-time ratio lifecycle run / hand-written Ray: {mo / mh:.2f}x "
          f"(median of {args.repeats}; target <= 1.10)")


if __name__ == "__main__":
    main()
