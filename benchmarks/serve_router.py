"""Benchmark: what the Router costs a caller.

Same machine, same run, same model version (the fraud example, trained and registered by
`lifecycle run` into a temporary store), the same concurrent HTTP load against:
  (a) the idiomatic two-hop Ray Serve composition: an ingress deployment that parses
      JSON and calls one model deployment (2 replicas, as many as (b) has over its two
      slots) through a handle (no split);
  (b) lifecycle's Router with a 90/10 split (both slots serve the same version, so
      only the routing differs);
  (c) (b) plus a 100% shadow copy of every request to the other slot;
  (b50) the Router with a 50/50 split: its own cost without the 90/10 imbalance;
and (b), (c) again at a moderate fixed arrival rate (open loop, `--moderate-rps`), where
the CPU has room. Shadow yields to real traffic (no copies while callers fill every slot,
copies only into the target's spare slots), so the share of requests actually compared
is printed beside (c).
Prints p50/p99 latency and throughput per setup and the ratios (b)/(a), (c)/(b).
Targets: (b) p50 <= 1.15x and throughput >= 0.85x of (a); shadow adds <= 5% to p50.

    python -m examples.fraud.make_data && python benchmarks/serve_router.py \
        [--requests 2000] [--concurrency 16] [--moderate-rps 10] [--rounds 3] \
        [--setups b_moderate,c_moderate]
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
    from examples.approvers.sign import sign_copy

    tracking = f"sqlite:///{tmp}/mlflow.db"
    small = ["~tune", "~serve", "~monitors.2", "~slos", "train.config.epochs=1",
             "evaluate.gates=[{metric: auc, min: 0.5}]"]
    spec = sign_copy(ROOT / "specs/fraud.yaml", tmp / "approved", small)  # approved as run
    cmd = [sys.executable, "-m", "lifecycle", "run", str(spec), *small,
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
         per_request: int = 1, warmup: int = 50, rate: float | None = None
         ) -> dict[str, float]:
    """n requests from `concurrency` callers, each sending its next request when the last
    is answered (closed loop) or, with `rate`, request i sent at i/rate seconds (open loop:
    a fixed arrival rate, as live traffic arrives)."""
    import requests

    session_per_thread: dict[int, Any] = {}
    start = [0.0]

    def one(i: int) -> tuple[float, int]:
        import threading

        s = session_per_thread.setdefault(threading.get_ident(), requests.Session())
        if rate is not None:
            time.sleep(max(0.0, start[0] + i / rate - time.perf_counter()))
        t = time.perf_counter()
        body = [rows[(i * per_request + k) % len(rows)] for k in range(per_request)]
        r = s.post(url, json={"rows": body}, timeout=60)
        return (time.perf_counter() - t) * 1000, r.status_code

    for i in range(warmup):
        one(i)
    t0 = start[0] = time.perf_counter()
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
    ap.add_argument("--moderate-rps", type=float, default=10.0,
                    help="arrival rate of the moderate-load pair of (b) and (c) (open loop)")
    ap.add_argument("--moderate-requests", type=int, default=600)
    ap.add_argument("--setups", default="",
                    help="comma-separated setups to run (default: all)")
    args = ap.parse_args()
    if not (ROOT / "examples/fraud/data/train.parquet").exists():
        sys.exit("run: python -m examples.fraud.make_data")
    tmp = Path(tempfile.mkdtemp(prefix="lifecycle-serve-bench-"))
    tracking, version = register_model(tmp)

    import ray
    from ray import serve

    from examples.approvers.sign import sign_copy
    from examples.fraud.make_data import make
    from lifecycle.api import compile_spec
    from lifecycle.execute.executors.deploy import application_config
    from lifecycle.runtime.contract import Slot
    from lifecycle.runtime.serve import control

    port = 8123
    start_serve(port)
    rows = make(500, seed=9).drop_columns(["is_fraud"]).to_pylist()
    small = ["serve.autoscaling=null", "serve.replicas=1", "serve.resources.num_cpus=0.3"]
    plan = compile_spec(sign_copy(ROOT / "specs/fraud.yaml", tmp / "approved", small), small)
    versions = {Slot.STABLE: version, Slot.CANDIDATE: version}
    ours = application_config(without_monitor(plan.serve_config or {}), "fraud-detector",
                              versions, tracking)
    ours["name"], ours["route_prefix"] = OURS_APP, "/ours"

    def shadow_counts() -> dict[str, int]:
        return control.router(OURS_APP).stats.remote().result().shadow.model_dump()  # type: ignore[no-any-return]

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
    split = {"stable": 90.0, "candidate": 10.0}
    shadow = {"target": "candidate", "fraction": 1.0, "max_queued": 100}
    ours_url = f"http://127.0.0.1:{port}/ours"
    heavy, rate = args.concurrency, args.moderate_rps
    setups = {
        "a_two_hop": (baseline, f"http://127.0.0.1:{port}/baseline", None, heavy),
        "b_router_90_10": (ours, ours_url, (split, None), heavy),
        "c_router_shadow": (ours, ours_url, (split, shadow), heavy),
        # the router's own cost, without the 90/10 imbalance (one slot's replica serving
        # 90% while (a) balances over its two)
        "b_router_50_50": (ours, ours_url, ({"stable": 50.0, "candidate": 50.0}, None), heavy),
        # a fixed arrival rate well below saturation (~40 req/s here): the CPU has room
        "b_moderate": (ours, ours_url, (split, None), None),
        "c_moderate": (ours, ours_url, (split, shadow), None),
    }
    if args.setups:
        setups = {k: v for k, v in setups.items() if k in args.setups.split(",")}
    measured: dict[str, list[dict[str, float]]] = {k: [] for k in setups}
    try:
        for r in range(args.rounds):
            for name, (app, url, router, callers) in setups.items():
                if router is not None:
                    set_router(*router)
                control.deploy(app)
                status = control.wait_running(app["name"], 300)
                if not status.endswith("RUNNING"):
                    sys.exit(f"{app['name']} did not start: {status}")
                time.sleep(1.0)
                load(url, rows, 50, 1, warmup=0)  # warm-up
                time.sleep(0.5)  # the warm-up's copies answered
                before = shadow_counts() if router is not None else {}
                n = args.requests if callers else args.moderate_requests
                m = load(url, rows, n, callers or heavy, warmup=0,
                         rate=None if callers else rate)
                if router is not None and router[1] is not None:
                    time.sleep(0.5)
                    after = shadow_counts()
                    m["shadow_compared_share"] = (after["compared"] - before["compared"]) / n
                measured[name].append(m)
                how = f"{callers} callers" if callers else f"{rate:g} req/s"
                print(f"round {r + 1} {name} ({how}): p50 {m['p50_ms']:.1f} ms, "
                      f"p99 {m['p99_ms']:.1f} ms, {m['rps']:.0f} req/s, failed "
                      f"{m['failed']}" + (f", shadow compared {m['shadow_compared_share']:.0%}"
                                          if "shadow_compared_share" in m else ""), flush=True)
    finally:
        control.delete(BASELINE_APP)
        control.delete(OURS_APP)
        serve.shutdown()
        ray.shutdown()
    med = {k: {f: statistics.median(x[f] for x in v) for f in v[0]}
           for k, v in measured.items() if v}

    def ratio(x: str, y: str, field: str) -> float | None:
        return med[x][field] / med[y][field] if x in med and y in med else None

    ratios = {"b_p50_vs_a": ratio("b_router_90_10", "a_two_hop", "p50_ms"),
              "b_rps_vs_a": ratio("b_router_90_10", "a_two_hop", "rps"),
              "b50_p50_vs_a": ratio("b_router_50_50", "a_two_hop", "p50_ms"),
              "b50_rps_vs_a": ratio("b_router_50_50", "a_two_hop", "rps"),
              "c_p50_vs_b": ratio("c_router_shadow", "b_router_90_10", "p50_ms"),
              "c_rps_vs_b": ratio("c_router_shadow", "b_router_90_10", "rps"),
              "c_moderate_p50_vs_b_moderate": ratio("c_moderate", "b_moderate", "p50_ms")}
    print(json.dumps({"medians": med, "ratios": {k: None if v is None else round(v, 3)
                                                 for k, v in ratios.items()},
                      "requests": args.requests, "concurrency": heavy,
                      "moderate_rps": rate, "rounds": args.rounds}, indent=2))
    for key, what in (("b_p50_vs_a", "router 90/10 vs two-hop p50 (target <= 1.15)"),
                      ("b_rps_vs_a", "router 90/10 vs two-hop throughput (target >= 0.85)"),
                      ("b50_p50_vs_a", "router 50/50 vs two-hop p50"),
                      ("b50_rps_vs_a", "router 50/50 vs two-hop throughput"),
                      ("c_p50_vs_b", f"100% shadow, p50 at {heavy} callers (target <= 1.05)"),
                      ("c_moderate_p50_vs_b_moderate",
                       f"100% shadow, p50 at {rate:g} req/s (target <= 1.05)")):
        if ratios[key] is not None:
            print(f"{what}: {ratios[key]:.2f}x")
    for key in ("c_router_shadow", "c_moderate"):
        if key in med:
            print(f"{key}: {med[key]['shadow_compared_share']:.0%} of requests compared")

if __name__ == "__main__":
    main()
