"""The Serve application of one spec: an ingress Router and one ModelServer per version slot
(`stable`, `candidate`). Ray Serve has no weighted split or mirror, so the Router does
them: weights, shadow and the sticky key live in its `user_config` and change live
through `reconfigure` (a config deploy that changes only `user_config` restarts nothing).

Every response names the version that produced it (body and `X-Model-Version` header).
A malformed request is a 400 that names the row, the feature and the fix; the models
never see it. Per-slot counts and latencies are kept for the rollout controller
(`stats`) and exported as Ray metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import collections
import random
import time
from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.requests import Request
from starlette.responses import JSONResponse

from .requests import BadRequest, bucket, choose, rows_of, shadow_room, sticky_value

LATENCY_BUCKETS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
WINDOW = 20_000  # request records kept per slot for the controller's gates
SHADOW_MAX_DEFAULT = 8  # shadow copies in flight (the spec's serve.shadow.max_queued)
MONITOR_BATCH_ROWS = 64  # rows per batch sent to the Monitor ...
MONITOR_BATCH_S = 0.25  # ... or sooner, when this long has passed
MONITOR_MAX_PENDING = 8  # batches in flight before the Router drops (and counts) a batch


class SlotStats:
    """Recent requests of one slot: (time, latency ms, ok, version)."""

    def __init__(self) -> None:
        self.records: collections.deque[tuple[float, float, bool, str]] = \
            collections.deque(maxlen=WINDOW)
        self.total = 0
        self.errors = 0

    def add(self, latency_ms: float, ok: bool, version: str) -> None:
        self.records.append((time.time(), latency_ms, ok, version))
        self.total += 1
        self.errors += 0 if ok else 1

    def summary(self, since: float) -> dict[str, Any]:
        recent = [r for r in self.records if r[0] >= since]
        lat = sorted(r[1] for r in recent)
        errors = sum(1 for r in recent if not r[2])

        def pct(q: float) -> float | None:
            return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else None

        return {"requests": len(recent), "errors": errors,
                "error_rate": errors / len(recent) if recent else None,
                "latency_p50_ms": pct(0.50), "latency_p95_ms": pct(0.95),
                "latency_p99_ms": pct(0.99),
                "versions": sorted({r[3] for r in recent}),
                "total_requests": self.total, "total_errors": self.errors}


@serve.deployment(name="Router")
class Router:
    def __init__(self, application: str, model: str, models: dict[str, DeploymentHandle],
                 features: dict[str, dict[str, Any]],
                 monitor: DeploymentHandle | None = None, batched: bool = False) -> None:
        from ray.serve import metrics

        self.application = application
        self.model = model
        self.models = models
        self.features = features
        self.weights: dict[str, float] = {s: (100.0 if s == "candidate" else 0.0)
                                          for s in models}
        self.shadow: dict[str, Any] | None = None
        self.sticky_key: str | None = None
        self.draining = False  # `retire`: new requests refused while those in flight finish
        self.refused_draining = 0
        self.step = 0
        self.stats_by_slot = {s: SlotStats() for s in models}
        self.shadow_pending = 0
        self.shadow_max = SHADOW_MAX_DEFAULT
        self.capacity: dict[str, int] = {}  # requests each slot takes at once
        self.in_flight = {s: 0 for s in models}  # callers' requests, per slot
        # dropped: max_queued copies in flight; busy: the application was saturated or the
        # target had no spare slot
        self.shadow_counts = {"sent": 0, "dropped": 0, "busy": 0, "failed": 0,
                              "compared": 0}
        self.shadow_records: collections.deque[dict[str, Any]] = collections.deque(maxlen=500)
        self.shadow_abs_diff = 0.0
        self.shadow_stats = SlotStats()  # the shadow target's own errors and latency
        self.bad_requests = 0
        self.replica_retries = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.monitor = monitor
        self.method = "predict_batched" if batched else "predict"
        self.monitor_rows: list[dict[str, Any]] = []  # rows answered, not yet sent
        self.monitor_flushed = time.monotonic()
        self.monitor_pending = 0
        self.monitor_counts = {"sent_rows": 0, "dropped_rows": 0, "failed_batches": 0}
        # Serve adds its own tags (application, deployment, replica) to these
        self.m_requests = metrics.Counter(
            "lifecycle_requests", description="Requests per model version and outcome.",
            tag_keys=("slot", "version", "outcome"))
        self.m_latency = metrics.Histogram(
            "lifecycle_request_latency_ms", description="Latency per model version (ms).",
            boundaries=LATENCY_BUCKETS_MS, tag_keys=("slot", "version"))
        self.m_shadow = metrics.Counter(
            "lifecycle_shadow_requests", description="Shadow copies by outcome.",
            tag_keys=("outcome",))

    def reconfigure(self, config: dict[str, Any]) -> None:
        weights = {k: float(v) for k, v in (config.get("weights") or {}).items()
                   if k in self.models}
        if weights and sum(weights.values()) > 0:
            self.weights = {s: weights.get(s, 0.0) for s in self.models}
        shadow = config.get("shadow")
        self.shadow = shadow if shadow and shadow.get("target") in self.models else None
        self.shadow_max = int((shadow or {}).get("max_queued", SHADOW_MAX_DEFAULT))
        self.capacity = {k: int(v) for k, v in (config.get("capacity") or {}).items()
                         if k in self.models}
        self.sticky_key = config.get("sticky_key")
        self.draining = bool(config.get("draining", False))
        self.step = int(config.get("step", 0))

    async def __call__(self, request: Request) -> JSONResponse:
        if self.draining:
            self.refused_draining += 1
            return _error(503, "the application is being retired",
                          "send requests to the application that replaces it")
        try:
            body = await request.json()
        except Exception:
            self.bad_requests += 1
            return _error(400, "the body is not valid JSON", 'send {"rows": [{...}]}')
        try:
            rows = rows_of(body, self.features)
        except BadRequest as exc:
            self.bad_requests += 1
            return _error(400, exc.message, exc.hint)
        key = sticky_value(body, request.headers.get("x-lifecycle-key"), self.sticky_key)
        point = bucket(key) if key is not None else random.random() * 100.0
        slot = choose(self.weights, point)
        t0 = time.perf_counter()
        self.in_flight[slot] += 1
        try:
            out = await self._predict(slot, rows)
        except Exception as exc:  # the model failed: count it against this version
            ms = (time.perf_counter() - t0) * 1000
            self._record(slot, "?", ms, ok=False)
            return _error(500, f"model version in slot '{slot}' failed: "
                          f"{type(exc).__name__}", "retry; the rollout gates see this error")
        finally:
            self.in_flight[slot] -= 1
        ms = (time.perf_counter() - t0) * 1000
        self._record(slot, out["version"], ms, ok=True)
        self._maybe_shadow(slot, rows, out)
        self._to_monitor(rows)
        return JSONResponse(
            {"predictions": out["predictions"], "model": self.model,
             "model_version": out["version"], "slot": slot},
            headers={"X-Model-Version": out["version"], "X-Model-Slot": slot})

    async def _predict(self, slot: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """A replica that dies with the request in flight (killed, node lost) is not the
        model's fault: the request goes to another replica, up to twice. Errors raised
        by the model itself are not retried."""
        from ray.exceptions import RayActorError  # ActorDiedError, ActorUnavailableError

        for attempt in range(3):
            try:
                return await getattr(self.models[slot], self.method).remote(rows)  # type: ignore[no-any-return]
            except RayActorError:
                if attempt == 2:
                    raise
                self.replica_retries += 1
                await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _record(self, slot: str, version: str, ms: float, ok: bool) -> None:
        self.stats_by_slot[slot].add(ms, ok, version)
        tags = {"slot": slot, "version": version}
        self.m_requests.inc(tags={**tags, "outcome": "ok" if ok else "error"})
        self.m_latency.observe(ms, tags=tags)

    def _to_monitor(self, rows: list[dict[str, Any]]) -> None:
        """Rows answered go to the Monitor in batches, fire-and-forget: the caller never
        waits for it, and when MONITOR_MAX_PENDING batches are in flight the batch is
        dropped and counted (the monitor samples; serving never slows)."""
        if self.monitor is None:
            return
        self.monitor_rows.extend(rows)
        now = time.monotonic()
        if len(self.monitor_rows) < MONITOR_BATCH_ROWS and \
                now - self.monitor_flushed < MONITOR_BATCH_S:
            return
        batch, self.monitor_rows, self.monitor_flushed = self.monitor_rows, [], now
        if self.monitor_pending >= MONITOR_MAX_PENDING:
            self.monitor_counts["dropped_rows"] += len(batch)
            return
        self.monitor_pending += 1
        self.monitor_counts["sent_rows"] += len(batch)
        self._spawn(self._observe(batch))

    def _spawn(self, work: Any) -> None:
        """Off the response path: a task the Router keeps a reference to until it ends."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _observe(self, batch: list[dict[str, Any]]) -> None:
        try:
            assert self.monitor is not None
            await self.monitor.observe.remote(batch)
        except Exception:
            self.monitor_counts["failed_batches"] += 1
        finally:
            self.monitor_pending -= 1

    def _maybe_shadow(self, slot: str, rows: list[dict[str, Any]], out: dict[str, Any]) -> None:
        shadow = self.shadow
        if shadow is None or shadow["target"] == slot \
                or random.random() >= float(shadow.get("fraction", 0)):
            return
        target = shadow["target"]
        app_capacity = sum(self.capacity.values()) if self.capacity else None
        if not shadow_room(self.capacity.get(target), self.in_flight[target],
                           self.shadow_pending, self.shadow_max, app_capacity,
                           sum(self.in_flight.values())):
            # never queue behind a slow shadow, never take the target's callers' slots
            outcome = "dropped" if self.shadow_pending >= self.shadow_max else "busy"
            self.shadow_counts[outcome] += 1
            self.m_shadow.inc(tags={"outcome": outcome})
            return
        self.shadow_pending += 1
        self.shadow_counts["sent"] += 1
        self._spawn(self._shadow(target, rows, out))

    async def _shadow(self, target: str, rows: list[dict[str, Any]],
                      primary: dict[str, Any]) -> None:
        """Off the response path: the caller already has its answer."""
        t0 = time.perf_counter()
        try:
            out = await getattr(self.models[target], self.method).remote(rows)
            ms = (time.perf_counter() - t0) * 1000
            diffs = [abs(float(a) - float(b)) for a, b in
                     zip(primary["predictions"], out["predictions"])]
            self.shadow_abs_diff += sum(diffs) / max(len(diffs), 1)
            self.shadow_counts["compared"] += 1
            self.shadow_stats.add(ms, True, out["version"])
            self.shadow_records.append({
                "time": time.time(), "primary_version": primary["version"],
                "shadow_version": out["version"], "latency_ms": round(ms, 3),
                "primary": primary["predictions"][:5], "shadow": out["predictions"][:5]})
            self.m_shadow.inc(tags={"outcome": "ok"})
        except Exception:
            self.shadow_counts["failed"] += 1
            self.shadow_stats.add((time.perf_counter() - t0) * 1000, False, "?")
            self.m_shadow.inc(tags={"outcome": "error"})
        finally:
            self.shadow_pending -= 1

    async def stats(self, since: float = 0.0) -> dict[str, Any]:
        """What the rollout controller and `lifecycle status` read. Async on purpose: Serve
        runs a sync method in a thread pool, where reading the windows while requests
        append to them raises "deque mutated during iteration"; on the event loop the
        read and the appends take turns."""
        compared = self.shadow_counts["compared"]
        return {"weights": self.weights, "step": self.step, "sticky_key": self.sticky_key,
                "draining": self.draining, "refused_draining": self.refused_draining,
                "in_flight": sum(self.in_flight.values()),
                "slots": {**{s: st.summary(since) for s, st in self.stats_by_slot.items()},
                          "shadow_slot": self.shadow_stats.summary(since)},
                "bad_requests": self.bad_requests, "replica_retries": self.replica_retries,
                "monitor": None if self.monitor is None else {
                    **self.monitor_counts, "pending_batches": self.monitor_pending},
                "shadow": {**self.shadow_counts, "pending": self.shadow_pending,
                           "target": (self.shadow or {}).get("target"),
                           "mean_abs_diff": self.shadow_abs_diff / compared if compared
                           else None, "recent": list(self.shadow_records)[-20:]}}


