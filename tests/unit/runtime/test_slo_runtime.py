"""SLOs at run time (pure): readings per version and for the application from windowed
evidence, the controller's time-based evaluations, and what the rollout decides on a
burning or spent budget — against hand-computed cases."""

from __future__ import annotations

import pytest

from lifecycle.plan import BurnAlertParams, SloParams
from lifecycle.runtime.contract import (
    APPLICATION,
    Freshness,
    Observation,
    RolloutCommand,
    RolloutPhase,
    SloReading,
    Slot,
    VersionQuality,
    WatchSummary,
)
from lifecycle.runtime.rollout.decide import decide
from lifecycle.runtime.slo import evaluate, readings

from .test_decide import ERRORS, Command, config, ev, kinds, started

H, M5, D28 = 3600.0, 300.0, 28 * 86400.0
PAGE = BurnAlertParams(long_s=H, short_s=M5, factor=14.4, severity="page")


def availability(**kw: object) -> SloParams:
    base: dict[str, object] = dict(name="availability", sli="availability", objective=99.9,
                                   window_s=D28, burn_alerts=[PAGE],
                                   on_burn=["alert", "rollback", "block_promotion"])
    base.update(kw)
    return SloParams.model_validate(base)


def test_a_version_failing_2_percent_burns_at_20x_and_fires_the_page() -> None:
    # 99.9%: budget 0.001. v2: 1,000 requests, 20 failed in the last hour and the last
    # 5 minutes: burn 0.02 / 0.001 = 20 > 14.4 over both windows. Over 28 days the same
    # 1,000 requests: budget left 1 - 20 = -19. v1: 2,000 requests, 1 failed: burn 0.5.
    window = {"1": ev(2000, 1), "2": ev(1000, 20)}
    got = readings([availability()], {H: window, M5: window, D28: window}, {},
                   {"1": Slot.STABLE, "2": Slot.CANDIDATE}, now=0.0)
    by = {r.version: r for r in got}
    assert by["2"].burn_rates == {"5m": pytest.approx(20.0), "1h": pytest.approx(20.0),
                                  "28d": pytest.approx(20.0)}
    assert by["2"].budget_left == pytest.approx(-19.0) and by["2"].exhausted
    assert by["2"].firing == ["1h/5m above 14.4x"] and by["2"].slot == Slot.CANDIDATE
    assert by["1"].firing == [] and by["1"].budget_left == pytest.approx(0.5)
    # the application: 21 of 3,000 failed: burn 7 (no page), budget spent 7 times over
    assert by[APPLICATION].burn_rates["1h"] == pytest.approx(7.0)
    assert by[APPLICATION].firing == [] and by[APPLICATION].budget_left == pytest.approx(-6.0)


def test_the_short_window_stops_the_alert_once_the_burn_stops() -> None:
    hour, recent = {"2": ev(1000, 30)}, {"2": ev(100, 0)}
    [r, _] = readings([availability()], {H: hour, M5: recent, D28: hour}, {},
                      {"2": Slot.CANDIDATE}, now=0.0)
    assert r.burn_rates["1h"] == pytest.approx(30.0) and r.burn_rates["5m"] == 0.0
    assert r.firing == []


def test_latency_counts_answers_above_the_bucket_bound_as_bad() -> None:
    slo = SloParams(name="fast", sli="latency", objective=99.0, window_s=H, threshold_ms=50,
                    bucket_ms=50, burn_alerts=[], on_burn=["alert"])
    slow, quick = ev(10, ms=120.0), ev(990, ms=20.0)
    both = {"2": slow.model_copy(update={
        "requests": 1000, "latency_ms": [a + b for a, b in zip(slow.latency_ms,
                                                               quick.latency_ms)]})}
    [r, _] = readings([slo], {H: both}, {}, {}, now=0.0)
    assert r.burn_rates["1h"] == pytest.approx(1.0)  # 1% slow on a 1% budget
    assert r.budget_left == pytest.approx(0.0) and r.exhausted


def test_no_events_is_no_evidence_not_a_spent_budget() -> None:
    [r] = readings([availability()], {H: {}, M5: {}, D28: {}}, {}, {}, now=0.0)
    assert (r.version, r.budget_left, r.firing) == (APPLICATION, 1.0, [])
    assert r.burn_rates == {"5m": None, "1h": None, "28d": None}


