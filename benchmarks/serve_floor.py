"""Benchmark: lifecycle's serving data plane against the floor, in one run.

Same machine, same registered model (the fraud example, trained and registered by
`lifecycle run` into a temporary store), one row per request, a closed loop of
`--concurrency` callers driven by wrk (C: the load generator costs little CPU), for
`--seconds` per setup, `--rounds` interleaved rounds; medians printed:

  F1  plain Starlette/uvicorn, 2 workers, scoring through the MLflow pyfunc (pandas)
  F2  the same, scoring with the entrypoint's scorer on an Arrow table
  R1  one Ray Serve deployment (ingress = model, 2 replicas, pyfunc)
  L100 lifecycle's application, all traffic to the stable slot
  L90 lifecycle's application, 90/10 (both slots serve the same version)
  L90S L90 with a 100% shadow to the candidate, the capacity bound lifted so every
       request routed to the stable slot (90%) may be copied, up to 64 copies in flight
       (lifecycle skips copies while the application is saturated,
       as a closed loop of 16 callers keeps it: with the bound, nothing is copied and
       nothing of shadowing's cost is measured); the share copied is printed
  L90M L90 with the spec's monitors (tabular drift + IForest outliers)
  L90G10, L90G100  L90M with the prediction log (serve.logging) at 10% and 100% of
       requests, written as Parquet to a local store (issue 14's target: p50 <= 1.05x
       L90M at 10%)

R1 and L* run in each Serve mode (`--modes`): `default` (Ray Serve's defaults), `fast`
(RAY_SERVE_THROUGHPUT_OPTIMIZED=1 + RAY_SERVE_ENABLE_HA_PROXY=1, what lifecycle's own
local Ray starts with) and `direct` (RAY_SERVE_THROUGHPUT_OPTIMIZED=1 alone), each in a
fresh Ray. lifecycle runs its default configuration for the fraud spec: the fused
topology, 2 Router replicas of 0.5 CPU (R1 gets the same replicas and CPUs).

Printed per setup: req/s, p50, p99, failed requests, CPU per request (CPU seconds of
the serving processes — Ray's replicas, proxies, controller, HAProxy, or uvicorn's
workers — over the requests answered), and the ratios the targets are stated in.

    apt-get install wrk; python -m examples.fraud.make_data
    python benchmarks/serve_floor.py [--seconds 10] [--rounds 3] [--concurrency 16] \
        [--modes default,fast] [--setups F1,F2,R1,L100,L90,L90S,L90M,L90G10,L90G100]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from lifecycle.runtime.contract import HAPROXY_RETRIES, SERVE_FAST_MODE  # noqa: E402

MODES = {
    "default": {},
    "fast": {**SERVE_FAST_MODE, **HAPROXY_RETRIES},  # what lifecycle's local Ray starts
    "direct": {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"},
}
SERVE_PORT, FLOOR_PORT = 8131, 8132
APP = "bench"  # lifecycle's application
ONE_DEPLOYMENT = "floor"  # R1's application
ROW = {"amount": 42.5, "merchant_risk": 0.3, "hour": 14, "account_age_days": 400.0,
       "channel": "web"}


# --- measuring -------------------------------------------------------------------------

def wrk(url: str, seconds: float, concurrency: int) -> dict[str, float]:
    """Closed-loop load with wrk; its latency percentiles, req/s and failures."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                f"wrk.body = {json.dumps(json.dumps({'rows': [ROW]}))}\n")
        script = f.name
    out = subprocess.run(["wrk", "-t2", f"-c{concurrency}", f"-d{max(1, round(seconds))}s",
                          "--latency", "-s", script, url], capture_output=True, text=True,
                         timeout=600)
    os.unlink(script)
    text = out.stdout
    if "Requests/sec:" not in text:
        sys.exit(f"wrk failed on {url}:\n{text}\n{out.stderr}")

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    total = re.search(r"(\d+) requests in", text)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     text)
    failed = (int(bad.group(1)) if bad else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),  # type: ignore[union-attr]
            "p50_ms": ms("50"), "p99_ms": ms("99"),
            "requests": float(total.group(1)) if total else 0.0, "failed": float(failed)}