def _error(status: int, message: str, hint: str) -> JSONResponse:
    return JSONResponse({"error": message, "hint": hint}, status_code=status)


@serve.deployment(name="Model")
class ModelServer:
    """One model version, loaded from the MLflow registry by the version the deploy
    stage resolved (an alias can move; the version this replica serves cannot)."""

    def __init__(self, slot: str, batching: dict[str, Any] | None = None) -> None:
        self.slot = slot
        self.uri: str | None = None
        self.version = "?"
        self.model: Any = None
        self.batches = 0
        self.largest_batch = 0
        if batching:  # serve.batching: requests gathered into one model call
            self.predict_batched.set_max_batch_size(int(batching["max_batch_size"]))
            self.predict_batched.set_batch_wait_timeout_s(
                float(batching["batch_wait_timeout"]))

    def reconfigure(self, config: dict[str, Any]) -> None:
        import mlflow

        uri = config["model_uri"]
        if config.get("tracking_uri"):
            mlflow.set_tracking_uri(config["tracking_uri"])
        if uri != self.uri:
            self.model = mlflow.pyfunc.load_model(uri)
            self.uri = uri
        self.version = str(config.get("version", "?"))

    def predict(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        import numpy as np
        import pandas as pd

        scores = np.asarray(self.model.predict(pd.DataFrame(rows)), dtype=float).ravel()
        return {"predictions": scores.tolist(), "version": self.version}

    @serve.batch(max_batch_size=1, batch_wait_timeout_s=0.0)
    async def predict_batched(self, requests: list[list[dict[str, Any]]]
                              ) -> list[dict[str, Any]]:
        """`serve.batching`: the rows of up to max_batch_size concurrent requests scored in
        one call (in a thread, so requests keep arriving), then split back per request."""
        self.batches += 1
        self.largest_batch = max(self.largest_batch, len(requests))
        flat = [row for rows in requests for row in rows]
        out = await asyncio.to_thread(self.predict, flat)
        result, start = [], 0
        for rows in requests:
            result.append({"predictions": out["predictions"][start:start + len(rows)],
                           "version": out["version"]})
            start += len(rows)
        return result

    def batching_stats(self) -> dict[str, int]:
        return {"batches": self.batches, "largest_batch": self.largest_batch}


def build_app(args: dict[str, Any]) -> Any:
    """Serve's application builder for the `import_path` in the plan's Serve config."""
    from ..monitor.deployment import Monitor

    batching = args.get("batching") or {}
    batched = int(batching.get("max_batch_size", 1)) > 1
    models = {slot: ModelServer.options(name=f"Model_{slot}").bind(
        slot, batching if batched else None) for slot in args["slots"]}
    monitor = Monitor.options(name="Monitor").bind(args["application"]) \
        if args.get("monitor") else None
    return Router.options(name="Router").bind(args["application"], args["model"], models,
                                              args["features"], monitor, batched)
