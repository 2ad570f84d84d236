"""Serving on real Ray Serve over HTTP, with versions trained and registered in a real
MLflow store by `lifecycle run`: the weighted split, live weight changes with no failed
request, shadow copies that are recorded and never returned, sticky A/B keys, 400s for
malformed requests, a healthy canary promoted to champion, and a failing canary rolled
back by the controller."""

from __future__ import annotations

import concurrent.futures as cf
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from examples.fraud.make_data import make, write
from lifecycle.errors import ExitCode, PolicyError
from lifecycle.execute import RunOptions
from lifecycle.execute.runner import run_plan
from lifecycle.plan import Plan
from lifecycle.runtime.contract import Slot, model_deployment
from lifecycle.runtime.evidence import monitor_totals, shadow_totals
from lifecycle.store import Store, read_journal

from ..conftest import ROOT
from ..conftest import compile_approved as _compile_approved

pytestmark = pytest.mark.integration
FRAUD = ROOT / "specs" / "fraud.yaml"
TRAIN = ["train.config.epochs=2", "train.config.hidden=16", "train.config.lr=0.02",
         "train.config.batch_size=64", "~tune",
         "evaluate.gates=[{metric: auc, min: 0.5}]",  # these tests are about serving:
         "risk_tier=low",  # their seconds-long holds and A/B splits break high-risk policy
         "slos=[]"]  # the SLO test below gives its own (a spent budget freezes promotion)
SERVE = ["serve.autoscaling=null", "serve.replicas=1", "serve.resources.num_cpus=0.2",
         "monitors.0.on_drift=[alert]"]  # the monitor tests below block and roll back
ROWS = make(200, seed=5).drop_columns(["is_fraud"]).to_pylist()
# train and register only (live quality and SLOs measure served traffic)
NOT_SERVED = ["~serve", "~monitors.2", "~slos"]


# what the controller journals besides its decisions: its state and what each look saw
RECORDS = {"rollout_state", "rollout_observation", "rollout_gate_check"}


def compile_approved(spec: Path, overrides: list[str]) -> Plan:
    """TRAIN lowers risk_tier, a protected key: opted in, as `--allow-protected-overrides`."""
    return _compile_approved(spec, overrides, allow_protected_overrides=True)


def _rollout(strategy: str, steps: str, on_failure: str = "rollback") -> list[str]:
    return [f"serve.rollout.strategy={strategy}", f"serve.rollout.steps={steps}",
            "serve.rollout.gate_interval=1s", f"serve.rollout.on_failure={on_failure}"]


@pytest.fixture(scope="module")
def world(ray_session: str, serve_port: int, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[dict[str, Any]]:
    """v1 trained, registered and made champion; the data the runs share."""
    tmp = tmp_path_factory.mktemp("serve")
    rel = ".test-data/serve"
    write(ROOT / rel, rows=3000)
    data = [f"data.train.path={rel}/train.parquet", f"data.eval.path={rel}/eval.parquet"]
    options = RunOptions(project_root=ROOT, store=str(tmp / "store"),
                         tracking_uri=f"sqlite:///{tmp}/mlflow.db", spec_path=str(FRAUD),
                         show_progress=False, serve_host="127.0.0.1", serve_port=serve_port,
                         serve_timeout_s=240)
    first = run_plan(compile_approved(FRAUD, data + TRAIN + NOT_SERVED), options)
    assert first.exit_code == ExitCode.OK, first.message
    from mlflow.tracking import MlflowClient

    client = MlflowClient(options.tracking_uri)
    v1 = client.get_model_version_by_alias("fraud-detector", "challenger").version
    client.set_registered_model_alias("fraud-detector", "champion", v1)
    try:
        yield {"data": data, "options": options, "client": client, "v1": str(v1),
               "url": f"http://127.0.0.1:{serve_port}/fraud"}
    finally:
        import ray

        from lifecycle.runtime.rollout import controller as rollout
        from lifecycle.runtime.serve import control

        control.delete("fraud-detector")
        controller = rollout.find("fraud-detector")
        if controller is not None:
            ray.kill(controller)
        import shutil

        shutil.rmtree(ROOT / rel, ignore_errors=True)


def _post(url: str, rows: Any, key: str | None = None) -> requests.Response:
    headers = {"X-Lifecycle-Key": key} if key else {}
    return requests.post(url, json={"rows": rows}, headers=headers, timeout=30)


def _load(url: str, n: int, workers: int = 8) -> list[tuple[int, str, str]]:
    """n requests of one row each: (status, slot, version)."""
    def one(i: int) -> tuple[int, str, str]:
        r = _post(url, [ROWS[i % len(ROWS)]])
        body = r.json()
        if r.status_code != 200:
            return r.status_code, str(body)[:200], "?"
        return r.status_code, body.get("slot", "?"), r.headers.get("X-Model-Version", "?")

    with cf.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(n)))


