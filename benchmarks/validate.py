"""Benchmark: how fast is `lifecycle validate`?

1. Cold CLI: `lifecycle validate specs/fraud.yaml` as a fresh process, against a baseline
   process measured in the same run (`python -c "import yaml, pydantic"` — the floor any
   Python validator of YAML pays), N times each, interleaved. Prints medians and ratio.
2. Warm, in one process: 1,000 generated specs (variations of the example specs written
   to a temp folder) validated with lifecycle.api.validate_one. Prints the median per
   spec and the total.

    python benchmarks/validate.py [--runs 15] [--specs 1000]
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


def _time(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=False, capture_output=True,
                   env=dict(os.environ, NO_COLOR="1"))
    return time.perf_counter() - t


def cold(runs: int) -> None:
    cli = [sys.executable, "-m", "lifecycle", "validate", "specs/fraud.yaml"]
    base = [sys.executable, "-c", "import yaml, pydantic"]
    ours, floor = [], []
    for _ in range(runs):
        ours.append(_time(cli))
        floor.append(_time(base))
    m_ours, m_floor = statistics.median(ours), statistics.median(floor)
    print(f"cold validate (1 spec): median {m_ours*1000:.0f} ms over {runs} runs")
    print(f"baseline python -c 'import yaml, pydantic': median {m_floor*1000:.0f} ms")
    print(f"ratio cold validate / baseline: {m_ours/m_floor:.2f}x")


def generated(n: int) -> None:
    sys.path.insert(0, str(ROOT))
    from lifecycle.api import validate_one

    rng = random.Random(7)
    sources = [ROOT / "specs" / n_ for n_ in ("fraud.yaml", "churn-service.yaml",
                                              "demand-batch.yaml")]
    texts = [p.read_text() for p in sources]
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "specs"
        folder.mkdir()
        paths = []
        for i in range(n):
            text = texts[i % 3]
            name = text.split("\nname: ", 1)[1].split("\n", 1)[0]
            text = text.replace(f"\nname: {name}\n", f"\nname: {name}-{i}\n")
            text = text.replace("description: ", f"description: variant {rng.random():.6f} ")
            p = folder / f"s{i:04d}.yaml"
            p.write_text(text)
            paths.append(p)
        cwd = os.getcwd()
        os.chdir(ROOT)
        try:
            per: list[float] = []
            failures = 0
            t0 = time.perf_counter()
            for p in paths:
                t = time.perf_counter()
                r = validate_one(p)
                per.append(time.perf_counter() - t)
                failures += bool(r.errors)
            total = time.perf_counter() - t0
        finally:
            os.chdir(cwd)
    print(f"{n} generated specs in one process: total {total:.1f} s, median "
          f"{statistics.median(per)*1000:.1f} ms/spec, p90 "
          f"{sorted(per)[int(0.9*len(per))]*1000:.1f} ms/spec ({failures} failed validation)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--specs", type=int, default=1000)
    args = ap.parse_args()
    cold(args.runs)
    generated(args.specs)


if __name__ == "__main__":
    main()
