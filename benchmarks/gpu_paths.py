"""GPU paths: the train stage on Ray Train with `use_gpu: true`, and a Serve replica
placed with the plan's `num_gpus`, each against the same work on CPU in the same run.

Needs a machine with a GPU (CI has none; this is run by hand and its output kept in
benchmarks/results/). MLflow is not needed: the train stage's executor runs on its own
with the data stage's output, as the runner would hand it over.

    python benchmarks/gpu_paths.py --rows 400000 --epochs 3 --out gpu.json

What it checks, besides timing: the compiled plan asks Ray for the GPU (worker resources,
the Model deployment's ray_actor_options), the training loop ran on `cuda` (the
checkpoint says where it was trained), and the served model scored on `cuda` inside the
replica Ray gave the GPU to.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def compile_plan(overrides: list[str]) -> Any:
    """The example's plan with these overrides, approved for them by the example
    approvers (a changed high-risk spec needs fresh approvals)."""
    import tempfile

    from examples.approvers.sign import sign_copy
    from lifecycle import api

    spec = sign_copy(ROOT / "specs" / "fraud.yaml", Path(tempfile.mkdtemp()), overrides)
    return api.compile_spec(spec, overrides)


def train_once(use_gpu: bool, args: argparse.Namespace, store: str) -> dict[str, Any]:
    from lifecycle.execute.context import StageContext
    from lifecycle.execute.executors import data, train
    from lifecycle.execute.options import RunOptions
    from lifecycle.store import Store

    plan = compile_plan(["~tune", f"train.scaling.use_gpu={str(use_gpu).lower()}",
                         f"train.scaling.num_workers={args.workers}",
                         f"train.config.epochs={args.epochs}",
                         f"train.config.batch_size={args.batch_size}",
                         f"train.config.hidden={args.hidden}"])
    stages = {s.kind: s for s in plan.stages}
    ctx = StageContext(plan=plan, options=RunOptions(project_root=ROOT, store=store),
                       store=Store(store), run_id=f"gpu-{int(use_gpu)}-{int(time.time())}",
                       root=str(ROOT))
    ctx.upstream["data"] = data.run(stages["data"], ctx)
    start = time.perf_counter()
    out = train.run(stages["train"], ctx)
    seconds = time.perf_counter() - start
    meta = json.loads((Path(out["checkpoint"]) / "meta.json").read_text())
    return {"use_gpu": use_gpu, "train_stage_s": round(seconds, 1),
            "trained_on": meta.get("trained_on"), "val_auc": out["metrics"].get("val_auc"),
            "gpus_per_worker": stages["train"].train.gpus_per_worker,
            "checkpoint": out["checkpoint"]}


def serve_once(num_gpus: float, checkpoint: str, args: argparse.Namespace) -> dict[str, Any]:
    """One replica with the Model deployment's ray_actor_options from the compiled plan,
    scoring with the example's own loader (what the registered pyfunc calls)."""
    import pyarrow as pa
    from ray import serve

    from examples.fraud.make_data import make

    plan = compile_plan([f"serve.resources.num_gpus={num_gpus}"])
    model_dep = next(d for d in plan.serve_config["applications"][0]["deployments"]
                     if str(d["name"]).startswith("Model_"))
    actor = dict(model_dep["ray_actor_options"])

    @serve.deployment(ray_actor_options=actor, max_ongoing_requests=8)
    class Scorer:
        def __init__(self, checkpoint_dir: str) -> None:
            import torch

            from examples.fraud.model import load

            self.score = load(checkpoint_dir)
            self.device = "cuda" if torch.cuda.is_available() else "cpu"

        def where(self) -> str:
            return self.device

        def __call__(self, rows: dict[str, list[Any]]) -> int:
            return len(self.score(pa.table(rows)))

    name = f"gpu-bench-{int(num_gpus * 100)}"
    handle = serve.run(Scorer.bind(checkpoint), name=name, route_prefix=None)
    table = make(args.serve_rows, seed=11)
    rows = {c: table.column(c).to_pylist() for c in table.column_names}
    device = handle.where.remote().result()
    for _ in range(10):  # warm-up (CUDA context, kernels)
        handle.remote(rows).result()
    times = []
    for _ in range(args.requests):
        start = time.perf_counter()
        handle.remote(rows).result()
        times.append(time.perf_counter() - start)
    serve.delete(name)
    times.sort()
    return {"num_gpus": num_gpus, "actor_options": actor, "scored_on": device,
            "rows_per_request": args.serve_rows,
            "p50_ms": round(1000 * statistics.median(times), 2),
            "p99_ms": round(1000 * times[int(0.99 * (len(times) - 1))], 2),
            "rows_per_s": round(args.serve_rows / statistics.median(times))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=400_000, help="rows of training data")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--serve-rows", type=int, default=4096, help="rows per request")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = ap.parse_args()

    import ray
    import torch

    from examples.fraud.make_data import write

    if not torch.cuda.is_available():
        sys.exit("gpu_paths.py needs a GPU (torch.cuda.is_available() is false)")
    write(ROOT / "examples" / "fraud" / "data", args.rows)
    ray.init(include_dashboard=False, runtime_env={"env_vars": {
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "RAY_DATA_DISABLE_PROGRESS_BARS": "1"}})
    report: dict[str, Any] = {"gpu": torch.cuda.get_device_name(0),
                              "torch": torch.__version__, "ray": ray.__version__,
                              "args": {k: v for k, v in vars(args).items() if k != "out"}}
    with tempfile.TemporaryDirectory() as store:
        report["train"] = [train_once(False, args, store), train_once(True, args, store)]
        cpu, gpu = report["train"]
        report["train_speedup"] = round(cpu["train_stage_s"] / gpu["train_stage_s"], 2)
        checkpoint = gpu["checkpoint"]
        report["serve"] = [serve_once(0.0, checkpoint, args), serve_once(1.0, checkpoint, args)]
        report["serve_p50_ratio_gpu_over_cpu"] = round(
            report["serve"][1]["p50_ms"] / report["serve"][0]["p50_ms"], 2)
    ray.shutdown()
    for t in report["train"]:
        t.pop("checkpoint")
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)
    ok = (report["train"][1]["trained_on"] == "cuda"
          and report["serve"][1]["scored_on"] == "cuda"
          and report["serve"][0]["scored_on"] == "cpu")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