class Background:
    """Steady traffic while a rollout runs; every response kept."""

    def __init__(self, url: str) -> None:
        self.url, self.stop, self.results = url, threading.Event(), []
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(4)]

    def _run(self, i: int) -> None:
        while not self.stop.is_set():
            r = _post(self.url, [ROWS[i]])
            try:
                body = r.json()
            except ValueError:  # Serve's own 404 before the app exists is plain text
                body = {"error": r.text[:200]}
            self.results.append((time.time(), r.status_code, body.get("slot"),
                                 body.get("error")))

    def __enter__(self) -> Background:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def test_split_shadow_sticky_and_live_weights(world: dict[str, Any]) -> None:
    from lifecycle.runtime.serve import control

    plan = compile_approved(FRAUD, world["data"] + TRAIN + SERVE + [
        "train.config.hidden=24", "serve.shadow.fraction=1.0", "serve.shadow.max_queued=100",
        *_rollout("ab", "[{weight: 10, gates: [{metric: error_rate, max: 0.05}]}]"),
        "+serve.rollout.sticky_key=customer"])
    result = run_plan(plan, world["options"])
    assert result.exit_code == ExitCode.OK, result.message
    deployed = result.outcome("deploy").outputs  # type: ignore[union-attr]
    v2 = deployed["versions"]["candidate"]
    assert deployed["versions"]["stable"] == world["v1"] and v2 != world["v1"]
    url = world["url"]

    # 4 callers: the application (2 slots x 5) has room for copies (none are sent while
    # callers fill every slot)
    observed = _load(url, 1000, workers=4)
    assert [o for o in observed if o[0] != 200] == []
    share = sum(slot == "candidate" for _, slot, _ in observed) / len(observed)
    assert 0.065 <= share <= 0.135, share  # 10% ± 3.5 points (≈ 3.7 sd at n=1000)
    assert {v for _, slot, v in observed if slot == "stable"} == {world["v1"]}
    assert {v for _, slot, v in observed if slot == "candidate"} == {v2}

    # every stable answer is copied, or counted as not copied (the candidate busy, too
    # many copies queued) once the replicas have pushed their counts (about 1 s)
    stable_answers = sum(slot == "stable" for _, slot, _ in observed)
    shadow = _until(lambda: (t := shadow_totals(control.evidence("fraud-detector").replicas))
                    .sent + t.busy + t.dropped >= stable_answers and t, 15, "shadow counts")
    assert shadow.sent + shadow.busy + shadow.dropped == stable_answers, shadow
    assert shadow.target == "candidate" and shadow.failed == 0
    # copies use the candidate's spare slots only: most answers, not all, under 4 callers
    assert shadow.compared >= 0.3 * stable_answers, shadow
    assert {r.shadow_version for r in shadow.recent} == {v2}
    assert {r.primary_version for r in shadow.recent} == {world["v1"]}  # never returned

    for k in range(40):  # sticky: a key keeps its version
        key = f"customer-{k}"
        versions = {_post(url, [ROWS[k]], key).headers["X-Model-Version"] for _ in range(3)}
        assert len(versions) == 1, key

    with cf.ThreadPoolExecutor(1) as pool:  # weights changed live under load
        during = pool.submit(_load, url, 600, 6)
        time.sleep(1.0)
        assert control.wait_applied("fraud-detector", control.update_router(
            "fraud-detector", weights={Slot.STABLE: 50.0, Slot.CANDIDATE: 50.0}))
        results = during.result()
    assert [s for s, _, _ in results if s != 200] == []
    after = _load(url, 400)
    share = sum(slot == "candidate" for _, slot, _ in after) / len(after)
    assert 0.42 <= share <= 0.58, share

    bad = requests.post(url, json={"rows": [{"amount": 1.0}]}, timeout=10)
    assert bad.status_code == 400
    assert bad.json()["error"] == "row 0: missing feature 'merchant_risk'"
    wrong = requests.post(url, json={"rows": [{**ROWS[0], "amount": "lots"}]}, timeout=10)
    assert wrong.status_code == 400 and "'amount' must be a finite number" in wrong.json()["error"]
    junk = requests.post(url, data=b"{nope", timeout=10)
    assert junk.status_code == 400 and "not valid JSON" in junk.json()["error"]
    assert _post(url, [ROWS[1]]).status_code == 200  # the replicas survived

    from lifecycle.api import rollout_command, serve_status

    state = serve_status(FRAUD)  # a spec names its application
    assert state["status"].endswith("RUNNING")
    assert state["versions"] == {"stable": world["v1"], "candidate": v2}
    assert state["router"]["weights"] == {"stable": 50.0, "candidate": 50.0}
    assert state["rollout"]["phase"] == "running", state["rollout"]
    assert state["rollout"]["strategy"] == "ab"
    assert not [e for e in state["rollout"]["events"] if e["event"] == "gate_read_failed"]
    assert rollout_command("fraud-detector", "rollback") == "rollback requested"
    deadline = time.time() + 20
    while serve_status("fraud-detector")["rollout"]["phase"] != "rolled_back":
        assert time.time() < deadline
        time.sleep(0.5)
    assert {v for _, _, v in _load(url, 100)} == {world["v1"]}


def test_healthy_canary_walks_every_step_and_becomes_champion(world: dict[str, Any]) -> None:
    plan = compile_approved(FRAUD, world["data"] + TRAIN + SERVE + [
        "train.config.hidden=24", *_rollout("canary", "[{weight: 10, hold: 3s, gates: "
                                            "[{metric: error_rate, max: 0.05}]}, {weight: 50, "
                                            "hold: 2s, gates: [{metric: error_rate, max: 0.05}]},"
                                            " {weight: 100}]")])
    world["options"].wait = True
    try:
        with Background(world["url"]) as traffic:
            result = run_plan(plan, world["options"])
    finally:
        world["options"].wait = False
    assert result.exit_code == ExitCode.OK, result.message
    out = result.outcome("rollout").outputs  # type: ignore[union-attr]
    assert out["status"] == "promoted"
    candidate = result.outcome("deploy").outputs["versions"]["candidate"]  # type: ignore[union-attr]
    client = world["client"]
    assert str(client.get_model_version_by_alias("fraud-detector", "champion").version) \
        == candidate
    assert [s for _, s, _, _ in traffic.results if s != 200] == []
    events = [e for e in read_journal(Store(world["options"].resolved_store()), result.run_id)
              if e["event"].startswith("rollout_") and e["event"] not in RECORDS]
    started = [e["weight"] for e in events if e["event"] == "rollout_step_started"]
    assert started == [10.0, 50.0, 100.0]
    assert events[-1]["event"] == "rollout_promoted"
    world["v1"] = str(candidate)  # the champion for the next test


def test_failing_canary_is_rolled_back_with_the_reason(world: dict[str, Any]) -> None:
    faulty = ["train.config.hidden=8", "train.config.serve_fault={error_rate: 0.5}"]
    # train and register first, without traffic; the full plan below reuses those stages
    trained = run_plan(compile_approved(FRAUD, world["data"] + TRAIN + faulty + NOT_SERVED),
                       world["options"])
    assert trained.exit_code == ExitCode.OK, trained.message
    plan = compile_approved(FRAUD, world["data"] + TRAIN + SERVE + faulty + [
        *_rollout("canary", "[{weight: 10, hold: 60s, gates: [{metric: error_rate, "
                            "max: 0.05}]}, {weight: 100}]")])
    world["options"].wait = True
    try:
        with Background(world["url"]) as traffic:
            result = run_plan(plan, world["options"])
            rolled_back_at = time.time()
            time.sleep(2.0)
    finally:
        world["options"].wait = False
    assert result.exit_code == ExitCode.POLICY, result.message
    assert "rolled back" in result.message and "error_rate" in result.message
    failed = [(t, slot, err) for t, s, slot, err in traffic.results if s != 200]
    assert failed and all("slot 'candidate' failed" in (err or "") for _, _, err in failed)
    assert not [f for f in failed if f[0] > rolled_back_at + 1.5]  # within one gate interval
    share = len(failed) / len(traffic.results)
    assert share < 0.10 * 0.5 + 0.05  # no more than the candidate's own share of errors
    client = world["client"]
    assert str(client.get_model_version_by_alias("fraud-detector", "champion").version) \
        == world["v1"]
    events = [e for e in read_journal(Store(world["options"].resolved_store()), result.run_id)
              if e["event"] == "rollout_rolled_back"]
    assert events and "error_rate" in events[0]["reason"]
    after = _load(world["url"], 100)
    assert {v for _, _, v in after} == {world["v1"]}


AVAILABILITY = ("slos=[{name: availability, sli: availability, objective: 99.9, "
                "on_burn: [alert, rollback, block_promotion]}]")


