"""Every override of a run is recorded where someone looks later: the run's journal
(`run_started`), the MLflow run and version tags, and the model card (issue 18 item 16)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lifecycle.api import RunOptions, compile_spec
from lifecycle.execute.card import model_card
from lifecycle.runtime.contract import Source

from ...conftest import ROOT, approved_copy

FRAUD = ROOT / "specs" / "fraud.yaml"
OVERRIDES = ["risk_tier=low", "tune.num_samples=4"]


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # approved for the change: the approvals cover the risk tier
    spec = approved_copy(FRAUD, tmp_path_factory.mktemp("approved"), OVERRIDES)
    return compile_spec(spec, OVERRIDES, allow_protected_overrides=True)


def test_model_card_prints_the_overrides_and_the_protected_keys(plan: Any) -> None:
    card = model_card(plan, {}, {})
    assert "| command-line overrides | `risk_tier=low` `tune.num_samples=4` |" in card
    assert "- **protected keys changed on the command line** (allowed by " \
        "--allow-protected-overrides): `risk_tier`" in card


def test_run_started_journals_the_overrides(plan: Any, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from lifecycle.execute import connection, runner
    from lifecycle.store import Store, read_journal

    class Stop(Exception):
        pass

    def no_ray(*_: Any) -> None:
        raise Stop  # the record is written before Ray is needed

    monkeypatch.setattr(connection, "start_local", no_ray)
    options = RunOptions(project_root=tmp_path, store=str(tmp_path / "store"))
    assert runner.run_plan(plan, options, run_id="r1").status == "failed"  # journaled too
    [started] = [e for e in read_journal(Store(options.resolved_store()), "r1")
                 if e["event"] == "run_started"]
    assert started["overrides"] == OVERRIDES
    assert started["protected_overrides"] == ["risk_tier"]


def test_mlflow_run_is_tagged_with_the_overrides(plan: Any, tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    from lifecycle.execute.tracking import Tracking

    tracking = Tracking(f"sqlite:///{tmp_path}/mlflow.db", plan, "r1", "specs/fraud.yaml",
                        str(tmp_path), Source(git_commit="abc", git_dirty=False))
    tags = tracking.client.get_run(tracking.parent_id).data.tags
    assert tags["lifecycle.overrides"] == '["risk_tier=low", "tune.num_samples=4"]'
    assert tags["lifecycle.protected_overrides"] == '["risk_tier"]'
    # registered versions get the same lineage tags (Tracking.register)
    assert tracking.lineage["overrides"] == tags["lifecycle.overrides"]
