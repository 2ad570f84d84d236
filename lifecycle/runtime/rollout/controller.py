"""The rollout controller: one detached, named Ray actor per application
(`contract.controller_name`). A thin loop around the pure `decide`: every
`gate_interval` (or at once on a command) it gathers an observation — the evidence the
Router replicas pushed to the EvidenceCollector, the Monitor's windows since the step
began — calls `decide`, journals the new state, and carries out the actions (route
traffic, promote, roll back, alert).

It survives its own crash: Ray restarts it (its node lost, its process killed), and it
reads its last state back from the run journal, carries out any action it had decided
but not finished (each is idempotent), and resumes the step it was in with the same
weights; `status` counts the restarts. While it is gone the Router keeps the last
weights. Commands (`lifecycle promote | rollback | pause | resume`, a monitor's rollback)
reach it by name and are numbered, so none is carried out twice."""

from __future__ import annotations

import collections
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import ray

from ...store import Journal, Store, read_journal
from ..contract import (
    NAMESPACE,
    Action,
    Alert,
    Command,
    CommandReply,
    ControllerConfig,
    ModelConfig,
    Observation,
    Promote,
    Record,
    RollBack,
    RolloutCommand,
    RolloutEvent,
    RolloutPhase,
    RolloutState,
    RolloutStatus,
    Route,
    ShadowConfig,
    SloReading,
    Slot,
    command_refusal,
    controller_name,
    model_deployment,
)
from ..evidence import compact
from ..serve import control
from ..slo import Evaluation, evaluate, readings, windows
from .decide import decide, initial_state

