"""Benchmark: `lifecycle diff --git` on a repository of 100 specs with 10 changed.

Builds a git repository in a temporary folder (the three example specs copied to 100 specs
with their own names; the platform conf/ is lifecycle's own), commits it, edits 10 specs
(a gate lowered, a canary widened, a monitor's p_val, tuning budget, an outlier rate raised),
then times, alternating, each a fresh process:
  (a) `git diff HEAD` — the text diff a reviewer would otherwise read;
  (b) `lifecycle diff --git HEAD --format markdown`.
Prints medians, the ratio (b)/(a), and checks the diff found all 10 specs.

    python benchmarks/diff.py [--repeats 7] [--specs 100] [--changed 10]
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
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com",
       "-c", "commit.gpgsign=false"]

EDITS = [
    ("{metric: auc, min: 0.85}", "{metric: auc, min: 0.8}"),
    ("      - weight: 5\n", "      - weight: 20\n"),
    ("p_val: 0.01", "p_val: 0.001"),
    ("num_samples: 4", "num_samples: 16"),
    ("max_outlier_rate: 0.05", "max_outlier_rate: 0.2"),
]


def build(repo: Path, n_specs: int, n_changed: int) -> None:
    sources = [(ROOT / "specs" / n).read_text() for n in
               ("fraud.yaml", "churn-service.yaml", "demand-batch.yaml")]
    (repo / "specs").mkdir(parents=True)
    for i in range(n_specs):
        text = sources[i % 3]
        name = text.split("\nname: ", 1)[1].split("\n", 1)[0]
        (repo / "specs" / f"spec{i:03d}.yaml").write_text(
            text.replace(f"\nname: {name}\n", f"\nname: {name}-{i}\n"))
    subprocess.run([*GIT, "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", "base"], cwd=repo, check=True)
    changed = 0
    for i in range(0, n_specs, 3):  # fraud copies carry every edited key
        if changed == n_changed:
            break
        path = repo / "specs" / f"spec{i:03d}.yaml"
        before, after = EDITS[changed % len(EDITS)]
        path.write_text(path.read_text().replace(before, after, 1))
        changed += 1
    if changed != n_changed:
        sys.exit(f"only {changed} specs could be changed; use more specs")


def timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                       env=dict(os.environ, NO_COLOR="1"))
    elapsed = time.perf_counter() - t
    if r.returncode not in (0, 1):
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return elapsed, r.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--specs", type=int, default=100)
    ap.add_argument("--changed", type=int, default=10)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lifecycle-diff-bench-"))
    try:
        repo = tmp / "repo"
        build(repo, args.specs, args.changed)
        lifecycle = [sys.executable, "-m", "lifecycle", "diff", "--git", "HEAD"]
        _, out = timed([*lifecycle, "--format", "json"], repo)
        found = json.loads(out)["specs"]
        assert len(found) == args.changed, f"diff found {len(found)} specs, not {args.changed}"
        git_t, ours_t = [], []
        for _ in range(args.repeats):
            git_t.append(timed(["git", "diff", "HEAD"], repo)[0])
            ours_t.append(timed([*lifecycle, "--format", "markdown"], repo)[0])
        mg, mo = statistics.median(git_t), statistics.median(ours_t)
        print(json.dumps({"specs": args.specs, "changed": args.changed,
                          "repeats": args.repeats, "git_diff_median_s": round(mg, 4),
                          "lifecycle_diff_median_s": round(mo, 3),
                          "lifecycle_diff_max_s": round(max(ours_t), 3),
                          "ratio": round(mo / mg, 1)}))
        print(f"lifecycle diff --git: median {mo:.2f} s (target ≤ 1 s), "
              f"{mo / mg:.0f}x git diff ({mg * 1000:.0f} ms)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