def test_a_candidate_burning_its_budget_is_rolled_back_and_a_freeze_holds_the_next(
        world: dict[str, Any]) -> None:
    """A candidate failing half its calls burns a 99.9% availability budget at ~500x:
    the 1h/5m page fires within the short window and the controller rolls it back (its
    gate alone, max 0.9, would not). The application's budget is then spent: the next,
    healthy candidate is frozen at its first step, and a promote is refused; status says
    so."""
    from lifecycle.api import rollout_command, serve_status

    faulty = ["train.config.hidden=11", "train.config.serve_fault={error_rate: 0.5}"]
    plan = compile_approved(FRAUD, world["data"] + TRAIN + SERVE + faulty + [
        AVAILABILITY, *_rollout("canary", "[{weight: 50, hold: 600s, gates: [{metric: "
                                          "error_rate, max: 0.9}]}, {weight: 100}]")])
    world["options"].wait = True
    try:
        with Background(world["url"]):
            result = run_plan(plan, world["options"])
    finally:
        world["options"].wait = False
    assert result.exit_code == ExitCode.POLICY, result.message
    assert "SLO availability: the candidate's own traffic burns its error budget" in \
        result.message, result.message
    events = list(read_journal(Store(world["options"].resolved_store()), result.run_id))
    started = next(e for e in events if e["event"] == "rollout_step_started")
    burn = next(e for e in events if e["event"] == "rollout_slo_burn")
    # the page (1h/5m) or the 6h/30m ticket, their windows holding only this traffic (one
    # run of two named the ticket alone in its first burn record: see the closing note)
    assert set(burn["firing"]) & {"1h/5m above 14.4x", "6h/30m above 6x"}, burn

    def at(e: dict[str, Any]) -> float:
        import datetime as dt

        return dt.datetime.fromisoformat(e["time"]).timestamp()

    assert at(burn) - at(started) < 300  # within the short window
    assert any(e["event"] == "rollout_rolled_back" for e in events)

    healthy = compile_approved(FRAUD, world["data"] + TRAIN + SERVE + [
        "train.config.hidden=13", AVAILABILITY,
        *_rollout("canary", "[{weight: 50, hold: 2s, gates: [{metric: error_rate, "
                            "max: 0.05}]}, {weight: 100}]")])
    with Background(world["url"]):
        second = run_plan(healthy, world["options"])
        assert second.exit_code == ExitCode.OK, second.message
        state = _until(lambda: (r := serve_status(FRAUD)["rollout"])["frozen"] and r, 60,
                       "the freeze")
        time.sleep(4)  # past the step's hold: a step forward would have happened
        assert "the application's error budget is spent" in state["frozen"]
        rollout_command("fraud-detector", "promote")
        time.sleep(3)
        now = serve_status(FRAUD)["rollout"]
    assert (now["phase"], now["step"]) == ("running", 0), now
    app = next(r for r in now["slo"] if r["version"] == "*")
    assert app["budget_left"] < 0
    assert any(e["event"] == "command_refused" for e in now["events"]), now["events"]
    assert rollout_command("fraud-detector", "rollback") == "rollback requested"
    _until(lambda: serve_status(FRAUD)["rollout"]["phase"] == "rolled_back", 30,
           "the rollback")


def _rollouts(world: dict[str, Any], extra: list[str], n: int) -> list[Any]:
    """The same plan run n times (the candidate trained and registered once, then
    reused), each rollout from the same champion, under steady traffic."""
    client = world["client"]
    plan = compile_approved(FRAUD, world["data"] + TRAIN + SERVE + extra)
    results = []
    for _ in range(n):
        client.set_registered_model_alias("fraud-detector", "champion", world["v1"])
        world["options"].wait = True
        try:
            with Background(world["url"]):
                results.append(run_plan(plan, world["options"]))
        finally:
            world["options"].wait = False
    client.set_registered_model_alias("fraud-detector", "champion", world["v1"])
    return results


VERSUS_STABLE = ("[{weight: 20, hold: 15s, gates: [{metric: error_rate, vs: stable, "
                 "max_increase: 0.05}, {metric: latency_p99_ms, vs: stable, max_ratio: 4}]}, "
                 "{weight: 100}]")


def test_gates_vs_stable_promote_healthy_candidates_and_roll_back_regressed_ones(
        world: dict[str, Any]) -> None:
    """Three rollouts of a healthy candidate, three of one failing 30% of its calls, each
    judged against the stable version over the same seconds; the simulation of the same
    gates at the same traffic predicts the same."""
    healthy = _rollouts(world, ["train.config.hidden=20", *_rollout("canary", VERSUS_STABLE)],
                        3)
    assert [r.exit_code for r in healthy] == [ExitCode.OK] * 3, [r.message for r in healthy]
    assert {r.outcome("rollout").outputs["status"] for r in healthy} == {"promoted"}
    faulty = ["train.config.hidden=9", "train.config.serve_fault={error_rate: 0.3}"]
    regressed = _rollouts(world, [*faulty, *_rollout("canary", VERSUS_STABLE)], 3)
    assert [r.exit_code for r in regressed] == [ExitCode.POLICY] * 3
    assert all("error_rate vs stable" in r.message for r in regressed), \
        [r.message for r in regressed]
    from lifecycle.api import rollout_simulate

    # the Background's 4 callers sent about this many requests per second here
    predicted = rollout_simulate(FRAUD, world["data"] + TRAIN + SERVE + [
        *_rollout("canary", VERSUS_STABLE)], traffic=40.0,
        scenarios=["healthy", "errors:+30pt"], repetitions=100, seed=1, error_rate=0.0005,
        allow_protected_overrides=True)
    healthy_sim, regressed_sim = predicted.summaries
    assert healthy_sim.wrong <= 0.05, healthy_sim.wrong  # 0 of 3 real false rollbacks
    assert regressed_sim.wrong <= 0.05, regressed_sim.wrong  # 3 of 3 real ones caught


def test_a_killed_controller_resumes_its_step_and_promotes_once(world: dict[str, Any]
                                                                 ) -> None:
    import os
    import signal

    import ray

    from lifecycle.api import serve_status
    from lifecycle.runtime.rollout import controller as rollout

    plan = compile_approved(FRAUD, world["data"] + TRAIN + SERVE + [
        "train.config.hidden=22", *_rollout("canary", "[{weight: 20, hold: 12s, gates: "
                                            "[{metric: error_rate, max: 0.05}]}, {weight: 50, "
                                            "hold: 12s, gates: [{metric: error_rate, "
                                            "max: 0.05}]}, {weight: 100}]")])
    with Background(world["url"]) as traffic:
        result = run_plan(plan, world["options"])  # returns once the first step is live
        assert result.exit_code == ExitCode.OK, result.message
        candidate = result.outcome("deploy").outputs["versions"]["candidate"]  # type: ignore[union-attr]
        time.sleep(4.0)  # mid-step
        before = serve_status(FRAUD)["rollout"]
        pid = ray.get(rollout.find("fraud-detector").__ray_call__.remote(
            lambda self: os.getpid()))
        os.kill(pid, signal.SIGKILL)  # as when its node dies
        resumed = _until(lambda: (s := _rollout_state()) and s["restarts"] >= 1 and s, 60,
                         "the controller's restart")
        assert resumed["step"] >= before["step"]  # the step it was in (or later), not 0
        final = _until(lambda: (s := _rollout_state()) and s["phase"] in (
            "promoted", "rolled_back", "failed") and s, 120, "the end of the rollout")
    assert final["phase"] == "promoted", final
    assert [s for _, s, _, _ in traffic.results if s not in (200,)] == []
    events = list(read_journal(Store(world["options"].resolved_store()), result.run_id))
    assert [e["event"] for e in events].count("rollout_promoted") == 1
    assert any(e["event"] == "rollout_controller_restarted" for e in events)
    assert str(world["client"].get_model_version_by_alias(
        "fraud-detector", "champion").version) == candidate
    world["v1"] = str(candidate)


