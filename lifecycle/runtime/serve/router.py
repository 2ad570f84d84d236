"""The ingress of a spec's Serve application. Ray Serve has no weighted split or mirror,
so the Router does them: weights, shadow, the sticky key and draining live in its
`user_config` (a `RouterConfig`) and change live through `reconfigure` (a config deploy
that changes only `user_config` restarts nothing).

Two topologies (the plan chooses, docs/serve.md says when):
- fused: each Router replica scores both versions itself, on an Arrow table built from
  the rows (no second hop; small CPU models);
- routed: one model deployment per version slot behind the Router (GPUs, batching,
  large models).

Several replicas may run: a sticky key hashes to the same place on every replica, and
each replica pushes its cumulative per-version counters to the application's
EvidenceCollector about once a second (off the request path), where the rollout
controller, the gates and `lifecycle status` read them merged.

Every response names the version that produced it (body and `X-Model-Version`) and
carries a request id (`X-Request-Id`: the caller's, or one Serve's proxy makes), errors
included.
A malformed request is a 400 that names the row, the feature and the fix; the models
never see it."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import hmac
import json
import random
import time
import uuid
from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.requests import Request
from starlette.responses import Response

from ...plan.metrics import (
    MODEL_TRAINED_AT,
    REQUEST_LATENCY_MS,
    REQUESTS,
    TRAINING_DATA_AT,
)
from ..contract import (
    FUSED_SCORING_THREADS,
    ROUTER,
    AnsweredBatch,
    AppArgs,
    MonitorFeed,
    ReplicaReport,
    RouterConfig,
    ShadowConfig,
    ShadowRecord,
    ShadowStats,
    Slot,
)
from ..evidence import Tally
from ..secrets import resolve_secret
from ..telemetry import exported
from .requests import (
    BadRequest,
    bucket,
    choose,
    labels_of,
    rows_of,
    shadow_room,
    sticky_value,
)

PUSH_S = 1.0  # evidence pushed to the collector this often
MONITOR_BATCH_ROWS = 64  # rows per batch sent to the Monitor ...
MONITOR_BATCH_S = 0.25  # ... or sooner, when this long has passed
MONITOR_MAX_PENDING = 8  # batches in flight before the Router drops (and counts) a batch


@serve.deployment(name=ROUTER)
class Router:
    def __init__(self, args: AppArgs, models: dict[Slot, DeploymentHandle] | None = None,
                 monitor: DeploymentHandle | None = None) -> None:
        from ray.serve import metrics

        self.args = args
        self.features = {name: check.model_dump() for name, check in args.features.items()}
        self.handles = models or {}  # routed topology
        self.scorers: dict[Slot, Any] = {}  # fused topology: Slot -> Scorer
        self.pools = {slot: concurrent.futures.ThreadPoolExecutor(
            FUSED_SCORING_THREADS, thread_name_prefix=f"score-{slot.value}") for slot in args.slots}
        self.method = "predict_batched" if args.batching is not None \
            and args.batching.max_batch_size > 1 else "predict"
        self.config = RouterConfig(weights={s: (100.0 if s == Slot.CANDIDATE else 0.0)
                                            for s in args.slots})
        self.slot_version: dict[Slot, str] = {}
        self.tallies: dict[str, Tally] = collections.defaultdict(Tally)  # by version
        self.in_flight = {s: 0 for s in args.slots}  # callers' requests, per slot
        self.bad_requests = 0
        self.refused = 0
        self.replica_retries = 0
        self.shadow_counts = ShadowStats()
        self.shadow_pending = 0
        self.shadow_records: collections.deque[ShadowRecord] = collections.deque(maxlen=20)
        self._tasks: set[asyncio.Task[None]] = set()
        self.monitor = monitor
        self.feeding = _Feed()  # answered requests, not yet sent to the Monitor
        self.feedback_secret: str | None = None
        self.monitor_flushed = time.monotonic()
        self.monitor_pending = 0
        self.monitor_counts = MonitorFeed()
        self.replica = _replica_id()
        self.collector: Any = None
        self.pusher: asyncio.Task[None] | None = None
        # Prometheus metrics (Serve adds application, deployment and replica tags): the
        # counter is added up per request and flushed with the evidence push
        self.pending_counts: collections.Counter[tuple[str, str, str]] = \
            collections.Counter()
        self.m_requests = exported(REQUESTS)
        self.m_latency = exported(REQUEST_LATENCY_MS)
        self.m_trained_at = exported(MODEL_TRAINED_AT)
        self.m_data_at = exported(TRAINING_DATA_AT)
        self.m_shadow = metrics.Counter(
            "lifecycle_shadow_requests", description="Shadow copies by outcome.",
            tag_keys=("outcome",))

    # --- configuration ---------------------------------------------------------------
    def reconfigure(self, config: dict[str, Any]) -> None:
        c = RouterConfig.model_validate(config)
        slots = set(self.args.slots)
        weights = {k: v for k, v in c.weights.items() if k in slots}
        if not weights or sum(weights.values()) <= 0:
            weights = self.config.weights
        shadow = c.shadow if c.shadow is not None and c.shadow.target in slots else None
        if self.args.topology == "fused":
            self._load(c)
        self.config = c.model_copy(update={
            "weights": {s: weights.get(s, 0.0) for s in self.args.slots}, "shadow": shadow,
            "capacity": {k: v for k, v in c.capacity.items() if k in slots}})
        self.slot_version.update({s: m.version or "?" for s, m in c.models.items()
                                  if s in slots})
        self.feedback_secret = resolve_secret(c.feedback_token)
        self._push_soon()  # the controller waits for every replica to report this config

    def _load(self, c: RouterConfig) -> None:
        """Fused: load each slot's version; one that did not change keeps its model."""
        from .scoring import Scorer

        loaded = {s.uri: s for s in self.scorers.values()}
        scorers = {}
        for slot, model in c.models.items():
            # a promotion moves the candidate's version to the stable slot: its model is
            # already loaded here, so traffic moves with no reload
            scorer = loaded.get(model.model_uri) or Scorer(model, self.args.features)
            scorer.version = model.version or "?"
            scorers[slot] = scorer
        self.scorers = scorers

    # --- requests --------------------------------------------------------------------
    async def __call__(self, request: Request) -> Response:
        given = request.headers.get("x-request-id")
        rid = given or uuid.uuid4().hex
        response = await self._answer(request, rid)
        if given is None:  # not through Serve's HTTP proxy, which puts the caller's id (or
            response.headers["X-Request-Id"] = rid  # one it makes) in the request and
        return response  # echoes it on the answer: a second copy would be joined to it

    async def _answer(self, request: Request, rid: str) -> Response:
        t0 = time.perf_counter()
        self._start_pushing()
        if request.url.path.rstrip("/").endswith("/feedback"):
            return await self._feedback(request, rid)
        if request.method != "POST":
            self.bad_requests += 1
            return _error(405, rid, f"{request.method} is not served here",
                          'POST {"rows": [{...}]} to score rows', {"Allow": "POST"})
        if self.config.draining:
            self.refused += 1
            return _error(503, rid, "the application is being retired",
                          "send requests to the application that replaces it")
        try:
            body = json.loads(await request.body())
        except ValueError:
            self.bad_requests += 1
            return _error(400, rid, "the body is not valid JSON", 'send {"rows": [{...}]}')
        try:
            rows = rows_of(body, self.features)
        except BadRequest as exc:
            self.bad_requests += 1
            return _error(400, rid, exc.message, exc.hint)
        key = sticky_value(body, request.headers.get("x-lifecycle-key"),
                           self.config.sticky_key)
        point = bucket(key) if key is not None else random.random() * 100.0
        slot = choose(self.config.weights, point)
        self.in_flight[slot] += 1
        try:
            predictions, version = await self._predict(slot, rows)
        except Exception as exc:  # the model failed: count it against this version
            version = self.slot_version.get(slot, "?")
            self._record(slot, version, (time.perf_counter() - t0) * 1000, ok=False)
            return _error(500, rid, f"model version {version} in slot '{slot.value}' failed: "
                          f"{type(exc).__name__}", "retry; the rollout gates see this error",
                          {"X-Model-Version": version, "X-Model-Slot": slot.value})
        finally:
            self.in_flight[slot] -= 1
        ms = (time.perf_counter() - t0) * 1000
        self._record(slot, version, ms, ok=True)
        self._maybe_shadow(slot, rows, predictions, version)
        self._to_monitor(rid, slot, version, ms, rows, predictions)
        return Response(json.dumps({"predictions": predictions, "model": self.args.model,
                                    "model_version": version, "slot": slot.value,
                                    "request_id": rid}, separators=(",", ":")),
                        media_type="application/json",
                        headers={"X-Model-Version": version, "X-Model-Slot": slot.value})

    async def _predict(self, slot: Slot, rows: list[dict[str, Any]]
                       ) -> tuple[list[float], str]:
        if self.args.topology == "fused":
            scorer = self.scorers[slot]
            loop = asyncio.get_running_loop()
            predictions = await loop.run_in_executor(self.pools[slot], scorer.predict, rows)
            return predictions, scorer.version
        out = await self._call_replica(slot, rows)
        self.slot_version[slot] = out["version"]
        return out["predictions"], out["version"]

    async def _call_replica(self, slot: Slot, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Routed: a replica that dies with the request in flight (killed, node lost) is
        not the model's fault: the request goes to another replica, up to twice. Errors
        raised by the model itself are not retried."""
        from ray.exceptions import RayActorError  # ActorDiedError, ActorUnavailableError

        for attempt in range(3):
            try:
                out: dict[str, Any] = await getattr(self.handles[slot], self.method).remote(
                    rows)
                return out
            except RayActorError:
                if attempt == 2:
                    raise
                self.replica_retries += 1
                await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _record(self, slot: Slot, version: str, ms: float, ok: bool) -> None:
        self.tallies[version].answered(ms, ok)
        self.pending_counts[(slot.value, version, "ok" if ok else "error")] += 1
        self.m_latency.observe(ms, tags={"slot": slot.value, "version": version})

    # --- off the response path ---------------------------------------------------------
    def _spawn(self, work: Any) -> None:
        """A task the Router keeps a reference to until it ends."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _to_monitor(self, rid: str, slot: Slot, version: str, ms: float,
                    rows: list[dict[str, Any]], predictions: list[float]) -> None:
        """Answered requests go to the Monitor in batches, fire-and-forget: the caller
        never waits for it, and when MONITOR_MAX_PENDING batches are in flight the batch
        is dropped and counted (the monitor samples; serving never slows). Which go:
        every one when monitors watch the traffic, else only those the log samples."""
        feed = self.config.feed
        if self.monitor is None or feed == "none":
            return
        logged = self.config.log_sample > 0 and random.random() < self.config.log_sample
        if feed == "sampled" and not logged:
            return
        self.feeding.add(time.time(), rid, version, slot.value, ms, logged, rows,
                         predictions)
        if self.feeding.size >= MONITOR_BATCH_ROWS or \
                time.monotonic() - self.monitor_flushed >= MONITOR_BATCH_S:
            self._flush_feed()

    def _flush_feed(self) -> None:
        """Send what the feed holds (also from the push loop: a last partial batch is
        never left waiting for the next request)."""
        if not self.feeding.size:
            return
        batch, self.feeding, self.monitor_flushed = self.feeding, _Feed(), time.monotonic()
        if self.monitor_pending >= MONITOR_MAX_PENDING:
            self.monitor_counts.dropped_rows += batch.size
            return
        self.monitor_pending += 1
        self.monitor_counts.sent_rows += batch.size
        self._spawn(self._observe(batch.batch()))

    async def _feedback(self, request: Request, rid: str) -> Response:
        """POST {route_prefix}/feedback {"labels": [{"request_id", "label", "row"?}]}:
        changes what lifecycle decides (live quality, gates), so it needs the
        application's credential: 401 without it. The model path is never touched."""
        if request.method != "POST":
            return _error(405, rid, f"{request.method} is not served here",
                          'POST {"labels": [{"request_id": ..., "label": ...}]}',
                          {"Allow": "POST"})
        given = request.headers.get("authorization", "")
        if self.feedback_secret is None:  # no credential can be right: still a 401
            return _error(401, rid, "this application has no feedback credential set",
                          "set the environment variable serve.feedback.token names (default "
                          "LIFECYCLE_FEEDBACK_TOKEN) where the application runs, and redeploy",
                          {"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(given.encode(), f"Bearer {self.feedback_secret}".encode()):
            return _error(401, rid, "a feedback post needs the application's credential",
                          "send Authorization: Bearer <token> (serve.feedback.token)",
                          {"WWW-Authenticate": "Bearer"})
        try:
            items = labels_of(json.loads(await request.body()))
        except ValueError as exc:
            message = str(exc) if isinstance(exc, BadRequest) else "the body is not valid JSON"
            hint = exc.hint if isinstance(exc, BadRequest) else \
                '{"labels": [{"request_id": "...", "label": 1}]}'
            return _error(400, rid, message, hint)
        if self.monitor is None:
            return _error(409, rid, "this application keeps no labels",
                          "add a monitor of kind: quality, or serve.logging, and redeploy")
        try:
            result = await self.monitor.feedback.remote(items)
        except Exception as exc:  # nothing was kept: the caller retries the same post
            return _error(503, rid, f"the Monitor did not take the labels ({type(exc).__name__})",
                          "post them again (a repeat is counted as a duplicate, never twice)")
        return Response(result.model_dump_json(), media_type="application/json")

    async def _observe(self, batch: AnsweredBatch) -> None:
        try:
            assert self.monitor is not None
            await self.monitor.observe.remote(batch)
        except Exception:
            self.monitor_counts.failed_batches += 1
        finally:
            self.monitor_pending -= 1

    def _maybe_shadow(self, slot: Slot, rows: list[dict[str, Any]], predictions: list[float],
                      version: str) -> None:
        shadow = self.config.shadow
        if shadow is None or shadow.target == slot or random.random() >= shadow.fraction:
            return
        capacity = self.config.capacity
        app_capacity = sum(capacity.values()) if capacity else None
        if not shadow_room(capacity.get(shadow.target), self.in_flight[shadow.target],
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
        self._spawn(self._shadow(shadow, rows, predictions, version))

    async def _shadow(self, shadow: ShadowConfig, rows: list[dict[str, Any]],
                      primary: list[float], primary_version: str) -> None:
        """The caller already has its answer; the copy's answer is only compared."""
        t0 = time.perf_counter()
        target = self.slot_version.get(shadow.target, "?")
        try:
            predictions, target = await self._predict(shadow.target, rows)
            ms = (time.perf_counter() - t0) * 1000
            diffs = [abs(float(a) - float(b)) for a, b in zip(primary, predictions)]
            self.tallies[target].shadowed(ms, True, diffs)
            self.shadow_counts.compared += 1
            self.shadow_records.append(ShadowRecord(
                time=time.time(), primary_version=primary_version, shadow_version=target,
                latency_ms=round(ms, 3), primary=primary[:5], shadow=predictions[:5]))
            self.m_shadow.inc(tags={"outcome": "ok"})
        except Exception:
            self.shadow_counts.failed += 1
            self.tallies[target].shadowed((time.perf_counter() - t0) * 1000, False)
            self.m_shadow.inc(tags={"outcome": "error"})
        finally:
            self.shadow_pending -= 1

    # --- evidence ------------------------------------------------------------------------
    def _start_pushing(self) -> None:
        if self.pusher is None or self.pusher.done():
            self.pusher = asyncio.get_running_loop().create_task(self._push_every())

    def _push_soon(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # reconfigure before the loop runs (the first config)
            return
        self._start_pushing()
        self._spawn(self._push())

    def _export_freshness(self) -> None:
        """The freshness gauges: when each slot's version was made (freshness SLOs)."""
        for slot, made in self.config.freshness.items():
            version = self.slot_version.get(slot)
            if version is None:
                continue
            tags = {"slot": slot.value, "version": version}
            if made.trained_at is not None:
                self.m_trained_at.set(made.trained_at, tags=tags)
            if made.data_at is not None:
                self.m_data_at.set(made.data_at, tags=tags)

    async def _push_every(self) -> None:
        while True:
            self._export_freshness()
            await self._push()
            if self.monitor is not None and \
                    time.monotonic() - self.monitor_flushed >= MONITOR_BATCH_S:
                self._flush_feed()
            await asyncio.sleep(PUSH_S)

    def report(self) -> ReplicaReport:
        return ReplicaReport(
            replica=self.replica, time=time.time(),
            versions={v: t.evidence() for v, t in self.tallies.items()},
            slots=dict(self.slot_version), config=self.config.generation,
            weights=dict(self.config.weights), draining=self.config.draining,
            in_flight=sum(self.in_flight.values()), bad_requests=self.bad_requests,
            refused=self.refused,
            shadow=self.shadow_counts.model_copy(update={
                "pending": self.shadow_pending,
                "target": None if self.config.shadow is None else self.config.shadow.target,
                "mean_abs_diff": self._mean_abs_diff(), "recent": list(self.shadow_records)}),
            monitor=None if self.monitor is None else self.monitor_counts.model_copy(
                update={"pending_batches": self.monitor_pending}))

    def _mean_abs_diff(self) -> float | None:
        compared = sum(t.shadow_compared for t in self.tallies.values())
        return sum(t.shadow_abs_diff for t in self.tallies.values()) / compared \
            if compared else None

    async def _push(self) -> None:
        """Evidence to the collector, metrics to Prometheus. A failed push is retried
        with the next one (the counters are cumulative: nothing is lost but time)."""
        counts, self.pending_counts = self.pending_counts, collections.Counter()
        for (slot, version, outcome), n in counts.items():
            self.m_requests.inc(n, tags={"slot": slot, "version": version,
                                         "outcome": outcome})
        try:
            if self.collector is None:
                from .collector import collector

                self.collector = collector(self.args.application)
            await self.collector.push.remote(self.report())
        except Exception:
            self.collector = None  # gone (its node lost): found or made again next time


class _Feed:
    """Answered requests gathered for the Monitor, column by column (cheap per request)."""

    def __init__(self) -> None:
        self.size = 0
        self.time: list[float] = []
        self.request_id: list[str] = []
        self.version: list[str] = []
        self.slot: list[str] = []
        self.latency_ms: list[float] = []
        self.logged: list[bool] = []
        self.rows: list[dict[str, Any]] = []
        self.row_of: list[int] = []
        self.row_index: list[int] = []
        self.predictions: list[float] = []

    def add(self, t: float, rid: str, version: str, slot: str, ms: float, logged: bool,
            rows: list[dict[str, Any]], predictions: list[float]) -> None:
        i = len(self.time)
        self.time.append(t)
        self.request_id.append(rid)
        self.version.append(version)
        self.slot.append(slot)
        self.latency_ms.append(ms)
        self.logged.append(logged)
        self.rows.extend(rows)
        self.row_of.extend([i] * len(rows))
        self.row_index.extend(range(len(rows)))
        self.predictions.extend(predictions)
        self.size += len(rows)

    def batch(self) -> AnsweredBatch:
        return AnsweredBatch.model_construct(
            time=self.time, request_id=self.request_id, version=self.version, slot=self.slot,
            latency_ms=self.latency_ms, logged=self.logged, rows=self.rows,
            row_of=self.row_of, row_index=self.row_index, predictions=self.predictions)


def _replica_id() -> str:
    try:
        return str(serve.get_replica_context().replica_id.unique_id)
    except Exception:  # outside a replica (tests)
        return uuid.uuid4().hex[:8]


def _error(status: int, request_id: str, message: str, hint: str,
           headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps({"error": message, "hint": hint, "request_id": request_id}),
                    status_code=status, media_type="application/json",
                    headers=headers)
