"""The layering CI enforces (import-linter contracts in pyproject.toml) refuses each import
of the old execute <-> runtime cycle, put back into a copy of the package."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import ROOT

OLD_CYCLE = [
    # a Monitor replica ran the driver's runner to retrain
    ("lifecycle/runtime/monitor/retrain.py", "from ...execute.runner import run_plan",
     "The runtime reads plans and the store, never the compiler or the driver"),
    # the rollout controller wrote through the driver's journal module
    ("lifecycle/runtime/rollout/controller.py", "from ...execute import context",
     "The runtime reads plans and the store, never the compiler or the driver"),
    # the Monitor imported the rollout package for an actor name
    ("lifecycle/runtime/monitor/deployment.py", "from ..rollout import controller",
     "Inside the runtime: the app wires, rollout and monitor never import each other"),
    # the serve package imported the monitor's deployment
    ("lifecycle/runtime/serve/router.py", "from ..monitor import deployment",
     "Inside the runtime: the app wires, rollout and monitor never import each other"),
    # runtime code read a spec default
    ("lifecycle/runtime/monitor/deployment.py", "from ...spec.monitor import MIN_WINDOW",
     "The runtime reads plans and the store, never the compiler or the driver"),
]


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).parent / "lint-imports"
    return subprocess.run([str(lint), "--config", str(tree / "pyproject.toml"),
                           "--no-cache"], cwd=tree, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("arch")
    shutil.copytree(ROOT / "lifecycle", root / "lifecycle",
                    ignore=shutil.ignore_patterns("__pycache__", "_conf"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_package_keeps_every_contract(tree: Path) -> None:
    out = _lint(tree)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(("module", "line", "contract"), OLD_CYCLE)
def test_an_import_of_the_old_cycle_breaks_a_contract(tree: Path, module: str, line: str,
                                                      contract: str) -> None:
    path = tree / module
    original = path.read_text(encoding="utf-8")
    path.write_text(original.replace("from __future__ import annotations\n",
                                     f"from __future__ import annotations\n\n{line}\n", 1),
                    encoding="utf-8")
    try:
        out = _lint(tree)
    finally:
        path.write_text(original, encoding="utf-8")
    assert out.returncode != 0
    assert f"{contract} BROKEN" in out.stdout, out.stdout
