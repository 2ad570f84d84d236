"""The rollout controller: one detached, named Ray actor per application. It walks the
rollout's steps (weight, hold, gates), reads the Router's per-version counts, checks the
gates every `gate_interval`, and on success promotes the candidate (MLflow alias
champion); on failure it rolls back to the stable version within one gate interval (or
pauses, or only alerts, as the spec says). Every event goes to the run journal and to
the MLflow run. It lives on the cluster, so the user's terminal can close.

Commands (`lifecycle promote | rollback | pause | resume`) reach it by name."""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any

import ray

from ...execute.journal import journal_at
from . import control
from .app import SHADOW_MAX_DEFAULT

NAMESPACE = "lifecycle"
MIN_REQUESTS = 20  # a step's gates are judged only on at least this many candidate requests
READ_TIMEOUT_S = 30.0


def actor_name(application: str) -> str:
    return f"rollout:{application}"


def gate_value(gate: dict[str, Any], live: dict[str, Any]) -> float | None:
    """The gate's live signal: the candidate's error rate or latency percentile, or from
    the Monitor deployment, the number of drifted windows closed since the step began
    (`drift`) or the highest outlier rate of those windows (`outlier_rate`)."""
    metric = gate["metric"]
    if metric == "error_rate" or metric.startswith("latency_"):
        return live.get(metric)  # type: ignore[no-any-return]
    watched = (live.get("monitors") or {}).get(gate.get("monitor") or "")
    if watched is None or not watched.get("windows_since"):
        return None  # no window has closed since the step began: no signal yet
    if metric == "drift":
        return float(watched["drift_since"])
    if metric == "outlier_rate":
        return watched.get("outlier_rate_since")  # type: ignore[no-any-return]
    return None


def blocking(live: dict[str, Any], names: list[str]) -> list[str]:
    """Reasons the monitors with `block_promotion` hold the rollout where it is: a
    watched window flagged since the step began."""
    out = []
    for name in names:
        watched = (live.get("monitors") or {}).get(name) or {}
        if watched.get("flagged_since"):
            last = watched.get("last") or {}
            detail = f" (last p={last['p_value']:.3g})" if "p_value" in last else ""
            out.append(f"monitor {name}: {watched['flagged_since']} flagged window(s) since "
                       f"the step began{detail}")
    return out


def check_gates(gates: list[dict[str, Any]], live: dict[str, Any]) -> list[dict[str, Any]]:
    """Each gate with its value and verdict: passed, failed, or unknown (no signal)."""
    out = []
    for g in gates:
        value = gate_value(g, live)
        if value is None:
            verdict = "unknown"
        elif g.get("max") is not None and value > float(g["max"]):
            verdict = "failed"
        elif g.get("min") is not None and value < float(g["min"]):
            verdict = "failed"
        else:
            verdict = "passed"
        out.append({**g, "value": value, "verdict": verdict})
    return out