def _quality(auc: float | None) -> dict[str, WatchSummary]:
    return {"q": WatchSummary(
        detector="quality", features=[], verified=None, window=10, p_val=0.05, actions=[],
        windows_closed=0, windows_dropped=0, rows_dropped=0, rows_invalid=0, rows_pending=0,
        windows_detected=0, sampled_fraction=1.0, windows_since=0, flagged_since=0,
        drift_since=0, detections_since=0, outlier_rate_since=None, last=None, recent=[],
        retrains=[], quality={"2": VersionQuality(labels=100, values={"auc": auc})})}


def test_quality_and_freshness_are_evaluated_per_version_at_each_look() -> None:
    quality = SloParams(name="auc", sli="quality", objective=95, window_s=H, metric="live_auc",
                        min=0.85, burn_alerts=[], on_burn=["alert"])
    versions = {Slot.STABLE: "1", Slot.CANDIDATE: "2"}
    assert evaluate(quality, versions, _quality(0.8), {}, 0.0) == [("2", False)]
    assert evaluate(quality, versions, _quality(0.9), {}, 0.0) == [("2", True)]
    assert evaluate(quality, versions, _quality(None), {}, 0.0) == []  # no labels yet
    age = SloParams(name="age", sli="freshness", objective=99, window_s=H, of="model",
                    max_age_s=86400, burn_alerts=[], on_burn=["alert"])
    made = {Slot.STABLE: Freshness(trained_at=0.0), Slot.CANDIDATE: Freshness()}
    assert evaluate(age, versions, {}, made, now=90000.0) == [("1", False)]
    # 3 good looks of 4 over the hour: 25% bad on a 5% budget
    looks = {"auc": [(0.0, "2", True), (10.0, "2", True), (20.0, "2", False),
                     (30.0, "2", True), (-7200.0, "2", False)]}
    [r, _] = readings([quality], {}, looks, {}, now=30.0)
    assert r.burn_rates["1h"] == pytest.approx(0.25 / 0.05)


def _burning(version: str, firing: bool = True, budget_left: float = -5.0) -> SloReading:
    return SloReading(slo="availability", sli="availability", version=version,
                      budget_left=budget_left, burn_rates={"1h": 20.0, "5m": 25.0},
                      firing=["1h/5m above 14.4x"] if firing else [])


def _obs(t: float, slo: list[SloReading]) -> Observation:
    return Observation(time=t, evidence={"1": ev(100), "2": ev(100)}, slo=slo)


def test_a_candidate_burning_its_own_budget_is_rolled_back_with_an_alert() -> None:
    c = config([(10, 60, [ERRORS]), (100, 0, [])], slos=[availability()])
    s = started(c)
    s, actions = decide(c, s, _obs(5.0, [_burning("2")]), None, 5.0)
    assert s.phase == RolloutPhase.ROLLED_BACK
    assert "SLO availability: the candidate's own traffic burns its error budget" in s.reason
    assert "Alert" in kinds(actions) and "RollBack" in kinds(actions)


def test_a_spent_application_budget_freezes_promotion_until_it_recovers() -> None:
    slo = availability(on_burn=["block_promotion"])
    c = config([(10, 10, [ERRORS]), (100, 0, [])], slos=[slo])
    s = started(c)
    spent = [_burning(APPLICATION, firing=False, budget_left=-0.5), _burning("2", False, 1.0)]
    s, actions = decide(c, s, _obs(20.0, spent), None, 20.0)  # held, gates pass: frozen
    assert s.frozen and "application's error budget is spent" in s.frozen
    assert s.step == 0 and s.phase == RolloutPhase.RUNNING
    assert [a.event for a in actions if type(a).__name__ == "Record"][-1] == "slo_frozen"
    s, actions = decide(c, s, _obs(21.0, spent), Command(seq=1, kind=RolloutCommand.PROMOTE),
                        21.0)
    assert s.phase == RolloutPhase.RUNNING and "Promote" not in kinds(actions)
    assert any(getattr(a, "event", "") == "command_refused" for a in actions)
    healthy = [_burning(APPLICATION, firing=False, budget_left=0.4)]
    s, actions = decide(c, s, _obs(22.0, healthy), None, 22.0)
    assert s.frozen is None and s.step == 1  # unfrozen: the step moves on
