"""The rollout's decisions, as one pure function: what the controller's state becomes, and
what must be done, given an observation of the application and an operator's command.

    decide(config, state, observation, command, now) -> (state, actions)

The controller actor only gathers observations, calls this, journals the new state and
carries out the actions; `lifecycle rollout simulate` calls the same function on
synthetic observations. No Ray, no clock, no I/O: every branch is unit-tested.

The walk: each step's weights are routed; its evidence starts at the first look after
that (the difference from the cumulative evidence then, so nothing counted before the
step judges it); every look checks the step's gates. A failed gate does what
`on_failure` says. When the hold has passed, a step whose gates all passed moves on (the
last step promotes); one with inconclusive gates does what `on_inconclusive` says:
extend up to `max_hold` (then pause for an operator), pause, or roll back. A monitor
with `block_promotion` holds the step (`blocked`) while a window of the step is flagged.
A/B holds its one step until an operator decides. Commands: promote and rollback end the
rollout; pause holds it; resume restarts the step (its evidence counted anew)."""

from __future__ import annotations

import datetime as dt

from ...plan.approvals import DIGEST_TAG, promotion_refusal
from ..contract import (
    APPLICATION,
    Action,
    Alert,
    Command,
    ControllerConfig,
    GateCheck,
    Observation,
    Promote,
    Record,
    RollBack,
    RolloutCommand,
    RolloutPhase,
    RolloutState,
    Route,
    SloReading,
    Slot,
    command_refusal,
)
from ..evidence import between, summarize
from .gates import Live, blocking, check_gates, failure_reason

Phase = RolloutPhase


def initial_state(config: ControllerConfig) -> RolloutState:
    return RolloutState(versions=dict(config.versions))


def weights_of(config: ControllerConfig, candidate: float) -> dict[Slot, float]:
    if config.versions.get(Slot.STABLE) is None:
        return {Slot.CANDIDATE: 100.0}
    return {Slot.STABLE: 100.0 - candidate, Slot.CANDIDATE: candidate}


def is_preview(config: ControllerConfig, step: int) -> bool:
    """A blue/green step of weight 0: the candidate answers shadow copies only."""
    return config.steps[step].weight == 0 and config.versions.get(Slot.STABLE) is not None


def per_test_confidence(config: ControllerConfig) -> float:
    """`confidence` is for the whole rollout: a candidate like the stable version passes
    every gate vs stable of every step with at least that chance. Each of the N tests
    therefore runs at 1 - (1 - confidence) / N (Bonferroni)."""
    tests = sum(1 for step in config.steps for g in step.gates if g.vs is not None)
    return 1.0 - (1.0 - config.confidence) / max(tests, 1)


def decide(config: ControllerConfig, state: RolloutState, obs: Observation | None,
           command: Command | None, now: float) -> tuple[RolloutState, list[Action]]:
    s = state.model_copy(deep=True)
    s.pending = []
    actions: list[Action] = []
    if command is not None and command.seq > s.commands:
        s.commands = command.seq
        refusal = command_refusal(s.phase, command.kind)
        if refusal is not None:  # the same rule the controller answers the operator with
            actions.append(Record(event="command_ignored", fields={
                "command": command.kind.value, "why": refusal}))
        else:
            _command(config, s, command, obs, now, actions)
    if not s.phase.ended and s.phase != Phase.PAUSED:
        if s.phase == Phase.STARTING:
            _start_step(config, s, 0, actions)
        elif obs is not None:
            _look(config, s, obs, now, actions)
    s.pending = [a for a in actions if not isinstance(a, Record)]
    return s, actions


# --- commands ----------------------------------------------------------------------------

def _command(config: ControllerConfig, s: RolloutState, command: Command,
             obs: Observation | None, now: float, actions: list[Action]) -> None:
    kind, why = command.kind, command.reason
    if kind == RolloutCommand.ROLLBACK:
        _rollback(config, s, why or "rollback requested by an operator", actions)
    elif kind == RolloutCommand.PROMOTE:
        if s.frozen:
            actions.append(Record(event="command_refused", fields={
                "command": "promote", "why": f"promotion is frozen: {s.frozen}"}))
            return
        _promote(config, s, why or "promoted by an operator", now, actions)
    elif kind == RolloutCommand.PAUSE:
        if s.phase in (Phase.RUNNING, Phase.BLOCKED, Phase.STARTING):
            s.phase, s.reason = Phase.PAUSED, why or "paused by an operator"
            actions.append(Record(event="paused", fields={"step": s.step, "reason": s.reason}))
    elif kind == RolloutCommand.RESUME and s.phase in (Phase.PAUSED, Phase.BLOCKED):
        # the operator looked and lets the step go on: it starts again, and only what
        # happens from now on counts (its hold, its evidence, its monitor windows)
        s.phase, s.reason = Phase.RUNNING, None
        _restart_evidence(s, obs)
        actions.append(Record(event="resumed", fields={"step": s.step}))


