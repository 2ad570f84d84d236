"""Benchmark: what the Router costs a caller.

Same machine, same run, same model version (the fraud example, trained and registered by
`lifecycle run` into a temporary store), the same concurrent HTTP load against:
  (a) the idiomatic two-hop Ray Serve composition: an ingress deployment that parses
      JSON and calls one model deployment (2 replicas, as many as (b) has over its two
      slots) through a handle (no split);
  (b) lifecycle's Router with a 90/10 split (both slots serve the same version, so
      only the routing differs);
  (c) (b) plus a 100% shadow copy of every request to the other slot.
Prints p50/p99 latency and throughput per setup and the ratios (b)/(a), (c)/(b).
Targets: (b) p50 <= 1.15x and throughput >= 0.85x of (a); shadow adds <= 5% to p50.

    python -m examples.fraud.make_data && python benchmarks/serve_router.py \
        [--requests 2000] [--concurrency 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
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

BASELINE_APP = "bench-baseline"
OURS_APP = "bench-router"


def register_model(tmp: Path) -> tuple[str, str]:
    """Train and register the fraud model once (small settings); returns (uri, version)."""
    tracking = f"sqlite:///{tmp}/mlflow.db"
    cmd = [sys.executable, "-m", "lifecycle", "run", "specs/fraud.yaml", "~tune", "~serve",
           "train.config.epochs=1", "evaluate.gates=[{metric: auc, min: 0.5}]",
           "--store", str(tmp / "store"), "--tracking-uri", tracking]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, NO_COLOR="1"))
    if r.returncode != 0:
        sys.exit(f"training failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    from mlflow.tracking import MlflowClient

    version = MlflowClient(tracking).get_model_version_by_alias("fraud-detector", "challenger")
    return tracking, str(version.version)


def start_serve(port: int) -> None:
    """A local Ray (the working tree importable by replicas) and Serve on `port`."""
    import ray
    from ray import serve

    ray.init(address="local", include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    serve.start(http_options={"host": "127.0.0.1", "port": port})


def without_monitor(serve_config: dict[str, Any]) -> dict[str, Any]:
    """The plan's Serve config without the Monitor deployment (measured on its own in
    benchmarks/monitor_overhead.py)."""
    app = serve_config["applications"][0]
    app = {**app, "args": {**app["args"], "monitor": False},
           "deployments": [d for d in app["deployments"] if d["name"] != "Monitor"]}
    return {**serve_config, "applications": [app]}


def load(url: str, rows: list[dict[str, Any]], n: int, concurrency: int,
         per_request: int = 1) -> dict[str, float]:
    import requests

    session_per_thread: dict[int, Any] = {}

    def one(i: int) -> tuple[float, int]:
        import threading

        s = session_per_thread.setdefault(threading.get_ident(), requests.Session())
        t = time.perf_counter()
        body = [rows[(i * per_request + k) % len(rows)] for k in range(per_request)]
        r = s.post(url, json={"rows": body}, timeout=60)
        return (time.perf_counter() - t) * 1000, r.status_code

    for i in range(50):  # warm-up
        one(i)
    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(n)))
    wall = time.perf_counter() - t0
    lat = sorted(ms for ms, _ in results)
    failed = sum(1 for _, code in results if code != 200)
    return {"p50_ms": lat[len(lat) // 2], "p99_ms": lat[int(len(lat) * 0.99)],
            "rps": n / wall, "failed": failed}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not (ROOT / "examples/fraud/data/train.parquet").exists():
        sys.exit("run: python -m examples.fraud.make_data")
    tmp = Path(tempfile.mkdtemp(prefix="lifecycle-serve-bench-"))
    tracking, version = register_model(tmp)

    import ray
    from ray import serve

    from examples.fraud.make_data import make
    from lifecycle.api import compile_spec
    from lifecycle.execute.executors.deploy import application_config
    from lifecycle.runtime.serve import control

    port = 8123
    start_serve(port)
    rows = make(500, seed=9).drop_columns(["is_fraud"]).to_pylist()
    plan = compile_spec(ROOT / "specs/fraud.yaml", ["serve.autoscaling=null", "serve.replicas=1",
                                                    "serve.resources.num_cpus=0.3"])
    versions = {"stable": version, "candidate": version}
    ours = application_config(without_monitor(plan.serve_config or {}), "fraud-detector",
                              versions, tracking)
    ours["name"], ours["route_prefix"] = OURS_APP, "/ours"

    def set_router(weights: dict[str, float], shadow: dict[str, Any] | None) -> None:
        for d in ours["deployments"]:
            if d["name"] == "Router":
                d["user_config"] = {**d["user_config"], "weights": weights, "shadow": shadow}

    model_cfg = next(d for d in ours["deployments"] if d["name"] == "Model_stable")
    baseline = {"name": BASELINE_APP, "route_prefix": "/baseline",
                "import_path": "benchmarks.serve_baseline:app",
                # the ingress is async, like our Router: the same concurrency limit
                "deployments": [{"name": "Ingress", "num_replicas": 1,
                                 "max_ongoing_requests": 256,
                                 "ray_actor_options": {"num_cpus": 0.1}},
                                # as many model replicas as (b) has: one per slot
                                {"name": "Model", "num_replicas": 2,
                                 "ray_actor_options": model_cfg["ray_actor_options"],
                                 "user_config": model_cfg["user_config"]}]}
    setups = {
        "a_two_hop": (baseline, f"http://127.0.0.1:{port}/baseline", None),
        "b_router_90_10": (ours, f"http://127.0.0.1:{port}/ours",
                           ({"stable": 90.0, "candidate": 10.0}, None)),
        "c_router_shadow": (ours, f"http://127.0.0.1:{port}/ours",
                            ({"stable": 90.0, "candidate": 10.0},
                             {"target": "candidate", "fraction": 1.0, "max_queued": 100})),
    }
    measured: dict[str, list[dict[str, float]]] = {k: [] for k in setups}
    try:
        for r in range(args.rounds):
            for name, (app, url, router) in setups.items():
                if router is not None:
                    set_router(*router)
                control.deploy(app)
                status = control.wait_running(app["name"], 300)
                if not status.endswith("RUNNING"):
                    sys.exit(f"{app['name']} did not start: {status}")
                time.sleep(1.0)
                m = load(url, rows, args.requests, args.concurrency)
                measured[name].append(m)
                print(f"round {r + 1} {name}: p50 {m['p50_ms']:.1f} ms, p99 "
                      f"{m['p99_ms']:.1f} ms, {m['rps']:.0f} req/s, failed {m['failed']}",
                      flush=True)
    finally:
        control.delete(BASELINE_APP)
        control.delete(OURS_APP)
        serve.shutdown()
        ray.shutdown()
    med = {k: {f: statistics.median(x[f] for x in v) for f in v[0]} for k, v in measured.items()}
    a, b, c = med["a_two_hop"], med["b_router_90_10"], med["c_router_shadow"]
    ratios = {"b_p50_vs_a": b["p50_ms"] / a["p50_ms"], "b_rps_vs_a": b["rps"] / a["rps"],
              "c_p50_vs_b": c["p50_ms"] / b["p50_ms"], "c_rps_vs_b": c["rps"] / b["rps"]}
    print(json.dumps({"medians": med, "ratios": {k: round(v, 3) for k, v in ratios.items()},
                      "requests": args.requests, "concurrency": args.concurrency,
                      "rounds": args.rounds}, indent=2))
    print(f"router 90/10 vs two-hop: p50 {ratios['b_p50_vs_a']:.2f}x (target <= 1.15), "
          f"throughput {ratios['b_rps_vs_a']:.2f}x (target >= 0.85); shadow adds "
          f"{(ratios['c_p50_vs_b'] - 1) * 100:+.0f}% to p50 (target <= +5%)")


if __name__ == "__main__":
    main()
