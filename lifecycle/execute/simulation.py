"""`lifecycle rollout simulate`: the plan's rollout through the controller's own `decide`,
on synthetic traffic or a past rollout's recorded observations. No Ray: the decisions are
pure, the traffic is drawn here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, Location, Problem
from ..plan import Plan
from ..runtime.contract import ROUTER, ControllerConfig, RouterConfig, Slot
from ..runtime.rollout import simulate as sim
from ..store import Store, read_journal
from .executors.rollout import plan_config


@dataclass
class Simulation:
    """What `simulate` prints: per scenario, the outcomes of every repetition; or, for a
    replay, the decisions on the recorded observations."""

    application: str
    traffic: float
    summaries: list[sim.Summary] = field(default_factory=list)
    replayed: int = 0  # observations replayed
    replay_phase: str | None = None
    replay_reason: str | None = None
    timeline: list[tuple[float, str]] = field(default_factory=list)


def _refuse(message: str, hint: str) -> InputError:
    loc = Location(origin="lifecycle rollout simulate")
    return InputError(message, location=loc, hint=hint,
                      problems=(Problem("rollout.simulate", message, "", loc, hint),))


def _config(plan: Plan, versions: dict[Slot, str | None]) -> ControllerConfig:
    if not any(s.kind == "rollout" for s in plan.stages):
        raise _refuse(f"{plan.name} has no serve.rollout", "add a rollout to simulate it")
    serve: Any = plan.serve_config or {}
    router = next(d for d in serve["applications"][0]["deployments"] if d["name"] == ROUTER)
    config = plan_config(plan, versions,
                         RouterConfig.model_validate(router["user_config"]).shadow)
    # what the gates and monitors decide; approvals hold a promotion on the cluster, not here
    return config.model_copy(update={"approved_digest": None, "approvals": []})


def _monitors(plan: Plan) -> dict[str, sim.MonitorModel]:
    stage = next((s for s in plan.stages if s.kind == "monitor"), None)
    if stage is None:
        return {}
    return {m.name: sim.MonitorModel(m.window, m.p_val) for m in stage.monitors}


def simulate(plan: Plan, traffic: float, scenarios: list[str], repetitions: int,
             seed: int, error_rate: float = sim.BASELINE_ERROR_RATE,
             median_ms: float = sim.MEDIAN_LATENCY_MS) -> Simulation:
    config = _config(plan, {Slot.STABLE: "stable", Slot.CANDIDATE: "candidate"})
    out = Simulation(plan.stage("deploy").application, traffic)
    for text in scenarios:
        try:
            scenario = sim.Scenario.parse(text)
        except ValueError as exc:
            raise _refuse(str(exc), "e.g. --scenario healthy --scenario errors:+2pt") from None
        out.summaries.append(sim.simulate(config, traffic, scenario, repetitions, seed,
                                          error_rate, median_ms, _monitors(plan)))
    return out


def replay(plan: Plan, store: Store, run_id: str) -> Simulation:
    application = plan.stage("deploy").application
    records = list(read_journal(store, run_id))
    if not records:
        raise _refuse(f"no run {run_id} in {store.uri}", "`lifecycle status` lists the runs; "
                      "pass --store where they are")
    states = [r for r in records if r.get("event") == "rollout_state"]
    if not states:
        raise _refuse(f"run {run_id} has no rollout of {application}",
                      "replay a run whose rollout stage ran")
    versions = {Slot(k): v for k, v in states[0]["state"]["versions"].items()}
    observations = sim.recorded(store, run_id, application)
    config = _config(plan, versions)
    state, timeline = sim.replay(config, observations)
    return Simulation(application, 0.0, replayed=len(observations),
                      replay_phase=state.phase.value, replay_reason=state.reason,
                      timeline=timeline)
