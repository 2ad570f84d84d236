"""The plan's `retire` stage is run, never listed as unsupported (issue 18, item 11):
scheduled until `retirement.after` has passed; after it, a run retires the spec instead
of renewing it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lifecycle.execute import RunOptions
from lifecycle.execute.runner import run_plan
from lifecycle.store import Store, read_journal

from ...conftest import ROOT, TODAY, compile_approved
from .test_run_endings import FakeTracking

KINDS = ["data", "tune", "evaluate", "register", "monitor", "deploy", "rollout", "retire"]


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    def executor(kind: str) -> Any:
        def run(stage: Any, ctx: Any) -> dict[str, Any]:
            calls.append(kind)
            return {"digest": "d"} if kind == "data" else {"deleted": True}
        return run

    monkeypatch.setattr("lifecycle.execute.connection.start_local", lambda plan, options: "")
    monkeypatch.setattr("lifecycle.execute.executors.registry",
                        lambda: {k: executor(k) for k in KINDS})
    monkeypatch.setattr("lifecycle.execute.tracking.Tracking", FakeTracking)
    FakeTracking.fail_with = None
    return calls


def _run(tmp_path: Path, after: str | None) -> Any:
    overrides = [f"+retirement.after={after}"] if after else []
    plan = compile_approved(ROOT / "specs" / "fraud.yaml", overrides)
    options = RunOptions(project_root=ROOT, store=str(tmp_path / "store"),
                         tracking_uri="sqlite:///unused.db", run_id="r")
    return run_plan(plan, options)


@pytest.mark.parametrize("after", [None, TODAY.isoformat(), "2027-01-31"])
def test_retire_is_scheduled_until_its_date_has_passed(ran: list[str], tmp_path: Path,
                                                        after: str | None) -> None:
    result = _run(tmp_path, after)
    retire = result.outcome("retire")
    assert retire.status == "scheduled"
    assert retire.message == (
        "no date set (retirement.after): `lifecycle retire SPEC` retires it" if after is None
        else f"retires after {after}: the first run after that date retires it (or "
        "`lifecycle retire SPEC` now)")
    assert ran == KINDS[:-1]
    events = list(read_journal(Store(str(tmp_path / "store")), "r"))
    assert {"event": "stage_scheduled", "stage": "retire"}.items() <= events[-2].items()


def test_a_run_after_the_retirement_date_retires_instead_of_renewing(
        ran: list[str], tmp_path: Path) -> None:
    result = _run(tmp_path, "2026-11-21")  # the day before the pinned today
    assert ran == ["retire"]
    assert result.outcome("retire").status == "succeeded"
    for kind in KINDS[:-1]:
        outcome = result.outcome(kind)
        assert outcome.status == "not_run"
        assert outcome.message.startswith("retired: retirement.after (2026-11-21) has passed")


def test_the_retire_stage_journals_the_retirement_in_the_deploying_run(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """As `lifecycle retire` does, so `lifecycle history` shows the application retired
    whichever way it was."""
    from lifecycle.execute import groundtruth, serving
    from lifecycle.execute.context import StageContext
    from lifecycle.execute.executors import retire
    from lifecycle.store import Journal

    plan = compile_approved(ROOT / "specs" / "fraud.yaml", ["+retirement.after=2026-11-21"])
    application = plan.stage("deploy").application
    store = Store(str(tmp_path / "store"))
    Journal(store, "deployer").append("stage_succeeded", stage="deploy", outputs={
        "application": application, "versions": {"stable": "1"}})
    monkeypatch.setattr(serving, "retire", lambda *_a, **_k: {
        "application": application, "deleted": True, "archived_versions": ["1"],
        "drained": None})
    ctx = StageContext(plan=plan, options=RunOptions(project_root=ROOT, store=store.uri),
                       store=store, run_id="r2", root=str(ROOT))
    done = retire.run(plan.stage("retire"), ctx)
    assert done["journaled_in"] == "deployer"
    assert [(e["event"], e["run_id"]) for e in groundtruth.history(store, application)] == [
        ("deployed", "deployer"), ("retired", "deployer")]
