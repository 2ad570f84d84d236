"""Benchmark: the data stage's throughput and memory, whole-table vs streamed vs Ray Data.

Generates one Parquet source (examples.fraud.make_data.write_large: the fraud schema,
uncompressed and plain-encoded, ~47 bytes a row on disk, violations planted) and checks
its contract, learns the feature statistics and digests it, in fresh processes,
alternating, each mode `--repeats` times:

  whole     the previous data stage: the source read into one table, checked, digested
            (sha256 over the file read again)
  stream    record batches from pyarrow's scanner counted by a ContractTally; the digest
            by digest_source (files hashed in parallel threads)
  ray-data  the same tally in Ray Data tasks on a local Ray started by the process
            (`ray.init` excluded from the time; the workers' memory is not the driver's)

Prints, per mode, the median seconds of the check and of the digest, MB/s over the
source's bytes (check + digest), and the driver's peak RSS (ru_maxrss), and checks that
every mode found exactly the planted violations.

    flock /tmp/lifecycle-heavy.lock nice -n 10 python benchmarks/data_stage.py \
        [--mb 1024] [--repeats 3] [--modes whole,stream,ray-data]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONTRACT = {"label": "is_fraud", "label_type": "int", "min_rows": 1, "features": {
    "amount": {"type": "float", "min": 0.0, "max": None, "categories": None,
               "max_null_fraction": 0.0},
    "merchant_risk": {"type": "float", "min": 0.0, "max": 1.0, "categories": None,
                      "max_null_fraction": 0.0},
    "hour": {"type": "int", "min": 0.0, "max": 23.0, "categories": None,
             "max_null_fraction": 0.0},
    "account_age_days": {"type": "int", "min": 0.0, "max": None, "categories": None,
                         "max_null_fraction": 0.0},
    "channel": {"type": "category", "min": None, "max": None,
                "categories": ["web", "pos", "app"], "max_null_fraction": 0.0}}}
PLANTED = {"amount_below_min": 1234, "hour_above_max": 567, "channel_outside": 89,
           "merchant_risk_null": 42}


def child(mode: str, path: str) -> dict[str, Any]:
    from lifecycle.execute.contract import (
        ContractTally,
        check_contract,
        feature_info,
        open_source,
        read_table,
        tally_source,
    )
    from lifecycle.execute.digest import digest_source, file_sha256

    source = {"path": path}
    if mode == "ray-data":
        import ray

        ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False,
                 log_to_driver=False, object_store_memory=512 * 1024 * 1024)
    t0 = time.perf_counter()
    if mode == "whole":
        table = read_table(source, "/")
        violations = check_contract(table, CONTRACT, "data.train")
        feature_info(table, CONTRACT)
        rows = table.num_rows
        del table
        checked = time.perf_counter()
        import pyarrow.fs as pafs

        file_sha256(pafs.LocalFileSystem(), path)
    else:
        opened = open_source(source, "/")
        if mode == "stream":
            tally = tally_source(opened, source, CONTRACT)
        else:
            from lifecycle.execute.datasets import tally_with_ray_data

            started = ContractTally.start(CONTRACT, opened.dataset.schema)
            result = tally_with_ray_data(opened, source, started)
            assert result is not None
            tally = result
        violations = tally.violations("data.train")
        tally.feature_info()
        rows = tally.rows
        checked = time.perf_counter()
        digest_source(opened, path)
    done = time.perf_counter()
    return {"check_s": checked - t0, "digest_s": done - checked, "rows": rows,
            "violations": {f"{v.column}/{v.rule}": v.offending for v in violations}}


def run_child(mode: str, path: str) -> dict[str, Any]:
    """Run a child and take its peak RSS from wait4 (its own rusage, not ours)."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([sys.executable, __file__, "--child", mode, "--path", path],
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode:
        sys.exit(f"{mode} failed:\n{text[-3000:]}")
    result: dict[str, Any] = json.loads(text.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=1024, help="size of the generated source")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--modes", default="whole,stream,ray-data")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.path)))
        return
    from examples.fraud.make_data import write_large

    modes = args.modes.split(",")
    with tempfile.TemporaryDirectory(prefix="lifecycle-bench-data-") as tmp:
        path = Path(tmp) / "source.parquet"
        rows = args.mb * 1024 * 1024 // 47
        t = time.perf_counter()
        planted = write_large(path, rows, PLANTED)
        size = path.stat().st_size
        print(f"source: {rows:,} rows, {size / 2**20:,.0f} MiB on disk, written in "
              f"{time.perf_counter() - t:.1f} s; {os.cpu_count()} CPUs")
        expected = {"amount/min 0": planted["amount_below_min"],
                    "hour/max 23": planted["hour_above_max"],
                    "channel/categories": planted["channel_outside"],
                    "merchant_risk/max_null_fraction 0": planted["merchant_risk_null"]}
        results: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
        for _ in range(args.repeats):
            for mode in modes:
                r = run_child(mode, str(path))
                assert r["violations"] == expected, (mode, r["violations"], expected)
                assert r["rows"] == rows, (mode, r["rows"])
                results[mode].append(r)
                print(f"  {mode:9s} check {r['check_s']:6.2f} s  digest {r['digest_s']:5.2f} s"
                      f"  peak RSS {r['peak_rss_mb']:6.0f} MiB", flush=True)
        mb = size / 2**20
        print("\n| mode | check s | digest s | MB/s (check+digest) | MB/s (check) | "
              "driver peak RSS MiB |\n| --- | --- | --- | --- | --- | --- |")
        for mode in modes:
            check = statistics.median(r["check_s"] for r in results[mode])
            digest = statistics.median(r["digest_s"] for r in results[mode])
            peak = max(r["peak_rss_mb"] for r in results[mode])
            print(f"| {mode} | {check:.2f} | {digest:.2f} | {mb / (check + digest):.0f} | "
                  f"{mb / check:.0f} | {peak:.0f} |")
        print(f"\nmedians of {args.repeats}; every mode counted exactly the planted "
              f"violations ({planted})")


if __name__ == "__main__":
    main()
