"""The rollout controller: one detached, named Ray actor per application. It walks the
rollout's steps (weight, hold, gates), reads the Router's per-version counts, checks the
gates every `gate_interval`, and on success promotes the candidate (MLflow alias
champion); on failure it rolls back to the stable version within one gate interval (or
pauses, or only alerts, as the spec says). Every event goes to the run journal and to
the MLflow run. It lives on the cluster, so the user's terminal can close.

Commands (`lifecycle promote | rollback | pause | resume`, and a monitor's rollback) reach
it by name (`contract.controller_name`)."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import ray

from ...store import Journal, Store
from ..contract import (
    NAMESPACE,
    ControllerConfig,
    GateCheck,
    ModelConfig,
    MonitorStatus,
    RolloutCommand,
    RolloutEvent,
    RolloutPhase,
    RolloutStatus,
    RouterStats,
    ShadowConfig,
    Slot,
    controller_name,
    model_deployment,
)
from ..serve import control
from .gates import Live, blocking, check_gates, failure_reason

MIN_REQUESTS = 20  # a step's gates are judged only on at least this many candidate requests
READ_TIMEOUT_S = 30.0


@ray.remote(num_cpus=0, max_restarts=0)
class RolloutController:
    def __init__(self, config: ControllerConfig) -> None:
        self.c = config
        self.lock = threading.Lock()
        self.state = RolloutStatus(application=config.application, strategy=config.strategy,
                                   phase=RolloutPhase.STARTING, step=0,
                                   versions=dict(config.versions))
        self.command: RolloutCommand | None = None
        self.command_reason: str | None = None
        self.wake = threading.Event()
        self.journal = None if config.journal is None else Journal(
            Store(config.journal.store), config.journal.run_id, writer="rollout")
        self.thread = threading.Thread(target=self._main, name="rollout", daemon=True)
        self.thread.start()

    # --- commands ---------------------------------------------------------------
    def status(self) -> RolloutStatus:
        with self.lock:
            return self.state.model_copy(deep=True)

    def send(self, command: str, reason: str | None = None) -> str:
        """An operator's command, or a monitor's (`rollback` with the drift as reason)."""
        cmd = RolloutCommand(command)
        with self.lock:
            if self.state.phase.ended:
                return f"the rollout has ended ({self.state.phase.value})"
            self.command = cmd
            self.command_reason = reason
        self.wake.set()
        return f"{cmd.value} requested"

    def wait_live(self, timeout_s: float = 300.0) -> RolloutStatus:
        """Return once the first step is live (or the rollout ended)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            st = self.status()
            if st.phase != RolloutPhase.STARTING:
                return st
            time.sleep(0.2)
        return self.status()

    # --- the loop ----------------------------------------------------------------
    def _event(self, event: str, **fields: Any) -> None:
        record = RolloutEvent(event=event, time=time.time(), **fields)
        with self.lock:
            self.state.events.append(record)
            events = [e.model_dump(mode="json", exclude_none=True) for e in self.state.events]
        if self.journal is not None:
            try:
                self.journal.append(f"rollout_{event}", application=self.c.application,
                                    **record.model_dump(mode="json", exclude_none=True,
                                                        exclude={"event", "time"}))
            except Exception:  # the journal must not stop a rollback
                traceback.print_exc()
        if event != "gate_check":  # decisions only: gate values go to metrics and journal
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

    def _set(self, **fields: Any) -> None:
        with self.lock:
            self.state = self.state.model_copy(update=fields)

    def _phase(self) -> RolloutPhase:
        with self.lock:
            return self.state.phase

    def _weights(self, candidate: float) -> dict[Slot, float]:
        if self.c.versions.get(Slot.STABLE) is None:
            return {Slot.CANDIDATE: 100.0}
        return {Slot.STABLE: 100.0 - candidate, Slot.CANDIDATE: candidate}

    def _route(self, weights: dict[Slot, float], step: int,
               shadow: ShadowConfig | None) -> None:
        control.update_router(self.c.application, weights=weights, step=step, shadow=shadow)
        control.wait_router_weights(self.c.application, weights)
        self._set(weights=weights)

    def _take_command(self) -> RolloutCommand | None:
        with self.lock:
            cmd, self.command = self.command, None
        return cmd

    def _main(self) -> None:
        try:
            self._walk()
        except Exception as exc:
            self._set(phase=RolloutPhase.FAILED, reason=f"{type(exc).__name__}: {exc}")
            self._event("failed", reason=f"{type(exc).__name__}: {exc}")

    def _walk(self) -> None:
        interval = self.c.gate_interval_s
        router = control.router(self.c.application)
        for i, step in enumerate(self.c.steps):
            preview = step.weight == 0 and self.c.versions.get(Slot.STABLE) is not None
            # a blue/green preview: the candidate sees copies; callers never see it
            shadow = self.c.shadow
            if preview:
                shadow = ShadowConfig(target=Slot.CANDIDATE, fraction=1.0,
                                      max_queued=self.c.preview_max_queued)
            self._route(self._weights(step.weight), i, shadow)
            started = time.time()
            self._set(phase=RolloutPhase.RUNNING, step=i, step_started=started, gates=[])
            self._event("step_started", step=i, weight=step.weight, hold_s=step.hold_s)
            if self.c.strategy == "ab":
                self._hold_until_command(router, started, i)
                return
            while True:
                self.wake.wait(timeout=interval)
                self.wake.clear()
                cmd = self._take_command()
                if self._operator_ended(cmd):
                    return
                if cmd == RolloutCommand.PAUSE:
                    if not self._paused():
                        return
                    started = time.time()  # the hold restarts after a pause
                elif cmd == RolloutCommand.RESUME and self._phase() == RolloutPhase.BLOCKED:
                    # an operator looked at the drift and lets the step go on: the step
                    # restarts, and only windows closed from now on count
                    self._set(phase=RolloutPhase.RUNNING, reason=None)
                    self._event("resumed", step=i)
                    started = time.time()
                live = self._live(router, started, preview)
                checked = check_gates(step.gates, live)
                self._set(gates=checked, live=live.traffic)
                failed = [c for c in checked if c.verdict == "failed"]
                enough = live.requests >= MIN_REQUESTS
                self._event("gate_check", step=i, requests=live.requests,
                            values={c.gate.metric: c.value for c in checked},
                            failed=[c.gate.metric for c in failed])
                self._log_gates(checked, i)
                if failed and enough:
                    reason = failure_reason(failed)
                    if self.c.on_failure == "rollback":
                        self._rollback(f"step {i + 1} at {step.weight:g}%: {reason}")
                        return
                    self._event("gate_failed", step=i, reason=reason,
                                action=self.c.on_failure)
                    if self.c.on_failure == "pause":
                        self._set(phase=RolloutPhase.PAUSED, reason=reason)
                        if not self._paused():
                            return
                        started = time.time()
                    continue
                held = time.time() - started >= step.hold_s
                blocked = blocking(live, self.c.block_promotion)
                if blocked:  # drift holds the rollout here until an operator decides
                    if self._phase() != RolloutPhase.BLOCKED:
                        self._set(phase=RolloutPhase.BLOCKED, reason="; ".join(blocked))
                        self._event("blocked", step=i, reason="; ".join(blocked))
                    continue
                if held and (enough or not step.gates):
                    break
        self._promote("every step passed")

    def _log_gates(self, checked: list[GateCheck], step: int) -> None:
        def log(client: Any, run: str) -> None:
            for c in checked:
                if c.value is not None:
                    client.log_metric(run, f"rollout.{c.gate.metric}", float(c.value),
                                      step=step)

        self._mlflow(log)

    def _live(self, router: Any, since: float, preview: bool) -> Live:
        """The candidate's counts since `since`, and the monitors' windows closed since
        then. A read that fails (a replica restarting, a timeout) is a gap in the signal,
        not the end of the rollout: those gates are `unknown` for this interval and the
        next interval reads again."""
        live = Live()
        try:
            stats: RouterStats = router.stats.remote(since).result(timeout_s=READ_TIMEOUT_S)
            live.traffic = stats.shadow_slot if preview else stats.slots.get(Slot.CANDIDATE)
        except Exception as exc:
            self._event("gate_read_failed", reason=f"{type(exc).__name__}: {exc}")
        if self.c.monitors:
            try:
                watched: MonitorStatus = control.monitor(self.c.application).status.remote(
                    since).result(timeout_s=READ_TIMEOUT_S)
                live.monitors = watched.monitors
            except Exception as exc:
                self._event("gate_read_failed", reason=f"monitors: {type(exc).__name__}: "
                            f"{exc}")
        return live

    def _hold_until_command(self, router: Any, started: float, i: int) -> None:
        step = self.c.steps[i]
        while True:
            self.wake.wait(timeout=self.c.gate_interval_s)
            self.wake.clear()
            live = self._live(router, started, False)
            self._set(gates=check_gates(step.gates, live), live=live.traffic)
            if self._operator_ended(self._take_command()):
                return

    def _operator_ended(self, cmd: RolloutCommand | None) -> bool:
        """An operator's (or a monitor's) promote or rollback, carried out: the rollout
        is over."""
        with self.lock:
            reason, self.command_reason = self.command_reason, None
        if cmd == RolloutCommand.ROLLBACK:
            self._rollback(reason or "rollback requested by an operator")
            return True
        if cmd == RolloutCommand.PROMOTE:
            self._promote(reason or "promoted by an operator")
            return True
        return False

    def _paused(self) -> bool:
        """Wait for resume (True) or for promote/rollback (handled; False)."""
        self._set(phase=RolloutPhase.PAUSED)
        self._event("paused")
        while True:
            self.wake.wait()
            self.wake.clear()
            cmd = self._take_command()
            if cmd == RolloutCommand.RESUME:
                self._set(phase=RolloutPhase.RUNNING)
                self._event("resumed")
                return True
            if self._operator_ended(cmd):
                return False

    def _rollback(self, reason: str) -> None:
        if self.c.versions.get(Slot.STABLE) is None:
            why = f"{reason}; no stable version to roll back to"
            self._set(phase=RolloutPhase.FAILED, reason=why)
            self._event("failed", reason=why)
            return
        self._route({Slot.STABLE: 100.0, Slot.CANDIDATE: 0.0}, -1, None)
        self._set(phase=RolloutPhase.ROLLED_BACK, reason=reason)
        self._event("rolled_back", reason=reason, version=self.c.versions[Slot.CANDIDATE])
        self._mlflow(lambda client, run: client.set_tag(run, "lifecycle.rollout",
                                                        f"rolled_back: {reason}"))

    def _promote(self, reason: str) -> None:
        from mlflow.tracking import MlflowClient

        version = self.c.versions[Slot.CANDIDATE]
        assert version is not None
        client = MlflowClient(self.c.tracking_uri)
        client.set_registered_model_alias(self.c.model, self.c.champion_alias, version)
        client.set_model_version_tag(self.c.model, version, "lifecycle.rollout", "promoted")
        if self.c.versions.get(Slot.STABLE) is not None:
            # the stable slot now serves the new champion; all traffic goes to it
            control.update_user_config(self.c.application, model_deployment(Slot.STABLE),
                                       ModelConfig, model_uri=f"models:/{self.c.model}/{version}",
                                       version=version)
            self._route({Slot.STABLE: 100.0, Slot.CANDIDATE: 0.0}, len(self.c.steps), None)
            self.c = self.c.model_copy(update={"versions": {**self.c.versions,
                                                            Slot.STABLE: version}})
            self._set(versions=dict(self.c.versions))
        self._set(phase=RolloutPhase.PROMOTED, reason=reason)
        self._event("promoted", reason=reason, version=version)
        self._mlflow(lambda c, run: c.set_tag(run, "lifecycle.rollout", "promoted"))


def start(config: ControllerConfig) -> Any:
    """(Re)start the application's controller: a new rollout replaces an old one."""
    name = controller_name(config.application)
    try:
        ray.kill(ray.get_actor(name, namespace=NAMESPACE))
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