def _rollout_state() -> dict[str, Any] | None:
    from lifecycle.api import serve_status

    try:
        return serve_status(FRAUD)["rollout"]  # type: ignore[no-any-return]
    except Exception:  # the controller restarting
        return None


def _timed_load(url: str, n: int, workers: int, seconds: float) -> list[tuple[int, float]]:
    """Up to n one-row requests, none started after `seconds`: (status, seconds) of each."""
    end = time.perf_counter() + seconds

    def one(i: int) -> tuple[int, float] | None:
        t = time.perf_counter()
        if t > end:
            return None
        try:
            status = _post(url, [ROWS[i % len(ROWS)]]).status_code
        except requests.RequestException:
            status = 0
        return status, time.perf_counter() - t

    with cf.ThreadPoolExecutor(workers) as pool:
        return [r for r in pool.map(one, range(n)) if r is not None]


def _kill_under_load(world: dict[str, Any], deployment: str) -> list[tuple[int, float]]:
    """Steady load; one of the deployment's replica processes killed (SIGKILL, as when a
    node dies) a few seconds in."""
    import os
    import signal

    from ray.util.state import list_actors

    replicas = [a for a in list_actors(filters=[("state", "=", "ALIVE")], limit=1000)
                if a.class_name == f"ServeReplica:fraud-detector:{deployment}"]
    assert len(replicas) == 2, replicas
    with cf.ThreadPoolExecutor(1) as pool:
        # 8,000 requests or 40 s of them (a kill at 3 s, its recovery well inside)
        during = pool.submit(_timed_load, world["url"], 8000, CALLERS, 40.0)
        time.sleep(3.0)
        assert not during.done(), "the load ended before the kill"
        os.kill(replicas[0].pid, signal.SIGKILL)
        return during.result()


CALLERS = 8


def _bounded(results: list[tuple[int, float]], what: str) -> None:
    """< 0.1% failed (issue 12), and no more than the requests in flight when the replica
    died (one per caller at most: none fails later)."""
    failed = [r for r in results if r[0] != 200]
    assert len(failed) / len(results) < 0.001 and len(failed) <= CALLERS, (what, failed[:5])
    usual = sorted(s for _, s in results)[len(results) // 2]
    slowest = max(s for _, s in results)
    print(f"{what}: {len(failed)} failed of {len(results)}, p50 {usual * 1000:.0f} ms, "
          f"slowest {slowest:.2f} s")
    assert slowest < usual + 2.5, f"{what}: a request waited {slowest:.2f} s"


def test_a_router_replica_killed_under_load_costs_almost_nothing(world: dict[str, Any]
                                                                  ) -> None:
    """Fused topology, two Router replicas (the ingress): one killed under load."""
    from lifecycle.runtime.serve import control

    plan = compile_approved(FRAUD, world["data"] + TRAIN + [
        "serve.autoscaling=null", "serve.replicas=2", "serve.resources.num_cpus=0.2",
        "train.config.hidden=24",
        *_rollout("ab", "[{weight: 50, gates: [{metric: error_rate, max: 0.05}]}]"),
        "+serve.rollout.sticky_key=customer"])
    result = run_plan(plan, world["options"])
    assert result.exit_code == ExitCode.OK, result.message
    assert plan.stage("deploy").topology == "fused"
    before = control.evidence("fraud-detector")
    results = _kill_under_load(world, "Router")
    _bounded(results, "a Router replica killed")
    # the counts of the killed replica up to its last push stay in the evidence
    after = control.evidence("fraud-detector")
    counted = sum(v.requests for v in after.versions.values()) - \
        sum(v.requests for v in before.versions.values())
    assert counted >= 0.9 * len(results), (counted, len(results))
    from lifecycle.api import serve_status

    state = serve_status("fraud-detector")  # status keeps working, and so does the
    # controller: still at its step, running or blocked (the kill's slow answers can burn
    # the spec's 50 ms latency SLO on 2 shared cores, which freezes promotion), not ended
    assert state["router"]["replicas"] >= 1
    assert state["rollout"]["phase"] in ("running", "blocked"), state["rollout"]


def test_a_model_replica_killed_under_load_costs_almost_nothing(world: dict[str, Any]
                                                                 ) -> None:
    """Routed topology, two model replicas: one killed under load. The Router retries
    a request whose replica died (not the model's fault), so none fails, and none waits
    much longer than usual."""
    plan = compile_approved(FRAUD, world["data"] + TRAIN + [
        "serve.autoscaling=null", "serve.replicas=2", "serve.resources.num_cpus=0.2",
        "train.config.hidden=24", "serve.topology=routed",
        *_rollout("ab", "[{weight: 50, gates: [{metric: error_rate, max: 0.05}]}]"),
        "+serve.rollout.sticky_key=customer"])
    result = run_plan(plan, world["options"])
    assert result.exit_code == ExitCode.OK, result.message
    _bounded(_kill_under_load(world, "Model_candidate"), "a model replica killed")


# --- monitors ---------------------------------------------------------------------------
ALERT_SCRIPT = "import json, sys; open(sys.argv[1], 'a').write(sys.stdin.read() + '\\n')"


def _rows(n: int, seed: int, shift: float = 0.0) -> list[dict[str, Any]]:
    return make(n, seed=seed, shift=shift).drop_columns(["is_fraud"]).to_pylist()


def _send(url: str, rows: list[dict[str, Any]], per_request: int = 10) -> list[int]:
    chunks = [rows[i:i + per_request] for i in range(0, len(rows), per_request)]
    with cf.ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda c: _post(url, c).status_code, chunks))


def _watched(since: float = 0.0) -> dict[str, Any]:
    """The Monitor's status as JSON (what `lifecycle status --format json` shows)."""
    from lifecycle.runtime.serve import control

    status = control.monitor_status("fraud-detector", since)
    return status.model_dump(mode="json")


