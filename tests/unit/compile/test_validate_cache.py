"""`lifecycle validate` of many specs: answered from the content-hash cache while every
input is unchanged, checked again as soon as one changes; checked in worker processes
with the same results as in one process (issue 18 item 25)."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lifecycle.api import validate
from lifecycle.compile import validate as pipeline

from ...conftest import MINIMAL, ROOT, Approved

Write = Callable[[str, str], Path]
FRAUD = ROOT / "specs" / "fraud.yaml"  # high risk: two signed approvals beside it
DAY = dt.date(2026, 11, 22)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """The specs actually validated (not answered from the cache)."""
    monkeypatch.setenv("LIFECYCLE_CACHE_DIR", str(tmp_path / "cache"))
    seen: list[str] = []
    real = pipeline.validate_one

    def spy(path: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pipeline, "validate_one", spy)
    return seen


def _problems(paths: list[Path], *overrides: str, on: dt.date = DAY) -> list[list[str]]:
    results = validate([str(p) for p in paths], list(overrides), on, problems_only=True)
    return [[p.format() for p in r.problems] for r in results]


def _spec(project: Write, name: str = "s", preset: bool = True) -> Path:
    head = "defaults:\n  - /train: mine\n  - _self_\n" if preset else ""
    return project(f"specs/{name}.yaml", head + MINIMAL + "train: {entrypoint: 'examples.a:b'}\n")


def test_unchanged_spec_is_answered_from_the_cache(project: Write, counted: list[str]) -> None:
    project("specs/conf/train/mine.yaml", "framework: sklearn\n")
    spec = _spec(project)
    first = _problems([spec], "train.config.lr=0.1")
    assert _problems([spec], "train.config.lr=0.1") == first
    assert counted == ["s.yaml"]
    _problems([spec], "train.config.lr=0.2")  # other overrides: another key
    _problems([spec], "train.config.lr=0.1", on=DAY + dt.timedelta(days=1))  # another day
    assert counted == ["s.yaml"] * 3


def test_editing_the_spec_or_a_preset_checks_it_again(project: Write,
                                                      counted: list[str]) -> None:
    preset = project("specs/conf/train/mine.yaml", "framework: sklearn\n")
    spec = _spec(project)
    _problems([spec])
    preset.write_text("framework: sklearn\nscaling: {num_workers: 2}\n")
    [after] = _problems([spec])
    assert any("num_workers" in p for p in after)  # sklearn trains on a single worker
    spec.write_text(spec.read_text() + "description: edited\n")
    _problems([spec])
    assert counted == ["s.yaml"] * 3


def test_a_preset_that_would_shadow_the_one_used_checks_it_again(
        project: Write, counted: list[str]) -> None:
    spec = project("specs/s.yaml", "defaults:\n  - /train: sklearn\n  - _self_\n" + MINIMAL
                   + "train: {entrypoint: 'examples.a:b'}\n")
    assert _problems([spec]) == [[]]
    project("specs/conf/train/sklearn.yaml", "framework: sklearn\nscaling: {num_workers: 3}\n")
    [after] = _problems([spec])
    assert any("num_workers" in p for p in after)
    assert counted == ["s.yaml"] * 2


def test_editing_the_policy_bundle_checks_it_again(project: Write, counted: list[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = project("policies/mine.yaml", "extends: [low]\n")
    monkeypatch.setenv("LIFECYCLE_POLICY_PATH", str(bundle.parent))
    spec = project("specs/s.yaml", MINIMAL + "policy: mine\n")
    assert _problems([spec]) == [[]]
    bundle.write_text("extends: [low]\nrules:\n  - {id: MY-001, expression: 'false', "
                      "message: never}\n")
    [after] = _problems([spec])
    assert any("MY-001" in p for p in after)
    assert counted == ["s.yaml"] * 2


def test_a_spec_that_does_not_compose_is_not_cached(project: Write,
                                                    counted: list[str]) -> None:
    spec = _spec(project)  # its preset does not exist yet
    [before] = _problems([spec])
    assert any("load.unknown-preset" in p for p in before)
    project("specs/conf/train/mine.yaml", "framework: sklearn\n")
    assert _problems([spec]) == [[]]
    assert counted == ["s.yaml"] * 2


def test_workers_give_the_same_problems_in_the_same_order(project: Write) -> None:
    paths = [str(project(f"specs/s{i:02d}.yaml", MINIMAL.replace("name: tiny", f"name: t{i}")
                         .replace("ml@example.com", "nobody" if i % 3 == 0 else "ml@x.org")))
             for i in range(20)]
    one = validate(paths, on=DAY, problems_only=True, cache=False, workers=1)
    many = validate(paths, on=DAY, problems_only=True, cache=False, workers=2)
    assert [r.path for r in many] == paths
    assert [r.problems for r in many] == [r.problems for r in one]
    assert [int(r.exit_code) for r in many][:4] == [2, 0, 0, 2]


def test_signed_approvals_appearing_or_changing_beside_the_spec_check_it_again(
        approved: Approved, counted: list[str]) -> None:
    spec = approved(FRAUD)
    counted.clear()  # signing validated it too
    folder = spec.with_name("fraud.approvals")
    away = folder.with_name("elsewhere")
    folder.rename(away)  # not yet approved: HR-001 wants two approvals
    [before] = _problems([spec])
    assert any("HR-001" in p for p in before)
    away.rename(folder)  # the approvals appear beside the spec
    assert _problems([spec]) == [[]]
    for signature in folder.glob("product--*.sig"):  # one no longer verifies
        signature.write_text(signature.read_text().replace("A", "B", 1))
    [after] = _problems([spec])
    assert any("APR-" in p for p in after)
    assert counted == ["fraud.yaml"] * 3


def test_editing_the_approvers_conf_checks_it_again(
        approved: Approved, counted: list[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf)
    monkeypatch.setenv("LIFECYCLE_CONF", str(conf))
    spec = approved(FRAUD)
    counted.clear()  # signing validated it too
    assert _problems([spec]) == [[]]
    signers = conf / "approvers" / "allowed_signers"
    signers.write_text("".join(line for line in signers.read_text().splitlines(keepends=True)
                               if not line.startswith("bob@")))
    [after] = _problems([spec])
    assert any("APR-003" in p and "bob@example.com" in p for p in after)
    assert counted == ["fraud.yaml"] * 2


def test_a_price_table_edited_or_put_first_on_the_cost_path_checks_it_again(
        project: Write, counted: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    prices = project("prices/README", "").parent  # on LIFECYCLE_COST_PATH, empty for now
    monkeypatch.setenv("LIFECYCLE_COST_PATH", str(prices))
    spec = _spec(project, preset=False)
    assert _problems([spec]) == [[]]
    table = (ROOT / "conf" / "cost" / "default.yaml").read_text()
    dear = project("prices/default.yaml", table.replace("cpu_hour: 0.04", "cpu_hour: 400"))
    [after] = _problems([spec])  # it shadows conf/cost/default.yaml: priced with it
    assert any("COST-001" in p for p in after)
    dear.write_text(table)
    assert _problems([spec]) == [[]]
    assert counted == ["s.yaml"] * 3


def test_a_module_an_entrypoint_is_followed_through_checks_it_again(
        project: Write, counted: list[str]) -> None:
    module = project("ml/model.py", "def train(config):\n    pass\n")
    spec = project("specs/s.yaml", MINIMAL + "train: {entrypoint: 'ml.model:train'}\n")
    assert _problems([spec]) == [[]]
    module.write_text("from os import system as train\n")  # now it runs os.system
    [after] = _problems([spec])
    assert any("BASE-001" in p for p in after)
    assert counted == ["s.yaml"] * 2
