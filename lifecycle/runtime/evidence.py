"""What serving saw, per model version, as counters that add up and subtract: requests,
errors, a latency histogram on fixed buckets, and for the shadow target its copies'
errors, latency and differences from the primary answer.

Every Router replica keeps cumulative counters (cheap to update per request) and pushes
them to the application's Evidence actor about once a second. Counters of several
replicas merge by adding; the evidence of a time window is the difference of two
cumulative snapshots (like Prometheus counters), so the rollout controller keeps the
snapshot at the start of a step and judges the step on what came after it. Pure: no
Ray, unit-tested directly."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable

from .contract import (
    LATENCY_EDGES_MS,
    MonitorFeed,
    ReplicaReport,
    ShadowStats,
    VersionEvidence,
    VersionSummary,
)

N_BUCKETS = len(LATENCY_EDGES_MS) + 1  # below the first edge, ..., above the last


def bucket_of(ms: float) -> int:
    return bisect.bisect_left(LATENCY_EDGES_MS, ms)


class Tally:
    """One version's cumulative counters in one Router replica (mutated per request)."""

    __slots__ = ("errors", "latency", "requests", "shadow_abs_diff", "shadow_compared",
                 "shadow_errors", "shadow_latency", "shadow_requests", "shadow_sq_diff")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.latency = [0] * N_BUCKETS
        self.shadow_requests = 0
        self.shadow_errors = 0
        self.shadow_latency = [0] * N_BUCKETS
        self.shadow_compared = 0
        self.shadow_abs_diff = 0.0
        self.shadow_sq_diff = 0.0

    def answered(self, ms: float, ok: bool) -> None:
        self.requests += 1
        if not ok:
            self.errors += 1
        self.latency[bucket_of(ms)] += 1

    def shadowed(self, ms: float, ok: bool, diffs: Iterable[float] = ()) -> None:
        """A shadow copy this version answered (off the response path)."""
        self.shadow_requests += 1
        if not ok:
            self.shadow_errors += 1
            return
        self.shadow_latency[bucket_of(ms)] += 1
        values = list(diffs)
        if values:
            mean = sum(values) / len(values)
            self.shadow_compared += 1
            self.shadow_abs_diff += mean
            self.shadow_sq_diff += mean * mean

    def add(self, requests: int, errors: int, latency: list[int], shadow: bool = False,
            compared: int = 0, abs_diff: float = 0.0, sq_diff: float = 0.0) -> None:
        """Many answers at once (a simulation; a bulk import)."""
        counts = self.shadow_latency if shadow else self.latency
        for i, c in enumerate(latency):
            counts[i] += c
        if shadow:
            self.shadow_requests += requests
            self.shadow_errors += errors
            self.shadow_compared += compared
            self.shadow_abs_diff += abs_diff
            self.shadow_sq_diff += sq_diff
        else:
            self.requests += requests
            self.errors += errors

    def evidence(self) -> VersionEvidence:
        return VersionEvidence(
            requests=self.requests, errors=self.errors, latency_ms=list(self.latency),
            shadow_requests=self.shadow_requests, shadow_errors=self.shadow_errors,
            shadow_latency_ms=list(self.shadow_latency),
            shadow_compared=self.shadow_compared, shadow_abs_diff=self.shadow_abs_diff,
            shadow_sq_diff=self.shadow_sq_diff)


def _vec(a: list[int], b: list[int], sign: int) -> list[int]:
    if not a:
        return [sign * v for v in b]
    if not b:
        return list(a)
    return [x + sign * y for x, y in zip(a, b)]


def combine(a: VersionEvidence, b: VersionEvidence, sign: int = 1) -> VersionEvidence:
    """a + b (sign 1), or a - b (sign -1: the evidence between two snapshots)."""
    return VersionEvidence(
        requests=a.requests + sign * b.requests, errors=a.errors + sign * b.errors,
        latency_ms=_vec(a.latency_ms, b.latency_ms, sign),
        shadow_requests=a.shadow_requests + sign * b.shadow_requests,
        shadow_errors=a.shadow_errors + sign * b.shadow_errors,
        shadow_latency_ms=_vec(a.shadow_latency_ms, b.shadow_latency_ms, sign),
        shadow_compared=a.shadow_compared + sign * b.shadow_compared,
        shadow_abs_diff=a.shadow_abs_diff + sign * b.shadow_abs_diff,
        shadow_sq_diff=a.shadow_sq_diff + sign * b.shadow_sq_diff)


def merge(parts: Iterable[dict[str, VersionEvidence]]) -> dict[str, VersionEvidence]:
    out: dict[str, VersionEvidence] = {}
    for part in parts:
        for version, ev in part.items():
            out[version] = combine(out[version], ev) if version in out else ev
    return out