@ray.remote(num_cpus=0, max_restarts=0)
class RolloutController:
    def __init__(self, config: dict[str, Any]) -> None:
        self.c = config
        self.lock = threading.Lock()
        self.state: dict[str, Any] = {
            "application": config["application"], "strategy": config["strategy"],
            "status": "starting", "step": 0, "weights": None, "gates": [],
            "versions": config["versions"], "reason": None, "events": []}
        self.command: str | None = None
        self.command_reason: str | None = None
        self.wake = threading.Event()
        self.journal = journal_at(config.get("journal"), "rollout")
        self.thread = threading.Thread(target=self._main, name="rollout", daemon=True)
        self.thread.start()

    # --- commands ---------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self.lock:
            return {k: (list(v) if isinstance(v, list) else v) for k, v in self.state.items()}

    def send(self, command: str, reason: str | None = None) -> str:
        """An operator's command, or a monitor's (`rollback` with the drift as reason)."""
        if command not in ("promote", "rollback", "pause", "resume"):
            raise ValueError(command)
        with self.lock:
            if self.state["status"] in ("promoted", "rolled_back", "failed"):
                return f"the rollout has ended ({self.state['status']})"
            self.command = command
            self.command_reason = reason
        self.wake.set()
        return f"{command} requested"

    def wait_live(self, timeout_s: float = 300.0) -> dict[str, Any]:
        """Return once the first step is live (or the rollout ended)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            st = self.status()
            if st["status"] not in ("starting",):
                return st
            time.sleep(0.2)
        return self.status()

    # --- the loop ----------------------------------------------------------------
    def _event(self, event: str, **fields: Any) -> None:
        record = {"event": event, "time": time.time(), **fields}
        with self.lock:
            self.state["events"].append(record)
        if self.journal is not None:
            try:
                self.journal.append(f"rollout_{event}", application=self.c["application"],
                                    **fields)
            except Exception:  # the journal must not stop a rollback
                traceback.print_exc()
        if event != "gate_check":  # decisions only: gate values go to metrics and journal
            self._mlflow(lambda client, run: client.log_dict(
                run, {"events": self.state["events"]}, "rollout/events.json"))

    def _mlflow(self, action: Any) -> None:
        run = self.c.get("mlflow_run_id")
        if not run or not self.c.get("tracking_uri"):
            return
        try:
            from mlflow.tracking import MlflowClient

            action(MlflowClient(self.c["tracking_uri"]), run)
        except Exception:
            traceback.print_exc()

    def _set(self, **fields: Any) -> None:
        with self.lock:
            self.state.update(fields)

    def _weights(self, candidate: float) -> dict[str, float]:
        if self.c["versions"].get("stable") is None:
            return {"candidate": 100.0}
        return {"stable": 100.0 - candidate, "candidate": candidate}

    def _route(self, weights: dict[str, float], step: int,
               shadow: dict[str, Any] | None) -> None:
        changes: dict[str, Any] = {"weights": weights, "step": step, "shadow": shadow}
        control.update_user_config(self.c["application"], "Router", changes)
        control.wait_router_weights(self.c["application"], weights)
        self._set(weights=weights)

    def _take_command(self) -> str | None:
        with self.lock:
            cmd, self.command = self.command, None
        return cmd

    def _main(self) -> None:
        try:
            self._walk()
        except Exception as exc:
            self._set(status="failed", reason=f"{type(exc).__name__}: {exc}")
            self._event("failed", reason=f"{type(exc).__name__}: {exc}")

    def _walk(self) -> None:
        steps = self.c["steps"]
        interval = float(self.c["gate_interval_s"])
        router = control.router(self.c["application"])
        base_shadow = self.c.get("shadow")
        for i, step in enumerate(steps):
            weight = float(step["weight"])
            preview = weight == 0 and self.c["versions"].get("stable") is not None
            # a blue/green preview: the candidate sees copies; callers never see it
            shadow = {"target": "candidate", "fraction": 1.0,
                      "max_queued": (base_shadow or {}).get("max_queued",
                                                             SHADOW_MAX_DEFAULT)} \
                if preview else base_shadow
            self._route(self._weights(weight), i, shadow)
            started = time.time()
            self._set(status="running", step=i, step_started=started, gates=[])
            self._event("step_started", step=i, weight=weight, hold_s=step["hold_s"])
            if self.c["strategy"] == "ab":
                self._hold_until_command(router, started, step, i)
                return
            while True:
                self.wake.wait(timeout=interval)
                self.wake.clear()
                cmd = self._take_command()
                if self._operator_ended(cmd):
                    return
                if cmd == "pause":
                    if not self._paused():
                        return
                    started = time.time()  # the hold restarts after a pause
                elif cmd == "resume" and self.state["status"] == "blocked":
                    # an operator looked at the drift and lets the step go on: the step
                    # restarts, and only windows closed from now on count
                    self._set(status="running", reason=None)
                    self._event("resumed", step=i)
                    started = time.time()
                live = self._live(router, started, preview)
                checked = check_gates(step["gates"], live)
                self._set(gates=checked, live=live)
                failed = [g for g in checked if g["verdict"] == "failed"]
                enough = live.get("requests", 0) >= MIN_REQUESTS
                self._event("gate_check", step=i, requests=live.get("requests"),
                            values={g["metric"]: g["value"] for g in checked},
                            failed=[g["metric"] for g in failed])
                self._mlflow(lambda client, run, checked=checked, i=i: [client.log_metric(
                    run, f"rollout.{g['metric']}", float(g["value"]), step=i)
                    for g in checked if g["value"] is not None])
                if failed and enough:
                    reason = "; ".join(f"{g['metric']} {g['value']:.4g} breaks " + (
                        f"max {g['max']}" if g.get("max") is not None else f"min {g['min']}")
                        for g in failed)
                    action = self.c["on_failure"]
                    if action == "rollback":
                        self._rollback(f"step {i + 1} at {weight:g}%: {reason}")
                        return
                    self._event("gate_failed", step=i, reason=reason, action=action)
                    if action == "pause":
                        self._set(status="paused", reason=reason)
                        if not self._paused():
                            return
                        started = time.time()
                    continue
                held = time.time() - started >= float(step["hold_s"])
                blocked = blocking(live, self.c.get("block_promotion") or [])
                if blocked:  # drift holds the rollout here until an operator decides
                    if self.state["status"] != "blocked":
                        self._set(status="blocked", reason="; ".join(blocked))
                        self._event("blocked", step=i, reason="; ".join(blocked))
                    continue
                if held and (enough or not step["gates"]):
                    break
        self._promote("every step passed")

    def _live(self, router: Any, since: float, preview: bool) -> dict[str, Any]:
        """The candidate's counts since `since`, and the monitors' windows closed since
        then. A read that fails (a replica restarting, a timeout) is a gap in the signal,
        not the end of the rollout: those gates are `unknown` for this interval and the
        next interval reads again."""
        live: dict[str, Any] = {}
        try:
            stats = router.stats.remote(since).result(timeout_s=READ_TIMEOUT_S)
            key = "shadow_slot" if preview else "candidate"
            live = dict(stats["slots"].get(key) or stats["slots"].get("candidate") or {})
        except Exception as exc:
            self._event("gate_read_failed", reason=f"{type(exc).__name__}: {exc}")
        if self.c.get("monitors"):
            try:
                watched = control.monitor(self.c["application"]).status.remote(since)
                live["monitors"] = watched.result(timeout_s=READ_TIMEOUT_S)["monitors"]
            except Exception as exc:
                self._event("gate_read_failed", reason=f"monitors: {type(exc).__name__}: "
                            f"{exc}")
        return live

    def _hold_until_command(self, router: Any, started: float, step: dict[str, Any],
                            i: int) -> None:
        self._set(status="running (a/b)")
        while True:
            self.wake.wait(timeout=float(self.c["gate_interval_s"]))
            self.wake.clear()
            live = self._live(router, started, False)
            self._set(gates=check_gates(step["gates"], live), live=live)
            if self._operator_ended(self._take_command()):
                return

    def _operator_ended(self, cmd: str | None) -> bool:
        """An operator's (or a monitor's) promote or rollback, carried out: the rollout
        is over."""
        with self.lock:
            reason, self.command_reason = self.command_reason, None
        if cmd == "rollback":
            self._rollback(reason or "rollback requested by an operator")
            return True
        if cmd == "promote":
            self._promote(reason or "promoted by an operator")
            return True
        return False

    def _paused(self) -> bool:
        """Wait for resume (True) or for promote/rollback (handled; False)."""
        self._set(status="paused")
        self._event("paused")
        while True:
            self.wake.wait()
            self.wake.clear()
            cmd = self._take_command()
            if cmd == "resume":
                self._set(status="running")
                self._event("resumed")
                return True
            if self._operator_ended(cmd):
                return False

    def _rollback(self, reason: str) -> None:
        if self.c["versions"].get("stable") is None:
            self._set(status="failed", reason=f"{reason}; no stable version to roll back to")
            self._event("failed", reason=f"{reason}; no stable version to roll back to")
            return
        self._route({"stable": 100.0, "candidate": 0.0}, -1, None)
        self._set(status="rolled_back", reason=reason)
        self._event("rolled_back", reason=reason, version=self.c["versions"]["candidate"])
        self._mlflow(lambda client, run: client.set_tag(run, "lifecycle.rollout",
                                                        f"rolled_back: {reason}"))

    def _promote(self, reason: str) -> None:
        from mlflow.tracking import MlflowClient

        version = self.c["versions"]["candidate"]
        client = MlflowClient(self.c["tracking_uri"])
        client.set_registered_model_alias(self.c["model"], self.c["champion_alias"], version)
        client.set_model_version_tag(self.c["model"], version, "lifecycle.rollout", "promoted")
        if self.c["versions"].get("stable") is not None:
            # the stable slot now serves the new champion; all traffic goes to it
            control.update_user_config(self.c["application"], "Model_stable", {
                "model_uri": f"models:/{self.c['model']}/{version}", "version": version})
            self._route({"stable": 100.0, "candidate": 0.0}, len(self.c["steps"]), None)
            self.c["versions"] = {**self.c["versions"], "stable": version}
            self._set(versions=self.c["versions"])
        self._set(status="promoted", reason=reason)
        self._event("promoted", reason=reason, version=version)
        self._mlflow(lambda c, run: c.set_tag(run, "lifecycle.rollout", "promoted"))


def start(config: dict[str, Any]) -> Any:
    """(Re)start the application's controller: a new rollout replaces an old one."""
    name = actor_name(config["application"])
    try:
        ray.kill(ray.get_actor(name, namespace=NAMESPACE))
    except ValueError:
        pass
    return RolloutController.options(name=name, namespace=NAMESPACE, lifetime="detached",
                                     max_concurrency=8).remote(config)


def find(application: str) -> Any | None:
    try:
        return ray.get_actor(actor_name(application), namespace=NAMESPACE)
    except ValueError:
        return None