READ_TIMEOUT_S = 30.0
STATE = "rollout_state"  # the journal record a restarted controller resumes from
OBSERVATION = "rollout_observation"  # what each decision saw (replayed by simulate)
REPLAYED = {"windows_since", "flagged_since", "drift_since", "outlier_rate_since"}
EVENTS_KEPT = 200


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class RolloutController:
    def __init__(self, config: ControllerConfig) -> None:
        self.c = config
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.commands: collections.deque[Command] = collections.deque()
        self.events: collections.deque[RolloutEvent] = collections.deque(maxlen=EVENTS_KEPT)
        self.evaluations: dict[str, collections.deque[Evaluation]] = {}
        self.journal = None if config.journal is None else Journal(
            Store(config.journal.store), config.journal.run_id, writer="rollout")
        recovered = self._recover()
        self.state = recovered or initial_state(config)
        self.settled = self.state  # what status shows: the last state carried out
        self.seq = self.state.commands
        self.thread = threading.Thread(target=self._main, name="rollout", daemon=True)
        self.thread.start()

    # --- the outside ---------------------------------------------------------------------
    def status(self) -> RolloutStatus:
        with self.lock:  # a decided rollback reads as rolled back once traffic has moved
            s = self.settled
            return RolloutStatus(
                application=self.c.application, strategy=self.c.strategy, phase=s.phase,
                step=s.step, weights=s.weights, gates=list(s.gates), versions=s.versions,
                reason=s.reason, step_started=s.step_started, live=dict(s.live),
                restarts=s.restarts, events=list(self.events), frozen=s.frozen,
                slo=list(s.slo), model=self.c.model,
                tracking_uri=self.c.tracking_uri)

    def send(self, command: str, reason: str | None = None) -> CommandReply:
        """An operator's command, or a monitor's (`rollback` with the drift as reason);
        one that would change nothing is refused at once, saying why."""
        kind = RolloutCommand(command)
        with self.lock:
            phase = self.state.phase
            refusal = command_refusal(phase, kind)
            if refusal is not None:
                return CommandReply(accepted=False, phase=phase, message=refusal)
            self.seq += 1
            self.commands.append(Command(seq=self.seq, kind=kind, reason=reason))
        self.wake.set()
        return CommandReply(accepted=True, phase=phase, message=f"{kind.value} requested")

    def superseded(self, run_id: str) -> None:
        """A new run deploys this application: this rollout ends here (journaled; the
        caller then stops the actor)."""
        with self.lock:
            step, phase = self.state.step, self.state.phase
        if not phase.ended:
            self._journal("rollout_superseded", by_run=run_id, step=step, phase=phase.value)

    def wait_live(self, timeout_s: float = 300.0) -> RolloutStatus:
        """Return once the first step's weights are live (or the rollout ended)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            st = self.status()
            if st.phase.ended or (st.phase != RolloutPhase.STARTING
                                  and st.step_started is not None):
                return st
            time.sleep(0.2)
        return self.status()

    # --- the loop --------------------------------------------------------------------------
    def _main(self) -> None:
        try:
            if self.state.pending:  # decided before a crash, maybe not carried out
                self._apply(self.state.pending)
                self._commit(self.state.model_copy(update={"pending": []}), [])
            while not self.state.phase.ended:
                command = self._next_command()
                obs = self._observe()
                state, actions = decide(self.c, self.state, obs, command, time.time())
                self._commit(state, actions)
                if state.pending:
                    self._apply(state.pending)
                    self._commit(state.model_copy(update={"pending": []}), [])
                if self.state.step_started is not None or self.state.phase.ended:
                    self._wait()
        except Exception as exc:  # a bug or an engine failure: said, never silent
            traceback.print_exc()
            reason = f"{type(exc).__name__}: {exc}"
            self._commit(self.state.model_copy(update={"phase": RolloutPhase.FAILED,
                                                       "reason": reason, "pending": []}),
                         [Record(event="failed", fields={"reason": reason})])

    def _wait(self) -> None:
        """Until the next look, or a command."""
        if self.state.phase.ended:
            return
        paused = self.state.phase == RolloutPhase.PAUSED
        if not self.commands:
            self.wake.wait(timeout=None if paused else self.c.gate_interval_s)
        self.wake.clear()

    def _next_command(self) -> Command | None:
        with self.lock:
            return self.commands.popleft() if self.commands else None

    def _observe(self) -> Observation:
        """The cumulative evidence and the monitors' windows of this step. A read that
        fails is a gap in the signal (decide then judges nothing), not the end."""
        now = time.time()
        obs = Observation(time=now)
        try:
            obs.evidence = control.evidence(self.c.application,
                                            timeout_s=READ_TIMEOUT_S).versions
        except Exception as exc:
            obs.error = f"{type(exc).__name__}: {exc}"
        if self.c.monitors:
            since = self.state.step_started or now
            try:
                obs.monitors = control.monitor_status(self.c.application, since,
                                                      timeout_s=READ_TIMEOUT_S).monitors
            except Exception as exc:
                obs.error = f"monitors: {type(exc).__name__}: {exc}"
        if self.c.slos and obs.evidence is not None:
            try:
                obs.slo = self._slo_readings(obs, now)
            except Exception as exc:
                obs.error = f"slo: {type(exc).__name__}: {exc}"
        if obs.evidence is not None:  # what `lifecycle rollout simulate --replay` reads
            self._journal(OBSERVATION, observed_at=obs.time, evidence={
                v: compact(e) for v, e in obs.evidence.items()}, monitors={
                name: w.model_dump(mode="json", include=REPLAYED)
                for name, w in (obs.monitors or {}).items()},
                **({"slo": [r.model_dump(mode="json") for r in obs.slo]} if obs.slo else {}))
        return obs

    def _slo_readings(self, obs: Observation, now: float) -> list[SloReading]:
        """Request-based SLOs from the collector's windows; quality and freshness from
        this controller's own evaluations, one per look (kept in memory: a restarted
        controller starts them again)."""
        versions = {v: slot for slot, v in self.state.versions.items() if v is not None}
        for slo in self.c.slos:
            if slo.request_based:
                continue
            kept = self.evaluations.setdefault(slo.name, collections.deque(maxlen=100_000))
            for version, good in evaluate(slo, self.state.versions, obs.monitors or {},
                                          self.c.freshness, now):
                kept.append((now, version, good))
        spans = sorted({w for slo in self.c.slos if slo.request_based for w in windows(slo)})
        windowed = control.evidence_windows(self.c.application, spans,
                                            timeout_s=READ_TIMEOUT_S) if spans else {}
        return readings(self.c.slos, windowed,
                        {k: list(v) for k, v in self.evaluations.items()}, versions, now)

    # --- journal and MLflow ------------------------------------------------------------------
    def _recover(self) -> RolloutState | None:
        """The last state this rollout journaled (a restart), or None (a new rollout)."""
        if self.journal is None:
            return None
        last = None
        try:
            for record in read_journal(self.journal.store, self.journal.run_id):
                if record["event"] == STATE and record.get("application") == \
                        self.c.application:
                    last = record
        except Exception:
            traceback.print_exc()
            return None
        if last is None:
            return None
        state = RolloutState.model_validate(last["state"])
        state = state.model_copy(update={"restarts": state.restarts + 1})
        self._journal(STATE, state=state.model_dump(mode="json"))
        self._event("controller_restarted", {"restarts": state.restarts,
                                             "phase": state.phase.value, "step": state.step})
        return state

    def _commit(self, state: RolloutState, actions: list[Action]) -> None:
        """The new state (journaled when a decision changed it) and the decisions'
        records, before anything is carried out."""
        with self.lock:
            before, self.state = self.state, state
            if not state.pending:
                self.settled = state
        if _decision_changed(before, state):
            self._journal(STATE, state=state.model_dump(mode="json",
                                                        exclude={"gates", "live"}))
        for a in actions:
            if isinstance(a, Record):
                self._event(a.event, a.fields)

    def _journal(self, event: str, **fields: Any) -> None:
        if self.journal is None:
            return
        try:
            self.journal.append(event, application=self.c.application, **fields)
        except Exception:  # the journal must not stop a rollback
            traceback.print_exc()

    def _event(self, event: str, fields: dict[str, Any]) -> None:
        record = RolloutEvent(event=event, time=time.time(), fields=fields)
        with self.lock:
            self.events.append(record)
            events = [e.model_dump(mode="json") for e in self.events
                      if e.event != "gate_check"]
        self._journal(f"rollout_{event}", **fields)
        if event != "gate_check":  # decisions only: gate values go to the journal
            self._mlflow(lambda client, run: client.log_dict(run, {"events": events},
                                                             "rollout/events.json"))

    def _mlflow(self, action: Callable[[Any, str], Any]) -> None:
        run = self.c.mlflow_run_id
        if not run or not self.c.tracking_uri:
            return
        try:
            from mlflow.tracking import MlflowClient

            action(MlflowClient(self.c.tracking_uri), run)
        except Exception:
            traceback.print_exc()

    # --- carrying decisions out (each idempotent: a restart may do one again) ------------
    def _apply(self, actions: list[Action]) -> None:
        for a in actions:
            if isinstance(a, Route):
                shadow = ShadowConfig(target=Slot.CANDIDATE, fraction=1.0,
                                      max_queued=self.c.preview_max_queued) \
                    if a.preview else self.c.shadow
                self._route(a.weights, a.step, shadow)
            elif isinstance(a, Promote):
                self._promote(a.version)
            elif isinstance(a, RollBack):
                self._route({Slot.STABLE: 100.0, Slot.CANDIDATE: 0.0}, -1, None)
                self._mlflow(lambda client, run, why=a.reason: client.set_tag(
                    run, "lifecycle.rollout", f"rolled_back: {why}"))
            elif isinstance(a, Alert):
                self._mlflow(lambda client, run, why=a.reason: client.set_tag(
                    run, "lifecycle.rollout.alert", why[:5000]))

    def _route(self, weights: dict[Slot, float], step: int, shadow: ShadowConfig | None,
               **changes: Any) -> None:
        config = control.update_router(self.c.application, weights=weights, step=step,
                                       shadow=shadow, **changes)
        control.wait_applied(self.c.application, config)

    def _promote(self, version: str) -> None:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(self.c.tracking_uri)
        client.set_registered_model_alias(self.c.model, self.c.champion_alias, version)
        client.set_model_version_tag(self.c.model, version, "lifecycle.rollout", "promoted")
        if self.c.versions.get(Slot.STABLE) is not None:
            # the stable slot now serves the new champion; all traffic goes to it
            champion = ModelConfig(model_uri=f"models:/{self.c.model}/{version}",
                                   slot=Slot.STABLE, version=version,
                                   tracking_uri=self.c.tracking_uri)
            current = control.router_config(self.c.application)
            models = current.models
            made = current.freshness.get(Slot.CANDIDATE)
            freshness = {**current.freshness, **({Slot.STABLE: made} if made else {})}
            if self.c.topology == "routed":
                control.update_user_config(self.c.application, model_deployment(Slot.STABLE),
                                           ModelConfig, model_uri=champion.model_uri,
                                           version=version)
            else:  # fused: each Router replica reuses the candidate's loaded model
                models = {**models, Slot.STABLE: champion}
            self._route({Slot.STABLE: 100.0, Slot.CANDIDATE: 0.0}, len(self.c.steps), None,
                        models=models, freshness=freshness)
        self._mlflow(lambda c, run: c.set_tag(run, "lifecycle.rollout", "promoted"))


def _decision_changed(a: RolloutState, b: RolloutState) -> bool:
    keys = ("phase", "step", "step_started", "weights", "versions", "reason", "extended",
            "alerted", "commands", "restarts", "pending", "frozen")
    return any(getattr(a, k) != getattr(b, k) for k in keys)


def start(config: ControllerConfig) -> Any:
    """(Re)start the application's controller: a new rollout replaces an old one."""
    name = controller_name(config.application)
    try:
        ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
    except ValueError:
        pass
    actor: Any = RolloutController  # ray.remote adds .options; its type hints do not say so
    return actor.options(name=name, namespace=NAMESPACE, lifetime="detached",
                         max_concurrency=8).remote(config)


def find(application: str) -> Any | None:
    try:
        return ray.get_actor(controller_name(application), namespace=NAMESPACE)
    except ValueError:
        return None