def serving_cpu(pids: list[int] | None = None) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the serving processes, by role: the
    given ones (uvicorn's), or Ray's Serve processes (each replica by its deployment:
    Router, Monitor, Model_stable, ...; the proxy, the controller) and HAProxy."""
    import psutil

    roles: dict[str, float] = {}
    for p in psutil.process_iter(["pid", "name", "cmdline"]):
        try:
            if pids is not None:
                if p.info["pid"] not in pids:
                    continue
                role = "uvicorn"
            else:
                cmd = " ".join(p.info["cmdline"] or [])
                if "haproxy" in (p.info["name"] or ""):
                    role = "haproxy"
                elif cmd.startswith((f"ray::ServeReplica:{APP}:",
                                     f"ray::ServeReplica:{ONE_DEPLOYMENT}:")):
                    # ray::ServeReplica:APP:DEPLOYMENT[.method], this benchmark's apps only
                    role = cmd.split()[0].split(":")[-1].split(".")[0]
                elif cmd.startswith(("ray::ProxyActor", "ray::ServeController")):
                    role = cmd.split()[0][len("ray::"):].split(".")[0]
                else:
                    continue
            t = p.cpu_times()
            roles[role] = roles.get(role, 0.0) + t.user + t.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return roles


def measure(url: str, args: argparse.Namespace, pids: list[int] | None = None
            ) -> dict[str, float]:
    wrk(url, 2, args.concurrency)  # warm up
    before = serving_cpu(pids)
    out = wrk(url, args.seconds, args.concurrency)
    after = serving_cpu(pids)
    answered = max(out["requests"] - out["failed"], 1)
    out["cpu_ms_per_request"] = (sum(after.values()) - sum(before.values())) * 1000 / answered
    for role, seconds in after.items():  # where it went (a replica started mid-way counts whole)
        out[f"cpu_ms:{role}"] = (seconds - before.get(role, 0.0)) * 1000 / answered
    return out


# --- the floor: uvicorn ------------------------------------------------------------------

def floor(scorer: str, tracking: str, uri: str, args: argparse.Namespace) -> dict[str, float]:
    import psutil

    env = dict(os.environ, FLOOR_MODEL_URI=uri, FLOOR_TRACKING_URI=tracking,
               FLOOR_SCORER=scorer, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "benchmarks.serve_floor_app:app",
                             "--workers", "2", "--host", "127.0.0.1", "--port",
                             str(FLOOR_PORT), "--log-level", "warning", "--no-access-log"],
                            cwd=ROOT, env=env, start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{FLOOR_PORT}/", 120)
        pids = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        return measure(f"http://127.0.0.1:{FLOOR_PORT}/", args, pids)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _wait_http(url: str, timeout_s: float) -> None:
    import requests

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            if requests.post(url, json={"rows": [ROW]}, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    sys.exit(f"{url} never answered 200")


# --- Ray Serve setups, in a child process per mode ----------------------------------------

def child(args: argparse.Namespace) -> None:
    """One mode: a fresh local Ray with that mode's environment, every Serve setup."""
    import ray
    from ray import serve

    from benchmarks.monitor_overhead import fit_monitors
    from benchmarks.serve_floor_app import one_deployment
    from lifecycle.api import compile_spec
    from lifecycle.execute.executors.deploy import application_config
    from lifecycle.runtime.contract import (
        LogConfig,
        MonitorConfig,
        RouterConfig,
        ShadowConfig,
        Slot,
    )
    from lifecycle.runtime.serve import collector, control

    ray.init(address="local", include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    serve.start(http_options={"host": "127.0.0.1", "port": SERVE_PORT})
    uri = f"models:/fraud-detector/{args.version}"
    url = f"http://127.0.0.1:{SERVE_PORT}"
    results: dict[str, dict[str, float]] = {}
    setups = args.setups.split(",")
    if "R1" in setups:
        serve.run(one_deployment().options(num_replicas=2, ray_actor_options={
            "num_cpus": 0.5}).bind(uri, args.tracking), name=ONE_DEPLOYMENT,
            route_prefix=f"/{ONE_DEPLOYMENT}")
        _wait_http(f"{url}/{ONE_DEPLOYMENT}", 120)
        results["R1"] = measure(f"{url}/{ONE_DEPLOYMENT}", args)
        serve.delete(ONE_DEPLOYMENT)
    from examples.approvers.sign import sign_copy

    tmp = Path(args.tmp)
    small = ["serve.autoscaling=null", "serve.replicas=2"]
    plan = compile_spec(sign_copy(ROOT / "specs/fraud.yaml", tmp / "approved", small),
                        small)  # approved as run
    entries = None
    if any(n.startswith(("L90M", "L90G")) for n in setups):
        _, watched, _ = fit_monitors(tmp)
        entries = MonitorConfig.model_validate({"monitors": watched})
    versions = {Slot.STABLE: args.version, Slot.CANDIDATE: args.version}
    base = application_config(plan.serve_config or {}, "fraud-detector", versions,
                              args.tracking, entries or MonitorConfig())
    # the application's own name everywhere: its Routers push their evidence (shadow
    # copies, counts) to the collector named in args, which the setups read
    base["name"], base["route_prefix"], base["args"]["application"] = APP, "/bench", APP
    split = {Slot.STABLE: 90.0, Slot.CANDIDATE: 10.0}
    shadow = ShadowConfig(target=Slot.CANDIDATE, fraction=1.0, max_queued=64)
    lifecycle = {"L100": ({Slot.STABLE: 100.0, Slot.CANDIDATE: 0.0}, None, False, 0.0),
                 "L90": (split, None, False, 0.0), "L90S": (split, shadow, False, 0.0),
                 "L90M": (split, None, True, 0.0), "L90G10": (split, None, True, 0.1),
                 "L90G100": (split, None, True, 1.0)}
    for name, (weights, copy_to, monitored, logged) in lifecycle.items():
        if name not in setups:
            continue
        app = json.loads(json.dumps(base))
        if not monitored:
            app["args"]["monitor"] = False
            app["deployments"] = [d for d in app["deployments"] if d["name"] != "Monitor"]
        elif logged:
            monitor = next(d for d in app["deployments"] if d["name"] == "Monitor")
            monitor["user_config"] = MonitorConfig.model_validate(
                monitor["user_config"]).model_copy(update={"logging": LogConfig(
                    store=str(tmp / f"store-{name}"), sample=logged, redact=[],
                    redaction="hash", retention_s=86400.0, flush_rows=1000,
                    flush_interval_s=10.0, max_buffered=20_000)}).model_dump(mode="json")
        router = next(d for d in app["deployments"] if d["name"] == "Router")
        router["user_config"] = RouterConfig.model_validate(router["user_config"]).model_copy(
            update={"weights": weights, "shadow": copy_to, "log_sample": logged,
                    **({"capacity": {}} if copy_to is not None else {})}
        ).model_dump(mode="json")
        collector.collector(APP)
        control.deploy(app)
        if not control.wait_running(APP, 300).endswith("RUNNING"):
            sys.exit(f"{name}: the application did not start")
        _wait_http(f"{url}/bench", 120)
        results[name] = measure(f"{url}/bench", args)
        if copy_to is not None:
            reports = control.evidence(APP).replicas
            results[name]["router_reports"] = float(len(reports))  # none: nothing read
            answered = max(sum(sum(v.requests for v in r.versions.values())
                               for r in reports), 1)
            # a request routed to the shadow's target is never copied: at most the stable
            # slot's share (90%) can be
            results[name]["shadow_compared_share"] = sum(
                r.shadow.compared for r in reports) / answered
            for outcome in ("sent", "busy", "dropped", "failed"):
                results[name][f"shadow_{outcome}"] = float(
                    sum(getattr(r.shadow, outcome) for r in reports))
        if logged:
            log = control.monitor_status(APP).predictions_log
            results[name]["log_written"] = float(log.written if log else 0)
            results[name]["log_dropped"] = float(log.dropped if log else 0)
        control.delete(APP)
        control.wait_deleted(APP)
    print("RESULTS " + json.dumps(results), flush=True)
    serve.shutdown()
    ray.shutdown()


def run_child(mode: str, args: argparse.Namespace, tracking: str, version: str,
              tmp: Path) -> dict[str, dict[str, float]]:
    # HAProxy's admin socket path must stay short (a UNIX socket's path is at most ~100
    # bytes, and Ray adds a directory of its own)
    haproxy = Path(tempfile.mkdtemp(prefix=f"hap-{mode}-", dir="/tmp"))
    env = dict(os.environ, **MODES[mode], PYTHONPATH=str(ROOT),
               RAY_SERVE_HAPROXY_CONFIG_FILE_LOC=str(haproxy / "haproxy.cfg"),
               RAY_SERVE_HAPROXY_SOCKET_PATH=str(haproxy / "admin.sock"),
               RAY_SERVE_HAPROXY_SERVER_STATE_BASE=str(haproxy),
               RAY_SERVE_HAPROXY_SERVER_STATE_FILE=str(haproxy / "server-state"))
    cmd = [sys.executable, __file__, "--child", mode, "--tracking", tracking, "--version",
           version, "--tmp", str(tmp), "--seconds", str(args.seconds), "--concurrency",
           str(args.concurrency), "--setups", args.setups]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    line = next((s for s in out.stdout.splitlines() if s.startswith("RESULTS ")), None)
    if line is None:
        sys.exit(f"mode {mode} failed:\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}")
    return {f"{k}:{mode}": v for k, v in json.loads(line[len("RESULTS "):]).items()}


# --- the run -------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--modes", default="default,fast")
    ap.add_argument("--setups", default="F1,F2,R1,L100,L90,L90S,L90M,L90G10,L90G100")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--tracking", help=argparse.SUPPRESS)
    ap.add_argument("--version", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    if shutil.which("wrk") is None:
        sys.exit("this benchmark drives load with wrk: apt-get install wrk")
    if not (ROOT / "examples/fraud/data/train.parquet").exists():
        sys.exit("run: python -m examples.fraud.make_data")
    from benchmarks.serve_router import register_model

    tmp = Path(tempfile.mkdtemp(prefix="lifecycle-serve-floor-"))
    tracking, version = register_model(tmp)
    uri = f"models:/fraud-detector/{version}"
    setups = args.setups.split(",")
    rounds: list[dict[str, dict[str, float]]] = []
    for r in range(args.rounds):
        got: dict[str, dict[str, float]] = {}
        for scorer, name in (("pyfunc", "F1"), ("arrow", "F2")):
            if name in setups:
                got[name] = floor(scorer, tracking, uri, args)
        for mode in args.modes.split(","):
            got.update(run_child(mode, args, tracking, version, tmp))
        rounds.append(got)
        print(f"round {r + 1}: " + json.dumps({k: {m: round(v, 3) for m, v in d.items()}
                                               for k, d in got.items()}), flush=True)
    report(rounds, args)


def report(rounds: list[dict[str, dict[str, float]]], args: argparse.Namespace) -> None:
    names = list(rounds[0])
    med = {n: {m: statistics.median(r[n].get(m, 0.0) for r in rounds if n in r)
               for m in set().union(*(r[n] for r in rounds if n in r))} for n in names}
    print(f"\nmedians of {len(rounds)} rounds, {args.concurrency} callers, 1 row per "
          f"request, {args.seconds:g} s per setup\n")
    print(f"{'setup':<14}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/req':>12}{'failed':>8}")
    for n in names:
        m = med[n]
        extra = (f"  copied {m['shadow_compared_share']:.0%} of requests (at most 90%; "
                 f"from {m['router_reports']:.0f} Router reports), "
                 f"skipped busy {m['shadow_busy']:.0f}, dropped {m['shadow_dropped']:.0f}, "
                 f"failed {m['shadow_failed']:.0f}" if "shadow_sent" in m else
                 f"  logged {m['log_written']:.0f}, dropped {m['log_dropped']:.0f}"
                 if "log_written" in m else "")
        print(f"{n:<14}{m['rps']:>9.0f}{m['p50_ms']:>9.1f}{m['p99_ms']:>9.1f}"
              f"{m['cpu_ms_per_request']:>12.2f}{m['failed']:>8.0f}{extra}")
        by_role = {k[len("cpu_ms:"):]: v for k, v in m.items() if k.startswith("cpu_ms:")}
        if len(by_role) > 1:
            print(" " * 14 + "CPU ms/req by process: " + ", ".join(
                f"{role} {v:.3f}" for role, v in sorted(by_role.items(), key=lambda kv: -kv[1])))

    def ratio(a: str, b: str, metric: str) -> str:
        if a not in med or b not in med:
            return "—"
        return f"{med[a][metric] / med[b][metric]:.2f}x"

    print()
    for mode in args.modes.split(","):
        l90, r1 = f"L90:{mode}", f"R1:{mode}"
        print(f"{mode}: L90/R1:fast throughput {ratio(l90, 'R1:fast', 'rps')}, p50 "
              f"{ratio(l90, 'R1:fast', 'p50_ms')}; L90/F1 throughput {ratio(l90, 'F1', 'rps')};"
              f" L90/R1:{mode} throughput {ratio(l90, r1, 'rps')}; CPU/request: shadow "
              f"{ratio(f'L90S:{mode}', l90, 'cpu_ms_per_request')}, monitors "
              f"{ratio(f'L90M:{mode}', l90, 'cpu_ms_per_request')} of L90")
        for extra in ("L90S", "L90M"):
            a, b = med.get(f"{extra}:{mode}"), med.get(l90)
            if a is None or b is None:
                continue
            roles = {k for k in (*a, *b) if k.startswith("cpu_ms:")}
            added = sorted(((k[len("cpu_ms:"):], a.get(k, 0.0) - b.get(k, 0.0)) for k in roles),
                           key=lambda kv: -abs(kv[1]))
            print(f"{mode}: {extra} - L90, CPU ms/req by process: " + ", ".join(
                f"{role} {v:+.3f}" for role, v in added))
        for log in ("L90G10", "L90G100"):
            print(f"{mode}: prediction log {log[4:]}%: p50 "
                  f"{ratio(f'{log}:{mode}', f'L90M:{mode}', 'p50_ms')}, throughput "
                  f"{ratio(f'{log}:{mode}', f'L90M:{mode}', 'rps')} of L90M")
    print("\ntargets: L90 (lifecycle's default mode) >= 0.8x R1:fast throughput, p50 <= 1.3x, "
          ">= 0.6x F1 throughput; shadow and monitors each <= 1.10x CPU per request; "
          "prediction log at 10% <= 1.05x p50")


if __name__ == "__main__":
    main()
