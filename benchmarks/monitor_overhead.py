"""Benchmark: what the monitors cost.

1. Serving, same machine, same run, same model version (the fraud example, trained and
   registered by `lifecycle run` into a temporary store), the same concurrent HTTP load
   (10 rows per request) against lifecycle's application with monitors off, then on (the
   fraud spec's tabular drift monitor on every feature and its IForest outlier monitor,
   windows of 1,000 and 500 rows). Prints p50/p99 latency and throughput and the ratios
   on/off. Target: p50 <= 1.05x.
2. Detection throughput: the same encoded arrays through our window path (WindowBuffer
   fed in the Router's 64-row batches, Fitted.detect per window) and through
   alibi-detect's `predict` called directly per window. Prints rows/s and the ratio.
   Target: >= 0.9x. Also printed: the same with the Monitor's JSON-row encoding included
   (what the Monitor does per batch before the window path), and encoding alone.
   An online cvm detector (window 50, ert 1000) is measured the same way, against
   alibi-detect's `predict` called row by row.

    python -m examples.fraud.make_data && python benchmarks/monitor_overhead.py \
        [--requests 1500] [--concurrency 16] [--rounds 3] [--windows 40]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.serve_router import load, register_model, start_serve  # noqa: E402

APP = "bench-monitor"
SPEC = ROOT / "specs/fraud.yaml"


def fit_monitors(tmp: Path) -> tuple[list[Any], list[dict[str, Any]], Any]:
    """The fraud spec's detector monitors (drift, outliers) fitted on its training data, as
    the monitor stage does. Its quality monitor is left out: it has no detector to fit
    (its estimate needs the candidate's calibration), though in a deployment the Monitor
    also feeds it every answered row — so setups built from these entries measure the
    two detector monitors' cost, not the quality monitor's join."""
    import pyarrow.parquet as pq

    from examples.approvers.sign import sign_copy
    from lifecycle.api import compile_spec
    from lifecycle.execute.contract import feature_info
    from lifecycle.runtime.monitor import detectors
    from lifecycle.runtime.monitor.encode import Encoder

    small = ["serve.autoscaling=null", "serve.replicas=1", "serve.resources.num_cpus=0.3"]
    plan = compile_spec(sign_copy(SPEC, tmp / "approved", small), small)  # approved as run
    table = pq.read_table(ROOT / "examples/fraud/data/train.parquet")
    info = feature_info(table, plan.stage("data").contract)
    fitted, entries = [], []
    for m in plan.stage("monitor").monitors:
        if m.kind == "quality":
            continue
        params = m.model_dump(mode="json")
        enc = Encoder.of(m.features, info, "ordinal")
        x_ref = detectors.reference_sample(table.select(m.features).to_pydict(), enc,
                                           m.reference_size)
        f = detectors.fit(params, enc, x_ref)
        saved = detectors.save(f, str(tmp / "monitors" / m.name), x_ref)
        fitted.append(f)
        entries.append({"params": params, **saved})
    return fitted, entries, plan


def fit_online(fitted: list[Any], plan: Any) -> Any:
    """An online cvm monitor on the numeric features (detection throughput only: the
    serving comparison keeps the spec's two monitors, as measured before)."""
    import pyarrow.parquet as pq

    from lifecycle.execute.contract import feature_info
    from lifecycle.runtime.monitor import detectors
    from lifecycle.runtime.monitor.encode import Encoder

    table = pq.read_table(ROOT / "examples/fraud/data/train.parquet")
    base = fitted[0].params
    features = ["account_age_days", "amount", "hour", "merchant_risk"]
    params = {**base, "name": "online-drift", "detector": "cvm", "online": True,
              "features": features, "window": 50, "ert": 1000, "n_bootstraps": 10000,
              "reference_size": 1000, "backend": "numpy"}
    enc = Encoder.of(features, feature_info(table, plan.stage("data").contract), "ordinal")
    x_ref = detectors.reference_sample(table.select(features).to_pydict(), enc, 1000)
    start = time.perf_counter()
    f = detectors.fit(params, enc, x_ref)
    print(f"online-drift (cvm, window 50, ert 1000, 10000 simulations): calibrated in "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    return f


def serving(args: argparse.Namespace, tmp: Path, entries: list[dict[str, Any]],
            plan: Any) -> dict[str, dict[str, float]]:
    import ray
    from ray import serve

    from examples.fraud.make_data import make
    from lifecycle.execute.executors.deploy import application_config
    from lifecycle.runtime.contract import MonitorConfig, Slot
    from lifecycle.runtime.serve import control

    tracking, version = register_model(tmp)
    port = 8124
    start_serve(port)
    rows = make(2000, seed=9).drop_columns(["is_fraud"]).to_pylist()
    versions = {Slot.STABLE: None, Slot.CANDIDATE: version}
    on = application_config(plan.serve_config, "fraud-detector", versions, tracking,
                            MonitorConfig.model_validate({"monitors": entries}))
    on["name"], on["route_prefix"] = APP, "/bench"
    off = {**on, "args": {**on["args"], "monitor": False},
           "deployments": [d for d in on["deployments"] if d["name"] != "Monitor"]}
    url = f"http://127.0.0.1:{port}/bench"
    measured: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    try:
        for r in range(args.rounds):
            for name, app in (("off", off), ("on", on)):
                # a fresh application each time: a deploy right after a delete would
                # only reconfigure the replicas that a user_config change leaves running
                control.delete(APP)
                gone = time.time() + 120
                while APP in serve.status().applications and time.time() < gone:
                    time.sleep(0.5)
                control.deploy(app)
                status = control.wait_running(APP, 300)
                if not status.endswith("RUNNING"):
                    sys.exit(f"{APP} did not start: {status}")
                time.sleep(1.0)
                m = load(url, rows, args.requests, args.concurrency, per_request=10)
                if name != "off":
                    watched = control.monitor(APP).status.remote().result(timeout_s=30)
                    m["windows"] = sum(w["windows_detected"]
                                       for w in watched["monitors"].values())
                    m["windows_dropped"] = sum(w["windows_dropped"]
                                               for w in watched["monitors"].values())
                    fed = control.router(APP).stats.remote().result(timeout_s=30)["monitor"]
                    m["router_dropped_rows"] = fed["dropped_rows"]
                measured[name].append(m)
                print(f"round {r + 1} monitors {name}: p50 {m['p50_ms']:.1f} ms, p99 "
                      f"{m['p99_ms']:.1f} ms, {m['rps']:.0f} req/s, failed {m['failed']}"
                      + (f", windows {m['windows']} (dropped {m['windows_dropped']}), router "
                         f"dropped {m['router_dropped_rows']} rows" if name != "off" else ""),
                      flush=True)
    finally:
        control.delete(APP)
        serve.shutdown()
        ray.shutdown()
    return {k: {f: statistics.median(x[f] for x in v) for f in v[0]}
            for k, v in measured.items()}


def detection(fitted: list[Any], windows: int) -> dict[str, dict[str, float]]:
    from examples.fraud.make_data import make
    from lifecycle.runtime.monitor.windows import WindowBuffer

    out = {}
    for f in fitted:
        size = int(f.params["window"])
        rows = make(size * windows, seed=11).drop_columns(["is_fraud"]).to_pylist()
        x = f.encoder.rows(rows)  # the arrays both sides get
        direct_s, ours_s, encoded_s, encode_s = [], [], [], []

        def window_path(encode: bool, f: Any = f, size: int = size, rows: Any = rows,
                        x: Any = x) -> float:
            t = time.perf_counter()
            buf = WindowBuffer(size, max_queued=windows + 1)
            for i in range(0, len(rows), 64):  # the Router's batches
                part = f.encoder.rows(rows[i:i + 64]) if encode else x[i:i + 64]
                buf.add(part, time.time())
                while (w := buf.take()) is not None:
                    f.detect(w.x)
            return time.perf_counter() - t

        for _ in range(3):
            if f.online:  # the same rows from the same fresh state on both sides
                f.detector.reset_state()
            t = time.perf_counter()
            for i in range(windows):
                if f.online:  # alibi-detect's online API takes one row at a time
                    for row in f.prepare(x[i * size:(i + 1) * size]):
                        f.detector.predict(row)
                else:
                    f.detector.predict(f.prepare(x[i * size:(i + 1) * size]))
            direct_s.append(time.perf_counter() - t)
            if f.online:
                f.detector.reset_state()
            ours_s.append(window_path(encode=False))
            encoded_s.append(window_path(encode=True))
            t = time.perf_counter()
            for i in range(0, len(rows), 64):
                f.encoder.rows(rows[i:i + 64])
            encode_s.append(time.perf_counter() - t)
        n = size * windows
        d, o = n / statistics.median(direct_s), n / statistics.median(ours_s)
        e, enc = n / statistics.median(encoded_s), n / statistics.median(encode_s)
        out[f.params["name"]] = {"detector": f.kind, "window": size,
                                 "direct_rows_per_s": round(d), "ours_rows_per_s": round(o),
                                 "ratio": round(o / d, 3),
                                 "ours_with_encoding_rows_per_s": round(e),
                                 "ratio_with_encoding": round(e / d, 3),
                                 "encoding_alone_rows_per_s": round(enc)}
        print(f"{f.params['name']} ({f.kind}, window {size}): alibi-detect direct {d:,.0f} "
              f"rows/s, our window path {o:,.0f} rows/s, ratio {o / d:.2f}x (target >= 0.9); "
              f"with JSON encoding {e:,.0f} rows/s ({e / d:.2f}x), encoding alone "
              f"{enc:,.0f} rows/s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1500)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--windows", type=int, default=40)
    ap.add_argument("--skip-serving", action="store_true")
    ap.add_argument("--skip-online", action="store_true", help="no online detector in "
                    "the detection throughput part")
    args = ap.parse_args()
    if not (ROOT / "examples/fraud/data/train.parquet").exists():
        sys.exit("run: python -m examples.fraud.make_data")
    tmp = Path(tempfile.mkdtemp(prefix="lifecycle-monitor-bench-"))
    fitted, entries, plan = fit_monitors(tmp)
    online = [] if args.skip_online else [fit_online(fitted, plan)]
    det = detection(fitted + online, args.windows)
    report: dict[str, Any] = {"detection": det}
    if not args.skip_serving:
        med = serving(args, tmp, entries, plan)
        ratios = {"p50_on_vs_off": med["on"]["p50_ms"] / med["off"]["p50_ms"],
                  "p99_on_vs_off": med["on"]["p99_ms"] / med["off"]["p99_ms"],
                  "rps_on_vs_off": med["on"]["rps"] / med["off"]["rps"]}
        report.update(serving=med, ratios={k: round(v, 3) for k, v in ratios.items()})
        print(f"monitors on vs off: p50 {ratios['p50_on_vs_off']:.2f}x (target <= 1.05), "
              f"p99 {ratios['p99_on_vs_off']:.2f}x, throughput {ratios['rps_on_vs_off']:.2f}x")
    print(json.dumps({**report, "args": vars(args)}, indent=2))


if __name__ == "__main__":
    main()