def _until(predicate: Any, timeout_s: float, what: str) -> Any:
    deadline = time.time() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _send_paced(url: str, rows: list[dict[str, Any]], chunk: int = 200) -> None:
    """`rows` in chunks of one window of the largest monitor, each sent once the Monitor
    has judged the last: what these tests measure is every window's verdict. (A burst
    faster than the detectors, on this machine's 2 cores, would have the Monitor skip
    windows and count them, by design: serving never waits for it.)"""
    start = _watched()["observed_rows"]
    for i in range(0, len(rows), chunk):
        assert set(_send(url, rows[i:i + chunk])) == {200}

        def judged(sent: int = start + i + len(rows[i:i + chunk])) -> bool:
            w = _watched()
            return w["observed_rows"] >= sent and all(
                m["windows_detected"] + m["windows_dropped"] >= m["windows_closed"]
                for m in w["monitors"].values())
        _until(judged, 60, "the Monitor to judge the windows sent")


def _serve_with_monitors(world: dict[str, Any], hidden: int, monitors: str, hold: str,
                         extra: tuple[str, ...] = ()) -> Any:
    """A new candidate (`hidden` makes it a new version) deployed behind a 10% canary
    step held for `hold` with an error-rate gate, watched by `monitors`."""
    plan = compile_approved(FRAUD, world["data"] + TRAIN + SERVE + [
        f"train.config.hidden={hidden}", monitors, *extra,
        *_rollout("canary", f"[{{weight: 10, hold: {hold}, gates: [{{metric: error_rate, "
                            "max: 0.05}]}, {weight: 100}]")])
    result = run_plan(plan, world["options"])
    assert result.exit_code == ExitCode.OK, result.message
    return result


def test_drift_on_live_traffic_rolls_the_canary_back(world: dict[str, Any],
                                                     tmp_path: Path) -> None:
    """In-distribution traffic: the probe's false-positive rate over 30 windows stays
    within what p=0.05 promises, and the rollback monitor (p=0.0001) stays quiet. Shifted
    traffic: drift within 2 windows, the canary rolled back by the monitor, the alert
    delivered to the spec's command, every window and action in the journal."""
    import sys

    alerts = tmp_path / "alerts.jsonl"
    script = tmp_path / "alert.py"
    script.write_text(ALERT_SCRIPT)
    monitors = (
        "monitors=[{name: input-drift, detector: tabular, features: all, window: 200, "
        "p_val: 0.0001, on_drift: [alert, rollback], alert: {command: ['" + sys.executable
        + "', '" + str(script) + "', '" + str(alerts) + "'], retries: 1}}, "
        "{name: probe, detector: ks, features: [amount, merchant_risk, hour, "
        "account_age_days], window: 100, p_val: 0.05, on_drift: [alert]}, "
        "{name: outliers, detector: iforest, features: [amount, merchant_risk, "
        "account_age_days], window: 200, max_outlier_rate: 0.5, on_outlier: [alert]}, "
        "{name: online, detector: cvm, online: true, features: [amount, merchant_risk], "
        "window: 50, ert: 500, n_bootstraps: 5000, reference_size: 500, on_drift: [alert]}]")
    result = _serve_with_monitors(world, 12, monitors, "600s")
    fitted = result.outcome("monitor").outputs["monitors"]  # type: ignore[union-attr]
    assert set(fitted) == {"input-drift", "probe", "outliers", "online"}
    assert all(f["artifact_uri"].startswith("runs:/") for f in fitted.values())
    # each detector, loaded inside the Monitor's Serve replica, gave the answer on the
    # probe window that it gave when it was fitted
    assert {n: w["verified"] for n, w in _watched()["monitors"].items()} == \
        dict.fromkeys(fitted, True)
    url = world["url"]

    clean = [r for k in range(6) for r in _rows(500, seed=1000 + k)]  # fresh draws
    _send_paced(url, clean)
    try:
        _until(lambda: _watched()["monitors"]["probe"]["windows_detected"] >= 29, 120,
               "the probe's windows")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {_watched()}") from None
    quiet = _watched()["monitors"]
    probe_flagged = quiet["probe"]["flagged_since"]
    # Binomial(30, 0.05): mean 1.5; P(X >= 7) < 0.001
    assert probe_flagged <= 6, quiet["probe"]["recent"]
    assert quiet["input-drift"]["flagged_since"] == 0, quiet["input-drift"]["recent"]
    assert quiet["input-drift"]["windows_dropped"] == 0
    # online cvm, ert 500: about 6 false alarms expected on 3000 rows (measured rates run
    # up to 1.3x the nominal one; Poisson(8): P(X >= 19) < 0.001); no window skipped. The
    # clean rows fill 60 windows of 50 (the Router may still hold its last partial batch)
    clean_windows = 3000 // 50
    try:
        _until(lambda: (o := _watched()["monitors"]["online"])["windows_detected"]
               + o["windows_dropped"] >= clean_windows - 2, 120, "the online monitor's windows")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {_watched()['monitors']['online']}") from None
    online = _watched()["monitors"]["online"]
    print("online monitor on clean traffic:", {k: online[k] for k in (
        "windows_detected", "windows_dropped", "detections_since", "rows_pending")})
    assert online["windows_dropped"] == 0 and online["detections_since"] <= 18, online
    from lifecycle.api import serve_status

    assert serve_status("fraud-detector")["rollout"]["phase"] == "running"
    last_clean = quiet["input-drift"]["windows_detected"] - 1

    shifted_at = time.time()
    _send_paced(url, _rows(600, seed=77, shift=1.0))
    drifted = _until(lambda: [r for r in _watched(shifted_at)["monitors"]["input-drift"]
                              ["recent"] if r["flagged"]], 60, "a drifted window")
    assert drifted[0]["window"] <= last_clean + 2  # within two windows of the shift
    # the online detector: within the first 150 shifted rows (three of its windows)
    online_drift = _until(lambda: [r for r in _watched(shifted_at)["monitors"]["online"]
                                   ["recent"] if r["flagged"]], 60, "online detection")
    assert online_drift[0]["window"] <= clean_windows + 2, online_drift[0]
    assert online_drift[0]["detections"][0]["test_stat"] > online_drift[0]["detections"][0][
        "threshold"]
    state = _until(lambda: (s := serve_status("fraud-detector")["rollout"])["phase"]
                   == "rolled_back" and s, 30, "the rollback")
    assert "input-drift" in state["reason"] and "drift" in state["reason"]
    assert {v for _, _, v in _load(url, 50)} == {world["v1"]}  # the stable version serves
    _until(lambda: alerts.exists() and alerts.read_text().strip(), 30, "the alert")
    first = json.loads(alerts.read_text().splitlines()[0])
    assert first["monitor"] == "input-drift" and first["window"]["is_drift"] is True
    events = list(read_journal(Store(world["options"].resolved_store()), result.run_id))
    windows = [e for e in events if e["event"] == "monitor_window"]
    assert {e["monitor"] for e in windows} == {"input-drift", "probe", "outliers", "online"}
    actions = [e for e in events if e["event"] == "monitor_action"]
    assert any(a["action"] == "rollback" and a["monitor"] == "input-drift" for a in actions)
    assert any(e["event"] == "rollout_rolled_back" for e in events)
    from lifecycle.runtime.serve import control

    fed = monitor_totals(control.evidence("fraud-detector").replicas)
    assert fed is not None and fed.dropped_rows == 0 and fed.failed_batches == 0, fed

    from lifecycle.api import monitor_report  # from the store alone

    report = monitor_report(FRAUD, str(tmp_path / "report"), world["options"])
    assert report["windows"]["input-drift"] >= 16 and report["actions"] >= 2
    page = Path(report["report"]).read_text()
    assert "Monitors of fraud-detector" in page and "rollback" in page
    charts = {Path(c).name for c in report["charts"]}
    assert {f"{m}-{c}.png" for m in ("input-drift", "online", "outliers", "probe")
            for c in ("distributions", "windows")} | {"input-drift-heatmap.png"} <= charts
    assert all(Path(c).stat().st_size > 5000 for c in report["charts"])
    assert report["mlflow"].startswith("runs:/")


