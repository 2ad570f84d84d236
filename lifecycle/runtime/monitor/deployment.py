"""The `Monitor` deployment of a spec's Serve application: one replica (a Ray actor with
its own CPU share, NOTES.md: in-band detection slowed the replicas; a separate actor fed
fire-and-forget kept p99 and processed every window).

The Router sends it batches of the rows it answered, without waiting for the reply. Per
spec monitor it keeps a window buffer; a worker task runs the detector on each closed
window in a thread (off the event loop, so batches keep arriving), exports the result as
Ray metrics, writes it to the run journal, and carries out the spec's actions:

- `alert`: journal record, metric, and the spec's webhook / command (retried);
- `rollback`: asks the application's rollout controller to roll back;
- `block_promotion`: read by the rollout controller, which does not widen or promote
  while a watched window has drifted since the step began (`status`);
- `retrain`: submits a new run of the plan as a Ray Job (same gates and canary), at most
  once per cooldown and `max_per_week` times in 7 days; the rest are journaled as
  skipped.

When the detector lags, closed windows queue up to a bound and the oldest are dropped and
counted (`windows_dropped`, `sampled_fraction`): the serving path never waits."""

from __future__ import annotations

import asyncio
import collections
import time
import traceback
from typing import Any

from ray import serve

from ...plan.metrics import MONITOR_IS_DRIFT, MONITOR_P_VALUE, OVERALL_SLICE, QUALITY
from ...store import Journal, Store, new_run_id
from ..contract import (
    MONITOR,
    NAMESPACE,
    AnsweredBatch,
    CommandReply,
    FeedbackResult,
    LabelItem,
    LogSummary,
    MonitorConfig,
    MonitorEvent,
    MonitorStatus,
    RetrainRequest,
    VersionQuality,
    WatchConfig,
    WatchSummary,
    WindowRecord,
    controller_name,
)
from ..telemetry import exported
from .encode import Encoder
from .histograms import counts, edges_of
from .limits import RetrainLimiter
from .predlog import LABEL_COLUMNS, ParquetLog, prediction_columns, redacted
from .windows import Window, WindowBuffer

RESULTS_KEPT = 1000
ONLINE_QUEUED_ROWS = 2000


class Acting:
    """What every monitor shares: its parameters, its results, and the retrain brakes
    (whose history outlives a replica: a restart must not reset them)."""

    def __init__(self, spec: WatchConfig, application: str, store: str | None) -> None:
        self.spec = spec
        self.params = spec.params
        self.name = self.params.name
        self.results: collections.deque[WindowRecord] = collections.deque(maxlen=RESULTS_KEPT)
        self.store = None if store is None else Store(store)
        self.history = f"monitors/{application}/{self.name}/retrains.json"
        saved = (self.store.read_json(self.history) if self.store else None) or {}
        retrain = self.params.retrain
        self.limiter = None if retrain is None else RetrainLimiter(
            retrain.cooldown, retrain.max_per_week, [float(t) for t in saved.get("started", [])])

    def record_retrain(self, now: float, run_id: str) -> None:
        assert self.limiter is not None
        self.limiter.record(now)
        if self.store is not None:
            self.store.write_json(self.history, {"started": self.limiter.started,
                                                 "last_run_id": run_id})

    @property
    def actions(self) -> list[str]:
        raise NotImplementedError


