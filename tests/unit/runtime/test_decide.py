"""The rollout's pure decision function: every phase transition, and properties over
random observation and command sequences (no Ray)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.plan import RolloutGateParams, RolloutStepParams
from lifecycle.runtime.contract import (
    Alert,
    Command,
    ControllerConfig,
    Observation,
    Promote,
    RollBack,
    RolloutCommand,
    RolloutPhase,
    RolloutState,
    Route,
    Slot,
    VersionEvidence,
)
from lifecycle.runtime.evidence import Tally
from lifecycle.runtime.rollout.decide import decide, initial_state

ERRORS = RolloutGateParams(metric="error_rate", max=0.05)
VS_STABLE = RolloutGateParams(metric="error_rate", vs="stable", max_increase=0.02)


def config(steps: list[tuple[float, float, list[RolloutGateParams]]], **kw: object
           ) -> ControllerConfig:
    base: dict[str, object] = dict(
        application="app", model="m", topology="fused", strategy="canary",
        on_failure="rollback", on_inconclusive="extend", confidence=0.95,
        steps=[RolloutStepParams(weight=w, hold_s=h, max_hold_s=3 * h, gates=g)
               for w, h, g in steps],
        gate_interval_s=1.0, versions={Slot.STABLE: "1", Slot.CANDIDATE: "2"},
        shadow=None, preview_max_queued=8, tracking_uri=None, mlflow_run_id=None,
        journal=None)
    base.update(kw)
    return ControllerConfig.model_validate(base)


def ev(requests: int, errors: int = 0, ms: float = 10.0) -> VersionEvidence:
    t = Tally()
    for i in range(requests):
        t.answered(ms, ok=i >= errors)
    return t.evidence()


def obs(t: float, stable: VersionEvidence | None = None,
        candidate: VersionEvidence | None = None) -> Observation:
    return Observation(time=t, evidence={"1": stable or ev(0), "2": candidate or ev(0)})


def started(c: ControllerConfig) -> RolloutState:
    """Step 0 routed and its evidence begun at t=0."""
    s, actions = decide(c, initial_state(c), None, None, 0.0)
    assert actions[0] == Route(weights={Slot.STABLE: 90.0, Slot.CANDIDATE: 10.0}, step=0)
    s, _ = decide(c, s, obs(0.0), None, 0.0)
    assert s.step_started == 0.0 and s.phase == RolloutPhase.RUNNING
    return s


def kinds(actions: list[object]) -> list[str]:
    return [type(a).__name__ for a in actions]


def test_the_first_step_is_routed_and_its_evidence_starts_at_the_next_look() -> None:
    c = config([(10, 60, [ERRORS]), (100, 0, [])])
    s, actions = decide(c, initial_state(c), None, None, 0.0)
    assert s.phase == RolloutPhase.RUNNING and s.step_started is None
    assert s.pending == [Route(weights={Slot.STABLE: 90.0, Slot.CANDIDATE: 10.0}, step=0)]
    s, actions = decide(c, s, obs(5.0, ev(100), ev(50)), None, 5.0)
    assert s.step_started == 5.0 and s.baseline["2"].requests == 50  # earlier: not judged
    assert kinds(actions) == []


def test_a_step_moves_on_after_its_hold_when_every_gate_passed() -> None:
    c = config([(10, 60, [ERRORS]), (50, 60, [ERRORS]), (100, 0, [])])
    s = started(c)
    s, actions = decide(c, s, obs(30.0, ev(300), ev(30)), None, 30.0)
    assert s.step == 0 and s.gates[0].verdict == "passed"  # held only 30 of 60 s
    s, actions = decide(c, s, obs(61.0, ev(600), ev(60)), None, 61.0)
    assert s.step == 1 and [a for a in actions if isinstance(a, Route)] == [Route(
        weights={Slot.STABLE: 50.0, Slot.CANDIDATE: 50.0}, step=1)]


def test_the_last_step_promotes_once() -> None:
    c = config([(10, 10, [ERRORS]), (100, 0, [])])
    s = started(c)
    s, _ = decide(c, s, obs(11.0, ev(100), ev(30)), None, 11.0)
    s, _ = decide(c, s, obs(11.5, ev(100), ev(30)), None, 11.5)  # step 2's evidence begins
    s, actions = decide(c, s, obs(12.0, ev(100), ev(31)), None, 12.0)
    assert s.phase == RolloutPhase.PROMOTED
    assert [a for a in actions if isinstance(a, Promote)] == [Promote(version="2")]
    assert s.versions[Slot.STABLE] == "2"
    s2, more = decide(c, s, obs(13.0), Command(seq=1, kind=RolloutCommand.ROLLBACK), 13.0)
    assert s2.phase == RolloutPhase.PROMOTED and kinds(more) == ["Record"]  # ignored


def test_a_failed_gate_rolls_back_at_once() -> None:
    c = config([(10, 600, [ERRORS]), (100, 0, [])])
    s = started(c)
    s, actions = decide(c, s, obs(5.0, ev(300), ev(40, errors=10)), None, 5.0)
    assert s.phase == RolloutPhase.ROLLED_BACK
    assert "error_rate 0.25 breaks max 0.05" in (s.reason or "")
    assert [a for a in actions if isinstance(a, RollBack)]


def test_a_failed_gate_pauses_or_alerts_as_the_spec_says() -> None:
    c = config([(10, 10, [ERRORS]), (100, 0, [])], on_failure="pause")
    s, _ = decide(c, started(c), obs(5.0, ev(300), ev(40, errors=10)), None, 5.0)
    assert s.phase == RolloutPhase.PAUSED and not s.pending
    c = config([(10, 10, [ERRORS]), (100, 0, [])], on_failure="alert")
    s = started(c)
    s, actions = decide(c, s, obs(5.0, ev(300), ev(40, errors=10)), None, 5.0)
    assert kinds(actions).count("Alert") == 1 and s.phase == RolloutPhase.RUNNING
    s, actions = decide(c, s, obs(6.0, ev(300), ev(41, errors=11)), None, 6.0)
    assert not [a for a in actions if isinstance(a, Alert)]  # once per gate
    s, actions = decide(c, s, obs(11.0, ev(300), ev(42, errors=12)), None, 11.0)
    assert s.step == 1  # an alerted gate does not hold the step


def test_too_little_traffic_is_inconclusive_and_the_step_extends_then_pauses() -> None:
    c = config([(10, 10, [ERRORS]), (100, 0, [])])
    s = started(c)
    s, actions = decide(c, s, obs(11.0, ev(50), ev(5)), None, 11.0)
    assert s.gates[0].verdict == "inconclusive" and s.extended and s.step == 0
    assert [a.event for a in actions if hasattr(a, "event")].count("extended") == 1
    s, _ = decide(c, s, obs(31.0, ev(50), ev(5)), None, 31.0)  # max_hold = 30 s
    assert s.phase == RolloutPhase.PAUSED and "inconclusive" in (s.reason or "")
    assert not [a for a in s.pending if isinstance(a, RollBack)]


def test_inconclusive_rolls_back_only_when_the_spec_says_so() -> None:
    c = config([(10, 10, [ERRORS]), (100, 0, [])], on_inconclusive="rollback")
    s, _ = decide(c, started(c), obs(11.0, ev(50), ev(5)), None, 11.0)
    assert s.phase == RolloutPhase.ROLLED_BACK
    c = config([(10, 10, [ERRORS]), (100, 0, [])], on_inconclusive="pause")
    s, _ = decide(c, started(c), obs(11.0, ev(50), ev(5)), None, 11.0)
    assert s.phase == RolloutPhase.PAUSED


def test_a_candidate_like_stable_passes_a_gate_vs_stable() -> None:
    c = config([(10, 60, [VS_STABLE]), (100, 0, [])])
    s = started(c)
    s, _ = decide(c, s, obs(61.0, ev(9000, errors=90), ev(1000, errors=10)), None, 61.0)
    assert s.step == 1


def test_a_regressed_candidate_fails_a_gate_vs_stable() -> None:
    c = config([(10, 600, [VS_STABLE]), (100, 0, [])])
    s = started(c)
    s, _ = decide(c, s, obs(60.0, ev(9000, errors=90), ev(1000, errors=60)), None, 60.0)
    assert s.phase == RolloutPhase.ROLLED_BACK and "vs stable" in (s.reason or "")


def test_a_read_failure_is_a_gap_not_a_decision() -> None:
    c = config([(10, 10, [ERRORS]), (100, 0, [])])
    s = started(c)
    s2, actions = decide(c, s, Observation(time=20.0, error="timeout"), None, 20.0)
    assert s2.step == 0 and kinds(actions) == ["Record"]


def test_blocked_by_a_monitor_then_resumed_the_step_starts_again() -> None:
    from lifecycle.runtime.contract import WatchSummary

    flagged = WatchSummary(
        detector="ks", features=["a"], verified=True, window=100, p_val=0.01, actions=[],
        windows_closed=3, windows_dropped=0, rows_dropped=0, rows_invalid=0,
        rows_pending=0, windows_detected=3, sampled_fraction=1.0, windows_since=3,
        flagged_since=1, drift_since=1, detections_since=0, outlier_rate_since=None,
        last=None, recent=[], retrains=[])
    c = config([(10, 10, [ERRORS]), (100, 0, [])], block_promotion=["input-drift"])
    s = started(c)
    o = obs(11.0, ev(100), ev(30))
    o.monitors = {"input-drift": flagged}
    s, _ = decide(c, s, o, None, 11.0)
    assert s.phase == RolloutPhase.BLOCKED and "input-drift" in (s.reason or "")
    s, _ = decide(c, s, obs(40.0, ev(200), ev(40)), Command(seq=1, kind=RolloutCommand.RESUME),
                  40.0)
    assert s.phase == RolloutPhase.RUNNING and s.step_started == 40.0
    assert s.baseline["2"].requests == 40


def test_ab_holds_until_an_operator_decides() -> None:
    c = config([(50, 0, [ERRORS])], strategy="ab")
    s, _ = decide(c, initial_state(c), None, None, 0.0)
    s, _ = decide(c, s, obs(0.0), None, 0.0)
    s, _ = decide(c, s, obs(1000.0, ev(500), ev(500)), None, 1000.0)
    assert s.phase == RolloutPhase.RUNNING
    s, actions = decide(c, s, obs(1001.0, ev(500), ev(500)),
                        Command(seq=1, kind=RolloutCommand.PROMOTE), 1001.0)
    assert s.phase == RolloutPhase.PROMOTED and "Promote" in kinds(actions)


def test_pause_holds_and_a_command_is_carried_out_once() -> None:
    c = config([(10, 10, [ERRORS]), (100, 0, [])])
    s = started(c)
    pause = Command(seq=1, kind=RolloutCommand.PAUSE)
    s, _ = decide(c, s, obs(1.0), pause, 1.0)
    assert s.phase == RolloutPhase.PAUSED
    s, actions = decide(c, s, obs(100.0, ev(100), ev(100)), None, 100.0)
    assert s.phase == RolloutPhase.PAUSED and actions == []
    resume = Command(seq=2, kind=RolloutCommand.RESUME)
    s, _ = decide(c, s, obs(101.0, ev(100), ev(100)), resume, 101.0)
    assert s.phase == RolloutPhase.RUNNING
    s, actions = decide(c, s, obs(102.0, ev(100), ev(100)), pause, 102.0)  # seen: ignored
    assert s.phase == RolloutPhase.RUNNING


def test_no_stable_version_means_a_failure_cannot_roll_back() -> None:
    c = config([(100, 10, [ERRORS])], versions={Slot.CANDIDATE: "2"})
    s, actions = decide(c, initial_state(c), None, None, 0.0)
    assert actions[0] == Route(weights={Slot.CANDIDATE: 100.0}, step=0)
    s, _ = decide(c, s, obs(0.0), None, 0.0)
    s, _ = decide(c, s, obs(5.0, None, ev(40, errors=20)), None, 5.0)
    assert s.phase == RolloutPhase.FAILED and "no stable version" in (s.reason or "")


def test_a_blue_green_preview_is_judged_on_shadow_copies() -> None:
    c = config([(0, 10, [ERRORS]), (100, 0, [])], strategy="blue_green")
    s, actions = decide(c, initial_state(c), None, None, 0.0)
    assert actions[0] == Route(weights={Slot.STABLE: 100.0, Slot.CANDIDATE: 0.0}, step=0,
                               preview=True)
    s, _ = decide(c, s, obs(0.0), None, 0.0)
    copies = Tally()
    for i in range(40):
        copies.shadowed(10.0, ok=i >= 20)
    s, _ = decide(c, s, obs(5.0, ev(40), copies.evidence()), None, 5.0)
    assert s.phase == RolloutPhase.ROLLED_BACK


# --- properties ------------------------------------------------------------------------

looks = st.lists(st.tuples(
    st.integers(0, 40),  # candidate answers since the last look
    st.integers(0, 40),  # of them errors (clipped)
    st.sampled_from([None, "promote", "rollback", "pause", "resume"])), max_size=25)


@settings(max_examples=300, deadline=None)
@given(looks=looks, on_failure=st.sampled_from(["rollback", "pause", "alert"]),
       on_inconclusive=st.sampled_from(["extend", "pause", "rollback"]),
       gate=st.sampled_from([ERRORS, VS_STABLE]))
def test_properties_over_random_rollouts(looks: list[tuple[int, int, str | None]],
                                         on_failure: str, on_inconclusive: str,
                                         gate: RolloutGateParams) -> None:
    """Never promotes past a failed gate; never acts twice on one command; never rolls
    back on inconclusive unless the spec says so; nothing happens after the end."""
    c = config([(10, 5, [gate]), (50, 5, [gate]), (100, 0, [])], on_failure=on_failure,
               on_inconclusive=on_inconclusive)
    s, _ = decide(c, initial_state(c), None, None, 0.0)
    stable, cand = Tally(), Tally()
    ends, seq, t = 0, 0, 0.0
    for n, bad, command in looks:
        t += 2.0
        for _ in range(n * 9):
            stable.answered(10.0, ok=True)
        for i in range(n):
            cand.answered(10.0, ok=i >= min(bad, n))
        cmd = None
        if command is not None:
            seq += 1
            cmd = Command(seq=seq, kind=RolloutCommand(command))
        o = Observation(time=t, evidence={"1": stable.evidence(), "2": cand.evidence()})
        was_ended = s.phase.ended
        s, actions = decide(c, s, o, cmd, t)
        promotes = [a for a in actions if isinstance(a, Promote)]
        rollbacks = [a for a in actions if isinstance(a, RollBack)]
        if was_ended:
            assert not promotes and not rollbacks and not s.pending
        if promotes and (cmd is None or cmd.kind != RolloutCommand.PROMOTE):
            assert all(g.verdict == "passed" or g.gate.name in s.alerted for g in s.gates)
        if rollbacks and (cmd is None or cmd.kind != RolloutCommand.ROLLBACK):
            failed = any(g.verdict == "failed" for g in s.gates)
            assert failed or on_inconclusive == "rollback", s.reason
        ends += len(promotes) + len(rollbacks)
        # the same command again changes nothing
        if cmd is not None:
            _, more = decide(c, s, o, cmd, t)
            assert not [a for a in more if isinstance(a, (Promote, RollBack))]
    assert ends <= 1