def test_drift_blocks_promotion_and_retrains_once_per_cooldown(world: dict[str, Any]
                                                               ) -> None:
    # training rows with event times: 900 from a month ago, the rest from the last hour;
    # a retrain with recent_data 7d must train on the recent rows only
    import pyarrow as pa
    import pyarrow.parquet as pq

    train_path = world["data"][0].split("=", 1)[1]
    table = pq.read_table(ROOT / train_path)
    now = time.time()
    times = [now - 30 * 86400 if i < 900 else now - 3600 for i in range(table.num_rows)]
    timed = train_path.replace("train.parquet", "train-timed.parquet")
    pq.write_table(table.append_column("event_time", pa.array(times, pa.float64())),
                   ROOT / timed)
    monitors = ("monitors=[{name: input-drift, detector: tabular, features: all, window: "
                "200, p_val: 0.0001, on_drift: [block_promotion, retrain], retrain: "
                "{cooldown: 1h, max_per_week: 2, recent_data: 7d}}]")
    result = _serve_with_monitors(world, 10, monitors, "15s", (
        f"data.train.path={timed}", "+data.time_column=event_time"))
    first_rows = result.outcome("data").outputs["rows"]["train"]  # type: ignore[union-attr]
    assert first_rows == table.num_rows
    url = world["url"]
    # 10 drifted windows; ~40 requests reach the candidate, enough to judge its gate
    assert set(_send(url, _rows(2000, seed=78, shift=1.0), per_request=5)) == {200}
    from lifecycle.api import serve_status

    state = _until(lambda: (s := serve_status("fraud-detector")["rollout"])["phase"]
                   == "blocked" and s, 60, "the block")
    assert "input-drift" in state["reason"]
    time.sleep(16)  # past the step's hold: still not promoted
    assert serve_status("fraud-detector")["rollout"]["phase"] == "blocked"
    store = Store(world["options"].resolved_store())
    actions = _until(lambda: [e for e in read_journal(store, result.run_id)
                              if e["event"] == "monitor_action" and e["action"] == "retrain"
                              and not e["outcome"].get("started")]
                     and [e for e in read_journal(store, result.run_id)
                          if e["event"] == "monitor_action" and e["action"] == "retrain"],
                     60, "retrain decisions")
    started = [a for a in actions if a["outcome"].get("started")]
    assert len(started) == 1, actions
    assert all(a["outcome"]["why"].startswith("cooldown") for a in actions
               if not a["outcome"].get("started"))
    retrain_run = started[0]["outcome"]["run_id"]
    try:
        finished = _until(lambda: [e for e in read_journal(store, retrain_run)
                                   if e["event"] == "run_finished"], 400, "the retrain run")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {list(read_journal(store, retrain_run))[-5:]}, "
                             f"{started[0]}") from None
    run_started = next(iter(read_journal(store, retrain_run)))
    assert run_started["trigger"].startswith("retrain: input-drift")
    assert finished[0]["status"] == "succeeded", finished
    trained = [e["stage"] for e in read_journal(store, retrain_run)
               if e["event"] == "stage_succeeded"]
    assert {"train", "evaluate", "register", "monitor", "deploy"} <= set(trained)
    data = next(e for e in read_journal(store, retrain_run)
                if e["event"] == "stage_succeeded" and e["stage"] == "data")
    assert data["outputs"]["rows"]["train"] == table.num_rows - 900  # the recent rows only
    assert data["outputs"]["since"] > now - 7 * 86400 - 600


def test_operators_drive_a_blue_green_rollout_and_retire_it(world: dict[str, Any]) -> None:
    """blue_green: the candidate previews on shadow copies (callers only see stable);
    pause and resume hold it; an operator's promote makes it champion and moves all
    traffic; retire deletes the application and tags its versions retired. With
    serve.batching, concurrent requests are scored together."""
    from lifecycle.api import retire, rollout_command, serve_status

    plan = compile_approved(FRAUD, world["data"] + TRAIN + SERVE + [
        "train.config.hidden=14", "serve.batching={max_batch_size: 8, batch_wait_timeout: 0.05}",
        *_rollout("blue_green", "[{weight: 0, hold: 600s, gates: [{metric: error_rate, "
                                "max: 0.05}]}, {weight: 100}]")])
    result = run_plan(plan, world["options"])
    assert result.exit_code == ExitCode.OK, result.message
    candidate = result.outcome("deploy").outputs["versions"]["candidate"]  # type: ignore[union-attr]
    url = world["url"]
    before = _load(url, 200, workers=4)
    assert {v for _, _, v in before} == {world["v1"]}  # the preview answers nobody
    assert {s for s, _, _ in before} == {200}
    from lifecycle.runtime.serve import control

    # batching needs the routed topology (a model deployment per slot)
    batching = control.call(model_deployment(Slot.STABLE), "fraud-detector", "batching_stats")
    assert batching["largest_batch"] > 1 and batching["batches"] < 200, batching

    shadow = shadow_totals(control.evidence("fraud-detector").replicas)
    assert shadow.target == "candidate" and shadow.compared > 50
    assert rollout_command(FRAUD, "pause") == "pause requested"
    _until(lambda: serve_status(FRAUD)["rollout"]["phase"] == "paused", 20, "the pause")
    assert rollout_command(FRAUD, "resume") == "resume requested"
    _until(lambda: serve_status(FRAUD)["rollout"]["phase"] == "running", 20, "the resume")
    # the committed spec's approvals cover its own plan, not the one this test ran: a
    # promote naming it is refused before anything moves; naming the application holds
    # the candidate to the approvals it was registered with
    with pytest.raises(PolicyError, match="registered from plan digest"):
        rollout_command(FRAUD, "promote")
    assert serve_status(FRAUD)["rollout"]["phase"] == "running"
    assert rollout_command("fraud-detector", "promote") == "promote requested"
    _until(lambda: serve_status(FRAUD)["rollout"]["phase"] == "promoted", 30, "promotion")
    from lifecycle.errors import RuntimeFailure

    with pytest.raises(RuntimeFailure, match="the rollout has ended") as ended:
        rollout_command(FRAUD, "rollback")  # nothing happens: it says so, and what next
    assert ended.value.problems[0].code == "rollout.refused"
    client = world["client"]
    assert str(client.get_model_version_by_alias("fraud-detector", "champion").version) \
        == candidate
    after = _load(url, 100)
    assert {v for _, _, v in after} == {candidate} and {s for s, _, _ in after} == {200}
    world["v1"] = candidate

    # retire under traffic: the drain refuses new requests with a 503 that says why,
    # lets those in flight finish, then the application is deleted (404)
    seen: list[tuple[int, str]] = []
    stop = threading.Event()

    def caller() -> None:
        while not stop.is_set():
            try:
                r = requests.post(url, json={"rows": ROWS[:1]}, timeout=30)
                seen.append((r.status_code, r.text[:300]))
            except requests.RequestException as exc:
                seen.append((0, type(exc).__name__))

    callers = [threading.Thread(target=caller) for _ in range(2)]
    for t in callers:
        t.start()
    time.sleep(1.0)
    try:
        done = retire(FRAUD, drain_s=30)  # the registry the application was deployed from
    finally:
        stop.set()
        for t in callers:
            t.join()
    assert done["deleted"] is True and candidate in done["archived_versions"]
    assert done["drained"]["in_flight_left"] == 0, done
    assert {code for code, _ in seen} <= {200, 503, 404}, seen[-20:]
    refused = [body for code, body in seen if code == 503]
    assert refused and all("being retired" in body for body in refused), seen[-20:]
    assert client.get_model_version("fraud-detector", candidate).tags["lifecycle.retired"] \
        == "true"
    assert requests.post(url, json={"rows": ROWS[:1]}, timeout=10).status_code == 404