class Quality(Acting):
    """A quality monitor: labels posted back joined to the predictions answered."""

    def __init__(self, spec: WatchConfig, application: str, store: str | None) -> None:
        from .quality import Calibration, QualityWatch, Slice

        super().__init__(spec, application, store)
        q = spec.params.quality
        assert q is not None
        calibration = None if spec.calibration is None else Calibration(
            tuple(spec.calibration.x), tuple(spec.calibration.y))
        self.watch = QualityWatch(
            self.name, q.metrics, [Slice(s.feature, None if s.bins is None else tuple(s.bins))
                                   for s in q.slices],
            self.params.window, self.params.window_duration_s, q.min, q.max, q.horizon_s,
            q.threshold, calibration)

    @property
    def actions(self) -> list[str]:
        assert self.params.quality is not None
        return list(self.params.quality.on_drop)

    def summary(self, since: float) -> WatchSummary:
        recent = [r for r in self.results if r.opened >= since]
        flagged = [r for r in recent if r.flagged]
        return WatchSummary(
            detector="quality", features=[], verified=None, window=self.params.window,
            p_val=self.params.p_val, actions=self.actions,
            windows_closed=self.watch.closed, windows_dropped=0, rows_dropped=0,
            rows_invalid=0, rows_pending=sum(len(o.pairs) for o in self.watch.open.values()),
            windows_detected=self.watch.closed, sampled_fraction=1.0,
            windows_since=len(recent), flagged_since=len(flagged), drift_since=0,
            detections_since=0, outlier_rate_since=None,
            last=self.results[-1] if self.results else None,
            recent=list(self.results)[-20:],
            retrains=[] if self.limiter is None else list(self.limiter.started),
            quality={v: VersionQuality(**q) for v, q in self.watch.summary(since).items()})