def _restart_evidence(s: RolloutState, obs: Observation | None) -> None:
    s.looks, s.extended, s.alerted, s.gates, s.memory = 0, False, [], [], {}
    if obs is not None and obs.evidence is not None:
        s.step_started, s.baseline = obs.time, dict(obs.evidence)
    else:
        s.step_started, s.baseline = None, {}


# --- the walk ------------------------------------------------------------------------------

def _start_step(config: ControllerConfig, s: RolloutState, i: int,
                actions: list[Action]) -> None:
    step = config.steps[i]
    s.phase, s.step, s.reason = Phase.RUNNING, i, None
    s.step_started, s.baseline, s.gates, s.memory = None, {}, [], {}
    s.looks, s.extended, s.alerted = 0, False, []
    s.weights = weights_of(config, step.weight)
    actions.append(Route(weights=s.weights, step=i, preview=is_preview(config, i)))
    actions.append(Record(event="step_started", fields={
        "step": i, "weight": step.weight, "hold_s": step.hold_s}))


def _look(config: ControllerConfig, s: RolloutState, obs: Observation, now: float,
          actions: list[Action]) -> None:
    if obs.evidence is None:  # a gap in the signal: nothing to judge this time
        actions.append(Record(event="gate_read_failed", fields={"reason": obs.error or ""}))
        return
    if s.step_started is None:  # the step's weights are live: its evidence starts now
        s.step_started, s.baseline = obs.time, dict(obs.evidence)
        return
    step = config.steps[s.step]
    since = between(obs.evidence, s.baseline)
    live = Live(versions=since, candidate=s.versions.get(Slot.CANDIDATE),
                stable=s.versions.get(Slot.STABLE), preview=is_preview(config, s.step),
                monitors=obs.monitors or {})
    s.looks += 1
    s.live = {v: summarize(ev) for v, ev in since.items()}
    s.gates, s.memory = check_gates(step.gates, live, per_test_confidence(config), s.memory)
    failed = [c for c in s.gates if c.verdict == "failed"]
    actions.append(Record(event="gate_check", fields={
        "step": s.step, "look": s.looks, "requests": live.requests,
        "values": {c.gate.name: c.value for c in s.gates},
        "verdicts": {c.gate.name: c.verdict for c in s.gates}}))
    if failed and _on_failure(config, s, failed, actions):
        return
    if obs.slo is not None and _slo(config, s, obs.slo, actions):
        return
    blocked = blocking(live, config.block_promotion)
    if blocked:  # drift holds the rollout here until an operator decides
        if s.phase != Phase.BLOCKED:
            s.phase, s.reason = Phase.BLOCKED, "; ".join(blocked)
            actions.append(Record(event="blocked", fields={"step": s.step,
                                                           "reason": s.reason}))
        return
    if s.phase == Phase.BLOCKED or config.strategy == "ab":
        return  # an operator decides (resume, promote, rollback)
    if s.frozen:
        return  # the error-budget freeze: no step forward while it holds
    held = now - s.step_started >= step.hold_s
    if not held:
        return
    open_gates = [c for c in s.gates if c.verdict != "passed"
                  and c.gate.name not in s.alerted]
    if not open_gates:
        _next(config, s, now, actions)
        return
    _inconclusive(config, s, open_gates, now, actions)


def _slo(config: ControllerConfig, s: RolloutState, readings: list[SloReading],
         actions: list[Action]) -> bool:
    """The SLOs' burn (their on_burn): an alert once per SLO and version while it burns;
    the candidate rolled back when its own traffic burns a budget; promotion frozen while
    a budget of the application is spent, or the candidate burns one. True when the
    rollout stops here."""
    s.slo = list(readings)
    by_name = {slo.name: slo for slo in config.slos}
    candidate = s.versions.get(Slot.CANDIDATE)
    for r in readings:
        slo = by_name.get(r.slo)
        if slo is None or not r.firing:
            continue
        key = f"slo:{r.slo}:{r.version}"
        if "alert" in slo.on_burn and key not in s.alerted:
            s.alerted = [*s.alerted, key]
            actions.append(Alert(reason=f"SLO {r.slo}: {_burning(r)}"))
            actions.append(Record(event="slo_burn", fields={
                "slo": r.slo, "version": r.version, "firing": list(r.firing),
                "budget_left": r.budget_left}))
        if "rollback" in slo.on_burn and r.version == candidate and \
                s.versions.get(Slot.STABLE) not in (None, candidate):  # else: nothing to
            # roll back to (a first deploy): the alert and the freeze still hold
            _rollback(config, s, f"SLO {r.slo}: the candidate's own traffic burns its "
                      f"error budget ({_burning(r)})", actions)
            return True
    frozen = [r for r in readings if "block_promotion" in by_name[r.slo].on_burn and (
        (r.version == APPLICATION and r.exhausted) or (r.version == candidate and r.firing))]
    reason = "; ".join(
        f"SLO {r.slo}: " + (f"the application's error budget is spent ({r.budget_left:.2f} "
                            "left)" if r.version == APPLICATION else
                            f"the candidate burns its budget ({_burning(r)})")
        for r in frozen) or None
    if reason != s.frozen:
        actions.append(Record(event="slo_frozen" if reason else "slo_unfrozen",
                              fields={"step": s.step, "reason": reason or s.frozen}))
        s.frozen = reason
    return False


