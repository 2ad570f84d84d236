"""The application's EvidenceCollector: one detached, named Ray actor per application
(`evidence:APP` in the lifecycle namespace) that every Router replica pushes its
cumulative counters to, about once a second, off the request path.

It answers the rollout controller, the gates and `lifecycle status` with plain actor
calls (no Serve handle: they work in every Serve mode, from any thread), merged over the
replicas: a replica killed under load loses only what it counted since its last push,
its earlier counts stay in the totals. Windows (`since`) come from a series of merged
snapshots: one a second for the last 15 minutes, one a minute for a day, one an hour
for 35 days (an SLO's window, 28 days by default: `windows`).

If the collector itself is restarted (its node lost), the live replicas' next pushes
restore their totals; the controller keeps the snapshot of each step's start itself
(journaled), so a step's evidence survives."""

from __future__ import annotations

import collections
import time
from typing import Any

import ray

from ..contract import NAMESPACE, Evidence, ReplicaReport, VersionEvidence, collector_name
from ..evidence import merge

LIVE_S = 5.0  # a replica that has not reported for this long is not live
FINE_S, FINE_KEEP_S = 1.0, 15 * 60.0  # one snapshot a second for 15 minutes ...
COARSE_S, COARSE_KEEP_S = 60.0, 24 * 3600.0  # ... then one a minute for a day ...
HOURLY_S, HOURLY_KEEP_S = 3600.0, 35 * 86400.0  # ... and one an hour for 35 days


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class EvidenceCollector:
    def __init__(self, application: str) -> None:
        self.application = application
        self.reports: dict[str, ReplicaReport] = {}  # latest per replica, kept when it dies
        self.fine: collections.deque[tuple[float, dict[str, VersionEvidence]]] = \
            collections.deque()
        self.coarse: collections.deque[tuple[float, dict[str, VersionEvidence]]] = \
            collections.deque()
        self.hourly: collections.deque[tuple[float, dict[str, VersionEvidence]]] = \
            collections.deque()

    def push(self, report: ReplicaReport) -> None:
        self.reports[report.replica] = report
        now = time.time()
        if not self.fine or now - self.fine[-1][0] >= FINE_S:
            totals = self._totals()
            self.fine.append((now, totals))
            if not self.coarse or now - self.coarse[-1][0] >= COARSE_S:
                self.coarse.append((now, totals))
            if not self.hourly or now - self.hourly[-1][0] >= HOURLY_S:
                self.hourly.append((now, totals))
        for series, keep in ((self.fine, FINE_KEEP_S), (self.coarse, COARSE_KEEP_S),
                             (self.hourly, HOURLY_KEEP_S)):
            while series and now - series[0][0] > keep:
                series.popleft()

    def _totals(self) -> dict[str, VersionEvidence]:
        return merge(r.versions for r in self.reports.values())

    def _live(self, now: float) -> list[ReplicaReport]:
        return [r for r in self.reports.values() if now - r.time <= LIVE_S]

    def evidence(self, since: float | None = None) -> Evidence:
        """Cumulative evidence, or (since) the evidence gathered after that moment: the
        difference from the latest snapshot taken at or before it (the window starts a
        little early, never late, and says where it starts)."""
        from ..evidence import between

        now = time.time()
        live = self._live(now)
        newest = max(self.reports.values(), key=lambda r: r.time, default=None)
        totals = self._totals()
        start: float | None = None
        versions = totals
        if since is not None:
            base = self._at(since)
            if base is not None:
                start, earlier = base
                versions = between(totals, earlier)
            else:
                start = self.fine[0][0] if self.fine else now
        return Evidence(time=now, since=start, versions=versions,
                        slots=dict(newest.slots) if newest else {}, replicas=live,
                        bad_requests=sum(r.bad_requests for r in self.reports.values()),
                        refused=sum(r.refused for r in self.reports.values()))

    def windows(self, seconds: list[float]) -> dict[float, dict[str, VersionEvidence]]:
        """Per window (seconds back from now): each version's evidence in it. A window
        longer than the history holds everything since the first snapshot (an SLO
        window of 28 days reads the days the application has served)."""
        from ..evidence import between

        now = time.time()
        totals = self._totals()
        out = {}
        for w in seconds:
            base = self._at(now - w)
            out[w] = totals if base is None else between(totals, base[1])
        return out

    def _at(self, since: float) -> tuple[float, dict[str, VersionEvidence]] | None:
        for series in (self.fine, self.coarse, self.hourly):
            best = None
            for t, totals in series:
                if t > since:
                    break
                best = (t, totals)
            if best is not None:
                return best
        return None

    def replicas(self) -> list[ReplicaReport]:
        return self._live(time.time())


def collector(application: str) -> Any:
    """The application's collector, created when it is missing (the deploy stage
    creates it; a Router replica that finds it gone — its node lost — creates it again)."""
    actor: Any = EvidenceCollector  # ray.remote adds .options; its type hints do not say so
    return actor.options(name=collector_name(application), namespace=NAMESPACE,
                         lifetime="detached", get_if_exists=True).remote(application)


def find(application: str) -> Any | None:
    try:
        return ray.get_actor(collector_name(application), namespace=NAMESPACE)
    except ValueError:
        return None
