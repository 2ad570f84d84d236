"""Benchmark: how fast is `lifecycle validate`?

Everything is a fresh `lifecycle` process, timed by wall clock, in interleaved rounds (each
round runs every variant once, so a noisy minute hits all of them); medians are printed,
with ratios against a baseline measured in the same rounds.

1. One spec, cold process: `lifecycle validate --no-cache specs/fraud.yaml` (nothing
   reused) and `lifecycle validate specs/fraud.yaml` answered from a primed cache, against
   `python -c "import yaml, pydantic"` — the floor any Python validator of YAML pays.
2. Many specs (1,000 by default: variations of the example specs written to a temporary
   folder), one process for all of them: `--no-cache` in worker processes (one per CPU),
   the same answered from the cache, against `--no-cache -j 1` (one process, no
   workers) as the baseline.

    python benchmarks/validate.py [--runs 15] [--specs 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIFECYCLE = [sys.executable, "-m", "lifecycle", "validate"]


def _time(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, check=False, capture_output=True, env=env)
    elapsed = time.perf_counter() - t
    if done.returncode not in (0, 1):
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd[:6])} ...\n"
                 f"{done.stdout[-2000:]!r}\n{done.stderr[-2000:]!r}")
    return elapsed


def _rounds(variants: dict[str, list[str]], rounds: int, env: dict[str, str]
            ) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, cmd in variants.items():
            times[name].append(_time(cmd, env))
    return times


def _report(title: str, times: dict[str, list[float]], baseline: str) -> None:
    base = statistics.median(times[baseline])
    print(title)
    for name, ts in times.items():
        m = statistics.median(ts)
        ratio = "" if name == baseline else f"   {m / base:.2f}x {baseline}"
        print(f"  {name:36s} median {m * 1000:8.0f} ms  (min {min(ts) * 1000:.0f}, "
              f"max {max(ts) * 1000:.0f}, n={len(ts)}){ratio}")


def cold(runs: int, env: dict[str, str]) -> None:
    spec = "specs/fraud.yaml"
    _time([*LIFECYCLE, spec], env)  # primes the cache for the cached variant
    times = _rounds({
        "baseline: import yaml, pydantic": [sys.executable, "-c", "import yaml, pydantic"],
        "validate --no-cache (cold)": [*LIFECYCLE, "--no-cache", spec],
        "validate (answered from the cache)": [*LIFECYCLE, spec],
    }, runs, env)
    _report("one spec, a fresh process each time:", times, "baseline: import yaml, pydantic")


def generate(folder: Path, n: int) -> list[str]:
    rng = random.Random(7)
    sources = [ROOT / "specs" / name for name in ("fraud.yaml", "churn-service.yaml",
                                                  "demand-batch.yaml")]
    texts = [p.read_text() for p in sources]
    folder.mkdir()
    paths = []
    for i in range(n):
        text = texts[i % 3]
        name = text.split("\nname: ", 1)[1].split("\n", 1)[0]
        text = text.replace(f"\nname: {name}\n", f"\nname: {name}-{i}\n")
        text = text.replace("description: ", f"description: variant {rng.random():.6f} ")
        p = folder / f"s{i:04d}.yaml"
        p.write_text(text)
        paths.append(str(p))
    return paths


def many(n: int, rounds: int, env: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as d:
        paths = generate(Path(d) / "specs", n)
        _time([*LIFECYCLE, *paths], env)  # primes the cache
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
        times = _rounds({
            "baseline: --no-cache -j 1 (one process)": [*LIFECYCLE, "--no-cache", "-j", "1",
                                                        *paths],
            f"--no-cache ({workers} workers)": [*LIFECYCLE, "--no-cache", *paths],
            "answered from the cache": [*LIFECYCLE, *paths],
        }, rounds, env)
    _report(f"{n} generated specs in one `lifecycle validate`:", times,
            "baseline: --no-cache -j 1 (one process)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15, help="rounds for one spec")
    ap.add_argument("--specs", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3, help="rounds for many specs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NO_COLOR="1", LIFECYCLE_CACHE_DIR=cache)
        print(f"machine: {os.cpu_count()} CPUs, load average "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        cold(args.runs, env)
        many(args.specs, args.rounds, env)


if __name__ == "__main__":
    main()