def between(later: dict[str, VersionEvidence], earlier: dict[str, VersionEvidence]
            ) -> dict[str, VersionEvidence]:
    """The evidence gathered after `earlier` up to `later` (both cumulative). A counter
    that went down (a replica's counts lost with the Evidence actor) counts from zero."""
    out = {}
    for version, now in later.items():
        then = earlier.get(version)
        diff = now if then is None else combine(now, then, -1)
        if diff.requests < 0 or diff.shadow_requests < 0 or any(
                c < 0 for c in diff.latency_ms) or any(c < 0 for c in diff.shadow_latency_ms):
            diff = now
        out[version] = diff
    return out


def metric(ev: VersionEvidence, name: str, shadow: bool = False) -> float | None:
    """A serving gate's metric (error_rate, latency_p50_ms, ...) of a version's evidence:
    of its own answers, or (shadow) of the shadow copies it answered."""
    requests = ev.shadow_requests if shadow else ev.requests
    if name == "error_rate":
        errors = ev.shadow_errors if shadow else ev.errors
        return errors / requests if requests else None
    if name.startswith("latency_p") and name.endswith("_ms"):
        q = float(name[len("latency_p"):-len("_ms")]) / 100.0
        return quantile(ev.shadow_latency_ms if shadow else ev.latency_ms, q)
    return None


def quantile(counts: list[int], q: float) -> float | None:
    """The q-quantile (0 < q < 1) of a latency histogram, interpolated in log space
    inside its bucket; None without observations."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for i, c in enumerate(counts):
        if c <= 0:
            continue
        if seen + c >= rank:
            lo = LATENCY_EDGES_MS[i - 1] if i > 0 else LATENCY_EDGES_MS[0] / 2
            hi = LATENCY_EDGES_MS[i] if i < len(LATENCY_EDGES_MS) else LATENCY_EDGES_MS[-1] * 2
            frac = (rank - seen) / c
            return math.exp(math.log(lo) + frac * (math.log(hi) - math.log(lo)))
        seen += c
    return LATENCY_EDGES_MS[-1] * 2


def count_above(counts: list[int], ms: float) -> int:
    """Observations in buckets wholly above `ms` (a latency SLO's bad events; `ms`
    should be a bucket edge, which the compiler checks)."""
    return sum(counts[bucket_of(ms) + 1:])


def summarize(ev: VersionEvidence) -> VersionSummary:
    return VersionSummary(
        requests=ev.requests, errors=ev.errors,
        error_rate=ev.errors / ev.requests if ev.requests else None,
        latency_p50_ms=quantile(ev.latency_ms, 0.50),
        latency_p95_ms=quantile(ev.latency_ms, 0.95),
        latency_p99_ms=quantile(ev.latency_ms, 0.99),
        shadow_requests=ev.shadow_requests,
        shadow_error_rate=ev.shadow_errors / ev.shadow_requests if ev.shadow_requests
        else None,
        shadow_latency_p99_ms=quantile(ev.shadow_latency_ms, 0.99),
        shadow_mean_abs_diff=ev.shadow_abs_diff / ev.shadow_compared if ev.shadow_compared
        else None)


def shadow_totals(reports: Iterable[ReplicaReport]) -> ShadowStats:
    """The shadow's counts over Router replicas (the latest copies of any of them)."""
    reports = list(reports)
    out = ShadowStats()
    recent = []
    for r in reports:
        s = r.shadow
        out = out.model_copy(update={
            k: getattr(out, k) + getattr(s, k)
            for k in ("sent", "dropped", "busy", "failed", "compared", "pending")})
        out.target = out.target or s.target
        recent.extend(s.recent)
    compared = out.compared
    weighted = sum((r.shadow.mean_abs_diff or 0.0) * r.shadow.compared for r in reports)
    out.mean_abs_diff = weighted / compared if compared else None
    out.recent = sorted(recent, key=lambda x: x.time)[-20:]
    return out


def monitor_totals(reports: Iterable[ReplicaReport]) -> MonitorFeed | None:
    feeds = [r.monitor for r in reports if r.monitor is not None]
    if not feeds:
        return None
    return MonitorFeed(**{k: sum(getattr(f, k) for f in feeds)
                          for k in MonitorFeed.model_fields})


def compact(ev: VersionEvidence) -> dict[str, object]:
    """A version's evidence for the journal: histograms as [bucket, count] pairs."""
    out: dict[str, object] = ev.model_dump(exclude={"latency_ms", "shadow_latency_ms"},
                                           exclude_defaults=True)
    for name in ("latency_ms", "shadow_latency_ms"):
        pairs = [[i, c] for i, c in enumerate(getattr(ev, name)) if c]
        if pairs:
            out[name] = pairs
    return out


def expand(record: dict[str, object]) -> VersionEvidence:
    fields = dict(record)
    for name in ("latency_ms", "shadow_latency_ms"):
        counts = [0] * N_BUCKETS
        for i, c in fields.pop(name, None) or []:  # type: ignore[attr-defined]
            counts[int(i)] = int(c)
        fields[name] = counts
    return VersionEvidence.model_validate(fields)