class Watch(Acting):
    """One detector monitor on the live traffic."""

    def __init__(self, spec: WatchConfig, max_queued: int, application: str,
                 store: str | None) -> None:
        from . import detectors

        super().__init__(spec, application, store)
        assert spec.path is not None
        self.fitted = detectors.load(_local_copy(spec), spec.manifest_sha256)
        # the answer on the probe window recorded at fit time, recomputed in this replica
        self.verified: bool | None = None
        if spec.probe is not None:
            differs = detectors.probe_differs(spec.probe, detectors.probe(self.fitted))
            if differs:
                raise detectors.TamperedDetector(
                    f"monitor '{self.name}': loaded here, the detector decides differently "
                    f"from when it was fitted ({differs}); it will not watch traffic")
            self.verified = True
        self.encoder: Encoder = self.fitted.encoder
        size = self.params.window
        if self.fitted.online:
            # it takes rows one at a time, and its windows are small and a skipped one is
            # a gap in its stream: queue at least ONLINE_QUEUED_ROWS rows of them
            max_queued = max(max_queued, -(-ONLINE_QUEUED_ROWS // size))
        self.buffer = WindowBuffer(size, self.params.window_duration_s,
                                   min_rows=self.params.min_window, max_queued=max_queued)
        # each window's counts on bins fixed by the reference, for the report
        self.bins = None if self.fitted.reference is None else edges_of(
            self.fitted.reference, self.encoder.categorical_columns())

    @property
    def actions(self) -> list[str]:
        return list(self.params.on_drift if self.fitted.is_drift_detector
                    else self.params.on_outlier)

    def summary(self, since: float) -> WatchSummary:
        """Windows opened and closed since `since` (a window opened before a rollout step
        began does not judge that step)."""
        recent = [r for r in self.results if r.opened >= since]
        flagged = [r for r in recent if r.flagged]
        rates = [r.outlier_rate for r in recent if r.outlier_rate is not None]
        return WatchSummary(
            detector=self.fitted.kind, features=self.encoder.features,
            verified=self.verified, window=self.buffer.size, p_val=self.params.p_val,
            actions=self.actions, **self.buffer.counts(),
            windows_since=len(recent), flagged_since=len(flagged),
            drift_since=len(flagged) if self.fitted.is_drift_detector else 0,
            # online: detections, several per window when drift persists
            detections_since=sum(r.detection_count or 0 for r in recent),
            outlier_rate_since=max(rates) if rates else None,
            last=self.results[-1] if self.results else None,
            recent=list(self.results)[-20:],
            retrains=[] if self.limiter is None else list(self.limiter.started))


@serve.deployment(name=MONITOR)
class Monitor:
    def __init__(self, application: str) -> None:
        from ray.serve import metrics

        self.application = application
        self.watches: dict[str, Watch] = {}
        self.qualities: dict[str, Quality] = {}
        self.config = MonitorConfig()
        self.predictions: ParquetLog | None = None
        self.labels: ParquetLog | None = None
        self.feedback_total = FeedbackResult()
        self.replica = _replica()
        self.journal: Journal | None = None
        self.observed_rows = 0
        self.events: collections.deque[MonitorEvent] = collections.deque(maxlen=200)
        self._worker: asyncio.Task[None] | None = None
        self.m_p = exported(MONITOR_P_VALUE)
        self.m_distance = metrics.Gauge("lifecycle_monitor_distance", description="Drift "
                                        "distance of the last window.", tag_keys=("monitor",))
        self.m_drift = exported(MONITOR_IS_DRIFT)
        self.m_feature = metrics.Gauge("lifecycle_monitor_feature_p_value", description="Per"
                                       "-feature p-value of the last window.",
                                       tag_keys=("monitor", "feature"))  # type: ignore[arg-type]
        self.m_outliers = metrics.Gauge("lifecycle_monitor_outlier_rate", description="Outli"
                                        "er rate of the last window.", tag_keys=("monitor",))
        self.m_windows = metrics.Counter("lifecycle_monitor_windows", description="Windows "
                                         "by outcome (clean, flagged).",
                                         tag_keys=("monitor", "outcome"))  # type: ignore[arg-type]
        self.m_actions = metrics.Counter("lifecycle_monitor_actions", description="Actions "
                                         "taken.", tag_keys=("monitor", "action", "outcome"))  # type: ignore[arg-type]
        self.m_quality = exported(QUALITY)

    def reconfigure(self, config: dict[str, Any]) -> None:
        """Load each monitor's detector (verified against its recorded hashes); a monitor
        whose detector did not change keeps its windows and history."""
        c = self.config = MonitorConfig.model_validate(config)
        self.journal = None if c.journal is None else Journal(
            Store(c.journal.store), c.journal.run_id, writer="monitor")
        store = None if c.journal is None else c.journal.store
        wanted = {m.params.name: m for m in c.monitors if m.params.kind == "detector"}
        for name in list(self.watches):
            if name not in wanted:
                del self.watches[name]
        for name, m in wanted.items():
            kept = self.watches.get(name)
            if kept is None or kept.spec.manifest_sha256 != m.manifest_sha256:
                self.watches[name] = Watch(m, c.max_queued_windows, self.application, store)
        quality = {m.params.name: m for m in c.monitors if m.params.kind == "quality"}
        self.qualities = {name: self.qualities[name] if name in self.qualities
                          and self.qualities[name].spec == m
                          else Quality(m, self.application, store)
                          for name, m in quality.items()}
        log = c.logging
        predictions = None if log is None else ParquetLog(
            log.store, f"predictions/{self.application}", self.replica, log.flush_rows,
            log.flush_interval_s, log.max_buffered, log.retention_s,
            columns=prediction_columns(c.features, log.redact, log.redaction))
        labels = None if c.labels_store is None else ParquetLog(
            c.labels_store, f"labels/{self.application}", self.replica,
            partition_by_version=False, columns=dict(LABEL_COLUMNS),
            retention_s=None if log is None else log.retention_s)
        # an unchanged log keeps its buffer and counts; a changed one is flushed first
        self.predictions = _kept(self.predictions, predictions)
        self.labels = _kept(self.labels, labels)

    # --- fed by the Router ------------------------------------------------------------
    async def observe(self, batch: AnsweredBatch) -> int:
        """Requests the Router answered: every row to the detectors and the quality
        monitors' join buffers, the sampled requests' rows to the prediction log."""
        now = time.time()
        rows = batch.rows
        self.observed_rows += len(rows)
        for w in self.watches.values():
            w.buffer.add(w.encoder.rows(rows), now)
        for q in self.qualities.values():
            for row, i, k, prediction in zip(rows, batch.row_of, batch.row_index,
                                             batch.predictions):
                q.watch.answered(batch.time[i], batch.request_id[i], k, batch.version[i],
                                 prediction, row)
        if self.predictions is not None:
            self.predictions.add(self._log_records(batch))
        self._start()
        return len(rows)

    def _log_records(self, batch: AnsweredBatch) -> list[dict[str, Any]]:
        log = self.config.logging
        assert log is not None
        out = []
        for row, i, k, prediction in zip(batch.rows, batch.row_of, batch.row_index,
                                         batch.predictions):
            if not batch.logged[i]:
                continue
            record: dict[str, Any] = {
                "time": batch.time[i], "request_id": batch.request_id[i], "row": k,
                "version": batch.version[i], "slot": batch.slot[i],
                "latency_ms": batch.latency_ms[i], "prediction": prediction}
            for name in self.config.features:
                value = row.get(name)
                if name in log.redact:
                    value = redacted(value, log.redaction)
                    if value is None:
                        continue
                record[name] = value
            out.append(record)
        return out

    async def feedback(self, items: list[LabelItem]) -> FeedbackResult:
        """Labels posted back (the Router checked the credential and the items): each
        joins its answered prediction in every quality monitor; all go to the label log."""
        now = time.time()
        result = FeedbackResult()
        for item in items if self.qualities else ():  # no quality monitor: only kept
            outcomes = {q.watch.label(item.request_id, item.row, float(item.label), now)
                        for q in self.qualities.values()}
            if "accepted" in outcomes:
                result.accepted += 1
            elif "duplicate" in outcomes:
                result.duplicates += 1
            else:
                result.unknown += 1
        if self.labels is not None:
            dropped = self.labels.stats.dropped
            self.labels.add([{"time": now, "request_id": i.request_id, "row": i.row,
                              "label": float(i.label)} for i in items])
            result.dropped = self.labels.stats.dropped - dropped
            result.stored = len(items) - result.dropped
        for k in ("accepted", "duplicates", "unknown", "stored", "dropped"):
            setattr(self.feedback_total, k,
                    getattr(self.feedback_total, k) + getattr(result, k))
        self._start()
        return result

    def __del__(self) -> None:
        """A replica shutting down (redeploy, retire) writes what it still buffers."""
        for log in (self.predictions, self.labels):
            if log is not None:
                try:
                    log.flush(time.time())
                except Exception:  # flush counts its own failures; never block shutdown
                    pass

    def _start(self) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def status(self, since: float = 0.0) -> MonitorStatus:
        """What `lifecycle status` and the rollout controller read (on the event loop, so
        it never reads a window while a batch is being added)."""
        log = self.predictions
        return MonitorStatus(
            observed_rows=self.observed_rows,
            monitors={**{n: w.summary(since) for n, w in self.watches.items()},
                      **{n: q.summary(since) for n, q in self.qualities.items()}},
            events=list(self.events)[-20:],
            predictions_log=None if log is None else LogSummary(
                written=log.stats.written, dropped=log.stats.dropped,
                failed_writes=log.stats.failed_writes, last_error=log.stats.last_error),
            labels=self.feedback_total)

    # --- detection ----------------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            now = time.time()
            busy = False
            for log in (self.predictions, self.labels):
                if log is not None and log.due(now):  # written in a thread: never blocks
                    await asyncio.to_thread(log.flush, now)
            for q in list(self.qualities.values()):
                try:
                    closed_windows = q.watch.take(now)
                except ValueError as exc:  # labels the metric cannot take: said, not fatal
                    self._note(q, "quality_failed", reason=str(exc))
                    continue
                for closed in closed_windows:
                    busy = True
                    await self._record_quality(q, closed)
            for w in list(self.watches.values()):
                w.buffer.tick(now)
                window = w.buffer.take()
                if window is None:
                    continue
                busy = True
                try:
                    result = await asyncio.to_thread(w.fitted.detect, window.x)
                except Exception as exc:  # a detector error is reported, never fatal
                    self._note(w, "detector_failed", reason=f"{type(exc).__name__}: {exc}")
                    continue
                await self._record(w, window, result)
            if not busy:
                await asyncio.sleep(0.1)

    async def _record(self, w: Watch, window: Window, result: dict[str, Any]) -> None:
        flagged = bool(result.get("is_drift") or result.get("is_outlier_window"))
        record = WindowRecord(
            monitor=w.name, window=window.index, opened=window.opened,
            closed=window.closed, closed_by=window.reason, flagged=flagged, **result,
            # the report derives the same bins from the reference
            histograms=None if w.bins is None else counts(window.x, w.bins))
        w.results.append(record)
        tags = {"monitor": w.name}
        self.m_windows.inc(tags={**tags, "outcome": "flagged" if flagged else "clean"})
        if record.kind == "drift":
            if record.p_value is not None:  # online detectors have a statistic, no p-value
                self.m_p.set(record.p_value, tags=tags)
            if record.distance is not None:
                self.m_distance.set(record.distance, tags=tags)
            self.m_drift.set(1.0 if flagged else 0.0, tags=tags)
            for feature, p in (record.features or {}).items():
                self.m_feature.set(p, tags={**tags, "feature": feature})
        elif record.outlier_rate is not None:
            self.m_outliers.set(record.outlier_rate, tags=tags)
        await asyncio.to_thread(self._journal, "monitor_window", **record.journal_fields())
        if flagged:
            for action in w.actions:
                await asyncio.to_thread(self._act, w, action, record)

    async def _record_quality(self, q: Quality, window: Any) -> None:
        record = WindowRecord(
            monitor=q.name, window=window.index, opened=window.opened, closed=window.closed,
            closed_by=window.reason, flagged=bool(window.dropped), kind="quality",
            rows=window.labels, version=window.version, values=window.values,
            slices=window.slices, estimated=window.estimated or None,
            dropped=window.dropped or None)
        q.results.append(record)
        self.m_windows.inc(tags={"monitor": q.name,
                                 "outcome": "flagged" if record.flagged else "clean"})
        for name, values in {OVERALL_SLICE: window.values, **window.slices}.items():
            for metric, value in values.items():
                if value is not None:
                    self.m_quality.set(value, tags={"monitor": q.name,
                                                    "metric": f"live_{metric}",
                                                    "version": window.version,
                                                    "slice": name})
        for metric, value in (window.estimated or {}).items():  # estimated_auc, ...
            if value is not None:
                self.m_quality.set(value, tags={"monitor": q.name, "metric": metric,
                                                "version": window.version,
                                                "slice": OVERALL_SLICE})
        await asyncio.to_thread(self._journal, "monitor_window", **record.journal_fields())
        if record.flagged:
            for action in q.actions:
                await asyncio.to_thread(self._act, q, action, record)

    def _journal(self, event: str, **fields: Any) -> None:
        if self.journal is None:
            return
        try:
            self.journal.append(event, application=self.application, **fields)
        except Exception:  # the journal must not stop the monitor
            traceback.print_exc()

    def _note(self, w: Acting, event: str, **fields: Any) -> None:
        self.events.append(MonitorEvent(event=event, monitor=w.name, time=time.time(),
                                        **fields))
        self._journal(f"monitor_{event}", monitor=w.name, **fields)

    def _act(self, w: Acting, action: str, window: WindowRecord) -> None:
        """One action for one flagged window (in a thread: delivery may retry)."""
        reason = _reason(w, window)
        outcome: dict[str, Any] = {}
        try:
            if action == "alert":
                from .actions import deliver

                event = {"application": self.application, "monitor": w.name,
                         "reason": reason, "window": window.journal_fields()}
                outcome = deliver(w.params.alert, event)
            elif action == "rollback":
                outcome = {"sent": self._to_rollout("rollback", reason)}
            elif action == "block_promotion":
                outcome = {"blocking": True}  # the rollout controller reads `status`
            elif action == "retrain":
                outcome = self._retrain(w, reason)
        except Exception as exc:
            outcome = {"error": f"{type(exc).__name__}: {exc}"}
        ok = "error" not in outcome and all(v.get("delivered", True) for v in outcome.values()
                                            if isinstance(v, dict))
        self.m_actions.inc(tags={"monitor": w.name, "action": action,
                                 "outcome": "ok" if ok else "failed"})
        self._note(w, "action", action=action, reason=reason, window=window.window,
                   outcome=outcome)

    def _to_rollout(self, command: str, reason: str) -> str:
        import ray

        try:
            controller = ray.get_actor(controller_name(self.application), namespace=NAMESPACE)
        except ValueError:
            return "no rollout controller: nothing to roll back"
        reply = CommandReply.model_validate(ray.get(controller.send.remote(command, reason),
                                                    timeout=30))
        return reply.message

    def _retrain(self, w: Acting, reason: str) -> dict[str, Any]:
        retrain = self.config.retrain
        if retrain is None or w.limiter is None or w.params.retrain is None:
            return {"started": False, "why": "this deploy carries no plan to retrain from"}
        now = time.time()
        allowed, why = w.limiter.check(now)
        if not allowed:
            return {"started": False, "why": why}
        from .retrain import start

        recent = w.params.retrain.recent_data
        request = RetrainRequest(run_id=new_run_id(), reason=reason, monitor=w.name,
                                 recent_data_s=recent, history=list(w.limiter.started))
        job = start(retrain, request)
        w.record_retrain(now, request.run_id)
        return {"started": True, "run_id": request.run_id, "job": job,
                "recent_data_s": recent}


def _kept(old: ParquetLog | None, new: ParquetLog | None) -> ParquetLog | None:
    if old is None or new is None:
        if old is not None:
            old.flush(time.time())
        return new
    same = all(getattr(old, f) == getattr(new, f) for f in (
        "store", "folder", "flush_rows", "flush_interval_s", "max_buffered", "retention_s",
        "partition_by_version", "columns"))
    if same:
        return old
    old.flush(time.time())
    return new


def _replica() -> str:
    try:
        return str(serve.get_replica_context().replica_id.unique_id)
    except Exception:  # outside a replica
        return "monitor"


def _local_copy(spec: WatchConfig) -> str:
    """The saved detector's folder: where the monitor stage wrote it when this node can
    see it, else downloaded from the MLflow run it was logged to (a remote cluster)."""
    import os

    from .detectors import MANIFEST

    assert spec.path is not None  # a detector monitor's folder
    if os.path.exists(os.path.join(spec.path, MANIFEST)) or not spec.artifact_uri:
        return spec.path
    import mlflow

    return str(mlflow.artifacts.download_artifacts(artifact_uri=spec.artifact_uri,
                                                   tracking_uri=spec.tracking_uri))


def _reason(w: Acting, window: WindowRecord) -> str:
    if window.kind == "quality":
        broken = ", ".join(f"{m} {window.values.get(m) if window.values else None:.3g}"
                           for m in window.dropped or [])
        return (f"{w.name} (quality): version {window.version}'s {broken} over "
                f"{window.rows} labelled predictions break the monitor's bound "
                f"(window {window.window})")
    assert isinstance(w, Watch)
    if window.online and window.detections:
        first = window.detections[0]
        return (f"{w.name} ({w.fitted.kind}, online): drift detected {window.detection_count}"
                f" time(s) in window {window.window}, first after {first['after_rows']:.0f} "
                f"rows (statistic {first['test_stat']:.3g} > threshold "
                f"{first['threshold']:.3g}; expected run time without drift {window.ert} rows)")
    if window.kind == "drift":
        worst = sorted((window.features or {}).items(), key=lambda kv: kv[1])[:3]
        detail = ", ".join(f"{f} p={p:.2g}" for f, p in worst)
        return (f"{w.name} ({w.fitted.kind}): drift in window {window.window} of "
                f"{window.rows} rows, p={window.p_value or 0.0:.3g} < "
                f"{window.threshold or 0.0:.3g}" + (f" [{detail}]" if detail else ""))
    return (f"{w.name} ({w.fitted.kind}): outlier rate {window.outlier_rate or 0.0:.3f} in "
            f"window {window.window} above max {w.params.max_outlier_rate}")