def _burning(r: SloReading) -> str:
    rates = ", ".join(f"{rate:.1f}x over {w}" for w, rate in r.burn_rates.items()
                      if rate is not None)
    return f"{'; '.join(r.firing)}: burn rate {rates}"


def _on_failure(config: ControllerConfig, s: RolloutState, failed: list[GateCheck],
                actions: list[Action]) -> bool:
    """A failed gate: True when the rollout stops here (rolled back or paused)."""
    weight = config.steps[s.step].weight
    reason = f"step {s.step + 1} at {weight:g}%: {failure_reason(failed)}"
    if config.on_failure == "rollback":
        _rollback(config, s, reason, actions)
        return True
    if config.on_failure == "pause":
        s.phase, s.reason = Phase.PAUSED, reason
        actions.append(Record(event="gate_failed", fields={
            "step": s.step, "reason": reason, "action": "pause"}))
        return True
    new = [c for c in failed if c.gate.name not in s.alerted]  # alert: once per gate
    if new:
        s.alerted = [*s.alerted, *(c.gate.name for c in new)]
        actions.append(Alert(reason=reason))
        actions.append(Record(event="gate_failed", fields={
            "step": s.step, "reason": reason, "action": "alert"}))
    return False


def _inconclusive(config: ControllerConfig, s: RolloutState, open_gates: list[GateCheck],
                  now: float, actions: list[Action]) -> None:
    step = config.steps[s.step]
    names = ", ".join(c.gate.name for c in open_gates)
    assert s.step_started is not None
    if config.on_inconclusive == "rollback":
        _rollback(config, s, f"step {s.step + 1}: gates still inconclusive when its hold "
                  f"ended ({names})", actions)
    elif config.on_inconclusive == "extend" and now - s.step_started < step.max_hold_s:
        if not s.extended:
            s.extended = True
            actions.append(Record(event="extended", fields={
                "step": s.step, "gates": names, "until_s": step.max_hold_s}))
    else:
        longest = "its max_hold" if config.on_inconclusive == "extend" else "its hold"
        s.phase = Phase.PAUSED
        s.reason = (f"step {s.step + 1}: gates inconclusive at the end of {longest} "
                    f"({names}); resume to judge it again, promote or rollback")
        actions.append(Record(event="paused", fields={"step": s.step, "reason": s.reason}))


def _next(config: ControllerConfig, s: RolloutState, now: float,
          actions: list[Action]) -> None:
    if s.step + 1 < len(config.steps):
        _start_step(config, s, s.step + 1, actions)
    else:
        _promote(config, s, "every step passed", now, actions)


def _promote(config: ControllerConfig, s: RolloutState, reason: str, now: float,
             actions: list[Action]) -> None:
    version = s.versions.get(Slot.CANDIDATE)
    assert version is not None
    refusal = promotion_refusal(
        {} if config.candidate_digest is None else {DIGEST_TAG: config.candidate_digest},
        config.approved_digest, config.approvals, version=f"{config.model} {version}",
        today=dt.datetime.fromtimestamp(now, dt.UTC).date())
    if refusal is not None:  # held where it is: the approvals decide, not the gates
        s.phase, s.reason = Phase.PAUSED, f"promotion refused: {refusal}"
        actions.append(Record(event="promotion_refused", fields={
            "step": s.step, "version": version, "reason": refusal}))
        return
    s.phase, s.reason = Phase.PROMOTED, reason
    if s.versions.get(Slot.STABLE) is not None:
        s.weights = {Slot.STABLE: 100.0, Slot.CANDIDATE: 0.0}
        s.versions = {**s.versions, Slot.STABLE: version}
    actions.append(Promote(version=version))
    actions.append(Record(event="promoted", fields={"reason": reason, "version": version}))


def _rollback(config: ControllerConfig, s: RolloutState, reason: str,
              actions: list[Action]) -> None:
    if s.versions.get(Slot.STABLE) is None:
        s.phase = Phase.FAILED
        s.reason = f"{reason}; no stable version to roll back to"
        actions.append(Record(event="failed", fields={"reason": s.reason}))
        return
    s.phase, s.reason = Phase.ROLLED_BACK, reason
    s.weights = {Slot.STABLE: 100.0, Slot.CANDIDATE: 0.0}
    actions.append(RollBack(reason=reason))
    actions.append(Record(event="rolled_back", fields={
        "reason": reason, "version": s.versions.get(Slot.CANDIDATE)}))
