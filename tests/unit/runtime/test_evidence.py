"""Evidence counters: per version, mergeable over Router replicas, a window is the
difference of two cumulative snapshots, percentiles from the histogram within a bucket."""

from __future__ import annotations

import random

import pytest

from lifecycle.runtime.contract import (
    LATENCY_EDGES_MS,
    ReplicaReport,
    ShadowStats,
    Slot,
    VersionEvidence,
)
from lifecycle.runtime.evidence import (
    Tally,
    between,
    bucket_of,
    count_above,
    merge,
    metric,
    quantile,
    shadow_totals,
    summarize,
)


def test_round_thresholds_are_bucket_edges() -> None:
    for ms in (1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 250, 300, 500, 1000, 2000, 5000):
        assert float(ms) in LATENCY_EDGES_MS, ms
    assert list(LATENCY_EDGES_MS) == sorted(LATENCY_EDGES_MS)


def test_a_latency_falls_in_the_bucket_whose_upper_edge_holds_it() -> None:
    i = bucket_of(50.0)
    assert LATENCY_EDGES_MS[i] == 50.0 and LATENCY_EDGES_MS[i - 1] < 50.0
    assert bucket_of(50.0001) == i + 1
    assert bucket_of(10 ** 9) == len(LATENCY_EDGES_MS)  # above every edge


def test_count_above_a_threshold_counts_only_slower_answers() -> None:
    t = Tally()
    for ms in (10.0, 49.0, 50.0, 50.5, 120.0):
        t.answered(ms, ok=True)
    assert count_above(t.evidence().latency_ms, 50.0) == 2


def test_percentiles_from_the_histogram_are_within_a_bucket() -> None:
    rng = random.Random(0)
    values = [rng.lognormvariate(3.0, 0.6) for _ in range(20_000)]
    t = Tally()
    for v in values:
        t.answered(v, ok=True)
    ev = t.evidence()
    for q in (0.5, 0.95, 0.99):
        exact = sorted(values)[int(q * len(values))]
        assert quantile(ev.latency_ms, q) == pytest.approx(exact, rel=0.10)
    assert quantile([], 0.5) is None


def test_replicas_merge_by_adding_and_a_window_is_a_difference() -> None:
    a, b = Tally(), Tally()
    for _ in range(30):
        a.answered(5.0, ok=True)
    b.answered(5.0, ok=False)
    start = merge([{"7": a.evidence()}, {"7": b.evidence()}])
    assert (start["7"].requests, start["7"].errors) == (31, 1)
    for _ in range(10):
        b.answered(300.0, ok=False)
    now = merge([{"7": a.evidence()}, {"7": b.evidence(), "8": Tally().evidence()}])
    window = between(now, start)
    assert (window["7"].requests, window["7"].errors) == (10, 10)
    assert metric(window["7"], "error_rate") == 1.0
    assert metric(window["7"], "latency_p50_ms") == pytest.approx(300.0, rel=0.15)
    assert window["8"].requests == 0


def test_a_counter_that_went_down_counts_from_zero() -> None:
    """The collector restarted and lost a dead replica's counts: the window is what is
    counted now, never negative."""
    before = {"7": VersionEvidence(requests=100, errors=5, latency_ms=[100] + [0] * 109)}
    after = {"7": VersionEvidence(requests=40, errors=0, latency_ms=[40] + [0] * 109)}
    assert between(after, before)["7"].requests == 40


def test_shadow_copies_count_apart_from_real_answers() -> None:
    t = Tally()
    t.answered(5.0, ok=True)
    t.shadowed(8.0, True, [0.1, 0.3])
    t.shadowed(9.0, False)
    ev = t.evidence()
    assert (ev.requests, ev.shadow_requests, ev.shadow_errors) == (1, 2, 1)
    assert metric(ev, "error_rate", shadow=True) == 0.5
    assert metric(ev, "error_rate") == 0.0
    summary = summarize(ev)
    assert summary.shadow_mean_abs_diff == pytest.approx(0.2)


def test_shadow_totals_add_up_over_replicas() -> None:
    def report(name: str, sent: int, compared: int, diff: float) -> ReplicaReport:
        return ReplicaReport(
            replica=name, time=1.0, versions={}, slots={Slot.STABLE: "1"}, config=0,
            weights={Slot.STABLE: 100.0}, draining=False, in_flight=0, bad_requests=0,
            refused=0, shadow=ShadowStats(sent=sent, compared=compared, target=Slot.CANDIDATE,
                                          mean_abs_diff=diff))

    total = shadow_totals(iter([report("a", 10, 8, 0.1), report("b", 4, 2, 0.6)]))
    assert (total.sent, total.compared, total.target) == (14, 10, Slot.CANDIDATE)
    assert total.mean_abs_diff == pytest.approx((0.8 + 1.2) / 10)
