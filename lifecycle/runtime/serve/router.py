"""The ingress of a spec's Serve application: the Router in front of one model deployment
per version slot (`stable`, `candidate`). Ray Serve has no weighted split or mirror, so
the Router does them: weights, shadow and the sticky key live in its `user_config` (a
`RouterConfig`) and change live through `reconfigure` (a config deploy that changes only
`user_config` restarts nothing).

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

from ..contract import (
    ROUTER,
    FeatureCheck,
    MonitorFeed,
    RouterConfig,
    RouterStats,
    ShadowConfig,
    ShadowRecord,
    ShadowStats,
    Slot,
    SlotSummary,
)
from .requests import BadRequest, bucket, choose, rows_of, shadow_room, sticky_value

LATENCY_BUCKETS_MS = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0,
                      5000.0]
WINDOW = 20_000  # request records kept per slot for the controller's gates
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

    def summary(self, since: float) -> SlotSummary:
        recent = [r for r in self.records if r[0] >= since]
        lat = sorted(r[1] for r in recent)
        errors = sum(1 for r in recent if not r[2])

        def pct(q: float) -> float | None:
            return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else None

        return SlotSummary(requests=len(recent), errors=errors,
                           error_rate=errors / len(recent) if recent else None,
                           latency_p50_ms=pct(0.50), latency_p95_ms=pct(0.95),
                           latency_p99_ms=pct(0.99), versions=sorted({r[3] for r in recent}),
                           total_requests=self.total, total_errors=self.errors)


@serve.deployment(name=ROUTER)
class Router:
    def __init__(self, application: str, model: str, models: dict[Slot, DeploymentHandle],
                 features: dict[str, FeatureCheck],
                 monitor: DeploymentHandle | None = None, batched: bool = False) -> None:
        from ray.serve import metrics

        self.application = application
        self.model = model
        self.models = models
        self.features = {name: check.model_dump() for name, check in features.items()}
        self.weights: dict[Slot, float] = {s: (100.0 if s == Slot.CANDIDATE else 0.0)
                                           for s in models}
        self.shadow: ShadowConfig | None = None
        self.sticky_key: str | None = None
        self.draining = False  # `retire`: new requests refused while those in flight finish
        self.refused_draining = 0
        self.step = 0
        self.stats_by_slot = {s: SlotStats() for s in models}
        self.shadow_pending = 0
        self.capacity: dict[Slot, int] = {}  # requests each slot takes at once
        self.in_flight = {s: 0 for s in models}  # callers' requests, per slot
        self.shadow_counts = ShadowStats()
        self.shadow_records: collections.deque[ShadowRecord] = collections.deque(maxlen=500)
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
        self.monitor_counts = MonitorFeed()
        # Serve adds its own tags (application, deployment, replica) to these
        self.m_requests = metrics.Counter(
            "lifecycle_requests", description="Requests per model version and outcome.",
            tag_keys=("slot", "version", "outcome"))  # type: ignore[arg-type]
        self.m_latency = metrics.Histogram(
            "lifecycle_request_latency_ms", description="Latency per model version (ms).",
            boundaries=LATENCY_BUCKETS_MS, tag_keys=("slot", "version"))  # type: ignore[arg-type]
        self.m_shadow = metrics.Counter(
            "lifecycle_shadow_requests", description="Shadow copies by outcome.",
            tag_keys=("outcome",))

    def reconfigure(self, config: dict[str, Any]) -> None:
        c = RouterConfig.model_validate(config)
        weights = {k: v for k, v in c.weights.items() if k in self.models}
        if weights and sum(weights.values()) > 0:
            self.weights = {s: weights.get(s, 0.0) for s in self.models}
        self.shadow = c.shadow if c.shadow is not None and c.shadow.target in self.models \
            else None
        self.capacity = {k: v for k, v in c.capacity.items() if k in self.models}
        self.sticky_key = c.sticky_key
        self.draining = c.draining
        self.step = c.step

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

    async def _predict(self, slot: Slot, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """A replica that dies with the request in flight (killed, node lost) is not the
        model's fault: the request goes to another replica, up to twice. Errors raised
        by the model itself are not retried."""
        from ray.exceptions import RayActorError  # ActorDiedError, ActorUnavailableError

        for attempt in range(3):
            try:
                out: dict[str, Any] = await getattr(self.models[slot], self.method).remote(rows)
                return out
            except RayActorError:
                if attempt == 2:
                    raise
                self.replica_retries += 1
                await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _record(self, slot: Slot, version: str, ms: float, ok: bool) -> None:
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
            self.monitor_counts.dropped_rows += len(batch)
            return
        self.monitor_pending += 1
        self.monitor_counts.sent_rows += len(batch)
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
            self.monitor_counts.failed_batches += 1
        finally:
            self.monitor_pending -= 1

    def _maybe_shadow(self, slot: str, rows: list[dict[str, Any]], out: dict[str, Any]) -> None:
        shadow = self.shadow
        if shadow is None or shadow.target == slot or random.random() >= shadow.fraction:
            return
        target = shadow.target
        app_capacity = sum(self.capacity.values()) if self.capacity else None
        if not shadow_room(self.capacity.get(target), self.in_flight[target],
                           self.shadow_pending, shadow.max_queued, app_capacity,
                           sum(self.in_flight.values())):
            # never queue behind a slow shadow, never take the target's callers' slots
            if self.shadow_pending >= shadow.max_queued:
                outcome = "dropped"
                self.shadow_counts.dropped += 1
            else:
                outcome = "busy"
                self.shadow_counts.busy += 1
            self.m_shadow.inc(tags={"outcome": outcome})
            return
        self.shadow_pending += 1
        self.shadow_counts.sent += 1
        self._spawn(self._shadow(target, rows, out))

    async def _shadow(self, target: Slot, rows: list[dict[str, Any]],
                      primary: dict[str, Any]) -> None:
        """Off the response path: the caller already has its answer."""
        t0 = time.perf_counter()
        try:
            out = await getattr(self.models[target], self.method).remote(rows)
            ms = (time.perf_counter() - t0) * 1000
            diffs = [abs(float(a) - float(b)) for a, b in
                     zip(primary["predictions"], out["predictions"])]
            self.shadow_abs_diff += sum(diffs) / max(len(diffs), 1)
            self.shadow_counts.compared += 1
            self.shadow_stats.add(ms, True, out["version"])
            self.shadow_records.append(ShadowRecord(
                time=time.time(), primary_version=primary["version"],
                shadow_version=out["version"], latency_ms=round(ms, 3),
                primary=primary["predictions"][:5], shadow=out["predictions"][:5]))
            self.m_shadow.inc(tags={"outcome": "ok"})
        except Exception:
            self.shadow_counts.failed += 1
            self.shadow_stats.add((time.perf_counter() - t0) * 1000, False, "?")
            self.m_shadow.inc(tags={"outcome": "error"})
        finally:
            self.shadow_pending -= 1

    async def stats(self, since: float = 0.0) -> RouterStats:
        """What the rollout controller and `lifecycle status` read. Async on purpose: Serve
        runs a sync method in a thread pool, where reading the windows while requests
        append to them raises "deque mutated during iteration"; on the event loop the
        read and the appends take turns."""
        compared = self.shadow_counts.compared
        shadow = self.shadow_counts.model_copy(update={
            "pending": self.shadow_pending,
            "target": None if self.shadow is None else self.shadow.target,
            "mean_abs_diff": self.shadow_abs_diff / compared if compared else None,
            "recent": list(self.shadow_records)[-20:]})
        return RouterStats(
            weights=self.weights, step=self.step, sticky_key=self.sticky_key,
            draining=self.draining, refused_draining=self.refused_draining,
            in_flight=sum(self.in_flight.values()),
            slots={s: st.summary(since) for s, st in self.stats_by_slot.items()},
            shadow_slot=self.shadow_stats.summary(since), bad_requests=self.bad_requests,
            replica_retries=self.replica_retries,
            monitor=None if self.monitor is None else self.monitor_counts.model_copy(
                update={"pending_batches": self.monitor_pending}),
            shadow=shadow)


def _error(status: int, message: str, hint: str) -> JSONResponse:
    return JSONResponse({"error": message, "hint": hint}, status_code=status)