# --- ground truth: request ids, the prediction log, labels, live quality -----------------
TOKEN = "integration-feedback-token"  # set in the session's Ray (conftest), never logged
QUALITY = ["monitors.2.window=100000",  # live-quality: no window closes, gates read it
           "serve.logging.flush_interval=1s"]


def _fed() -> tuple[int, int]:
    """Rows the Monitor observed, and rows the Routers dropped instead of sending."""
    from lifecycle.runtime.serve import control

    fed = monitor_totals(control.evidence("fraud-detector").replicas)
    return _watched()["observed_rows"], 0 if fed is None else fed.dropped_rows


def _labelled(url: str, table: Any, per_request: int, ids: bool = True
              ) -> list[dict[str, Any]]:
    """POST the table's rows (without their label) in requests of `per_request` rows;
    per row: its request id, row, version, prediction, channel and true label. Returns
    once the Monitor has them all (the Routers send answers a second or so later; a
    batch they had to drop is counted, and fails the test). Sent 500 rows at a time,
    each once the Monitor has the last: every label must find its answer, and a burst
    faster than the Monitor has the Routers drop batches, by design."""
    answered: list[dict[str, Any]] = []
    for start in range(0, table.num_rows, 500):
        observed, dropped = _fed()
        part = _answer(url, table.slice(start, 500), per_request, ids, start)
        want = observed + dropped + len(part)
        _until(lambda want=want: sum(_fed()) >= want, 60, "the Monitor to observe the answers")
        assert _fed()[1] == dropped, "the Routers dropped answers instead of sending them"
        answered += part
    return answered


def _answer(url: str, table: Any, per_request: int, ids: bool, offset: int = 0
            ) -> list[dict[str, Any]]:
    rows = table.drop_columns(["is_fraud"]).to_pylist()
    labels = table.column("is_fraud").to_pylist()

    def one(start: int) -> list[dict[str, Any]]:
        chunk = rows[start:start + per_request]
        mine = f"caller-{offset + start}" if ids and start % (2 * per_request) == 0 else None
        r = requests.post(url, json={"rows": chunk}, timeout=30,
                          headers={"X-Request-Id": mine} if mine else {})
        assert r.status_code == 200, r.text
        rid = r.headers["X-Request-Id"]
        assert rid == (mine or rid) and r.json()["request_id"] == rid
        return [{"request_id": rid, "row": k, "version": r.headers["X-Model-Version"],
                 "prediction": p, "channel": chunk[k]["channel"],
                 "amount": chunk[k]["amount"], "label": labels[start + k]}
                for k, p in enumerate(r.json()["predictions"])]

    with cf.ThreadPoolExecutor(8) as pool:
        return [x for part in pool.map(one, range(0, len(rows), per_request)) for x in part]


def _feedback(url: str, items: list[dict[str, Any]], token: str | None = TOKEN
              ) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{url}/feedback", json={"labels": items}, headers=headers,
                         timeout=60)


def _post_labels(url: str, answered: list[dict[str, Any]], label: Any = None) -> dict[str, int]:
    total: dict[str, int] = {}
    for i in range(0, len(answered), 1000):
        items = [{"request_id": a["request_id"], "row": a["row"],
                  "label": a["label"] if label is None else label(a)}
                 for a in answered[i:i + 1000]]
        r = _feedback(url, items)
        assert r.status_code == 200, r.text
        for k, v in r.json().items():
            total[k] = total.get(k, 0) + v
    return total


def _quality_now(since: float = 0.0) -> dict[str, Any]:
    return _watched(since)["monitors"]["live-quality"]["quality"]


def test_prediction_log_feedback_live_quality_and_history(world: dict[str, Any],
                                                          tmp_path: Path) -> None:
    """3,000 requests at sample 0.1: the log holds a binomial share of them, each with its
    id and version; labels posted (in two batches, some twice, some unknown) give per
    version and per slice the AUC scikit-learn gives on the same pairs; an unwritable
    store costs no request; `history --at` answers for a moment between promotions."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.metrics import roc_auc_score

    from lifecycle import api

    plan = compile_approved(FRAUD, world["data"] + TRAIN + SERVE + QUALITY + [
        "train.config.hidden=19", *_rollout("canary", "[{weight: 50, hold: 900s, gates: "
                                            "[{metric: error_rate, max: 0.05}]}, "
                                            "{weight: 100}]")])
    result = run_plan(plan, world["options"])
    assert result.exit_code == ExitCode.OK, result.message
    versions = result.outcome("deploy").outputs["versions"]  # type: ignore[union-attr]
    stable, candidate = versions["stable"], versions["candidate"]
    url, store = world["url"], Store(world["options"].resolved_store())
    began = time.time()  # the store holds the earlier tests' logs of this application too
    answered = _labelled(url, make(3000, seed=21), per_request=1)
    mid_step = time.time()
    assert {a["version"] for a in answered} == {stable, candidate}

    # the prediction log: a binomial share, each with its id and version
    def written() -> int:
        log = _watched()["predictions_log"]
        return log["written"] + log["dropped"]

    _until(lambda: (n := written()) > 0 and time.sleep(2.5) is None and written() == n, 60,
           "the prediction log to be flushed")
    logged = api.prediction_logs(FRAUD, since=began, options=world["options"]).to_pylist()
    assert 300 - 5 * 16.4 <= len(logged) <= 300 + 5 * 16.4, len(logged)  # Binomial(3000, .1)
    by_id = {a["request_id"]: a for a in answered}
    assert all(r["request_id"] in by_id and r["version"] == by_id[r["request_id"]]["version"]
               and r["prediction"] == pytest.approx(by_id[r["request_id"]]["prediction"])
               for r in logged)
    assert len({r["request_id"] for r in logged}) == len(logged)
    one = api.prediction_logs(FRAUD, since=began, version=candidate, options=world["options"])
    assert set(one.column("version").to_pylist()) == {candidate}

    # labels: credentials, malformed items, two batches, a repeat, unknown ids
    sample = [{"request_id": answered[0]["request_id"], "label": 1}]
    assert _feedback(url, sample, token=None).status_code == 401
    assert _feedback(url, sample, token="wrong").status_code == 401
    bad = _feedback(url, sample + [{"request_id": "x", "label": "fraud"}])
    assert bad.status_code == 400 and "labels[1]" in bad.json()["error"]
    first = _post_labels(url, answered[:2000])
    second = _post_labels(url, answered[2000:])
    again = _post_labels(url, answered[:50])
    unknown = _feedback(url, [{"request_id": f"nobody-{i}", "label": 0} for i in range(5)])
    assert (first["accepted"], second["accepted"]) == (2000, 1000), (first, second)
    assert (again["duplicates"], again["accepted"]) == (50, 0)
    assert unknown.json()["unknown"] == 5
    quality = _quality_now()
    for version in (stable, candidate):
        mine = [a for a in answered if a["version"] == version]
        got = quality[version]
        assert got["labels"] == len(mine)
        assert abs(got["values"]["auc"] - roc_auc_score(
            [a["label"] for a in mine], [a["prediction"] for a in mine])) <= 1e-9
        for channel in ("web", "pos", "app"):
            part = [a for a in mine if a["channel"] == channel]
            assert abs(got["slices"][f"channel={channel}"]["auc"] - roc_auc_score(
                [a["label"] for a in part], [a["prediction"] for a in part])) <= 1e-9
        assert got["estimated"]["estimated_auc"] is not None  # calibrated in the monitor stage

    # the same labels in bulk, days later: joined with the logged predictions
    path = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"request_id": [a["request_id"] for a in answered],
                             "label": [a["label"] for a in answered]}), path)
    bulk = api.feedback_file(FRAUD, str(path), world["options"])
    assert (bulk.labels, bulk.joined) == (3000, len(logged))
    for version, got in bulk.versions.items():
        mine = [by_id[r["request_id"]] for r in logged if r["version"] == version]
        assert abs(got["values"]["auc"] - roc_auc_score(
            [a["label"] for a in mine], [a["prediction"] for a in mine])) <= 1e-9

    # the store made unwritable mid-traffic: no failed request, the dropped ones counted
    folder = Path(store.path("predictions", "fraud-detector"))
    aside = folder.with_name("fraud-detector.aside")
    before = _watched()["predictions_log"]
    folder.rename(aside)
    folder.write_text("not a folder: every write below fails")
    try:
        statuses = _send(url, _rows(2000, seed=23), per_request=2)
        assert set(statuses) == {200}
        after = _until(lambda: (log := _watched()["predictions_log"])["failed_writes"]
                       > before["failed_writes"] and log, 60, "a failed write")
    finally:
        folder.unlink()
        aside.rename(folder)
    assert after["dropped"] > before["dropped"] and after["last_error"]
    assert np.isfinite(after["dropped"])

    # what served when: between the earlier promotion and this one
    api.rollout_command("fraud-detector", "promote")  # the version's own approval record
    _until(lambda: api.serve_status("fraud-detector")["rollout"]["phase"] == "promoted", 30,
           "the promotion")
    history = api.served_history(FRAUD, options=world["options"])
    promotions = [e for e in history["events"] if e["event"] == "promoted"]
    assert promotions[-1]["version"] == candidate and promotions[-1]["time"] > mid_step
    at = api.served_history(FRAUD, at=mid_step, options=world["options"])["at"]
    assert at.champion == stable and at.run_id == result.run_id
    assert at.weights == {"stable": (stable, 50.0), "candidate": (candidate, 50.0)}
    assert api.served_history(FRAUD, at=time.time(),
                              options=world["options"])["at"].champion == candidate
    world["v1"] = str(candidate)


def test_a_live_auc_gate_rolls_back_a_worse_candidate_not_a_healthy_one(
        world: dict[str, Any]) -> None:
    """Labels posted while the canary runs: a candidate whose labelled traffic loses
    more than 0.05 AUC against the stable version is rolled back by `live_auc vs stable`;
    a healthy one is not."""
    import random

    from sklearn.metrics import roc_auc_score

    from lifecycle.api import serve_status

    gate = ("[{weight: 50, hold: 900s, gates: [{metric: live_auc, monitor: live-quality, "
            "vs: stable, max_decrease: 0.02}]}, {weight: 100}]")
    flip = random.Random(5)

    def worse(a: dict[str, Any]) -> int:  # the candidate's answers: 5% of labels flipped
        if a["version"] == candidate and flip.random() < 0.05:
            return 1 - a["label"]
        return int(a["label"])

    outcomes = {}
    for hidden, label in ((15, None), (17, worse)):
        world["client"].set_registered_model_alias("fraud-detector", "champion", world["v1"])
        plan = compile_approved(FRAUD, world["data"] + TRAIN + SERVE + QUALITY + [
            f"train.config.hidden={hidden}", *_rollout("canary", gate)])
        result = run_plan(plan, world["options"])
        assert result.exit_code == ExitCode.OK, result.message
        candidate = result.outcome("deploy").outputs["versions"]["candidate"]  # type: ignore[union-attr]
        answered = _labelled(world["url"], make(16000, seed=30 + hidden), per_request=20)
        got = _post_labels(world["url"], answered, label)
        assert got["accepted"] == len(answered), got
        mine = {v: [a for a in answered if a["version"] == v] for v in (world["v1"], candidate)}
        given = label or (lambda a: a["label"])
        aucs = {v: roc_auc_score([given(a) for a in m], [a["prediction"] for a in m])
                for v, m in mine.items()}
        time.sleep(5)  # a few gate looks on these labels
        outcomes[hidden] = (serve_status("fraud-detector")["rollout"], aucs, candidate)
    healthy, (bad_state, bad_aucs, bad_version) = outcomes[15], outcomes[17]
    assert healthy[0]["phase"] == "running", healthy[0]
    assert bad_aucs[world["v1"]] - bad_aucs[bad_version] >= 0.05, bad_aucs
    assert bad_state["phase"] == "rolled_back", bad_state
    assert "live_auc" in bad_state["reason"], bad_state["reason"]
    assert {v for _, _, v in _load(world["url"], 30)} == {world["v1"]}
