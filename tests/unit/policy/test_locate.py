"""The entrypoint and `_target_` allow-lists check where a name is really defined, read
from source without importing it (issue 18, item 24)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lifecycle.api import validate_one
from lifecycle.policy.functions import allowed_entrypoint, disallowed_targets

from ...conftest import ROOT, Approved

Write = Callable[[str, str], Path]
FRAUD = ROOT / "specs" / "fraud.yaml"

NET = """
from __future__ import annotations

import shutil
import subprocess as sp
from os import system
from shutil import rmtree as train
from typing import TYPE_CHECKING

from . import common
from .common import helper
from .layers import *

remove = shutil.rmtree
if TYPE_CHECKING:
    from os import getcwd as train_typed


def train_loop(config):
    return config


class Net:
    pass


train_typed = train_loop
raise RuntimeError("validate must never import user code")
"""


@pytest.fixture
def models(project: Write) -> Path:
    """A project package `models` (cwd is the project root) whose modules re-export."""
    project("models/__init__.py", "")
    project("models/common.py", "def helper(config):\n    return config\n")
    project("models/layers.py", "from os import path\n\n\ndef dense():\n    pass\n")
    project("models/lazy.py", "def __getattr__(name):\n    return __import__('os').system\n")
    return project("models/net.py", NET)


@pytest.mark.parametrize("entrypoint, allowed", [
    ("models.net:train_loop", True),
    ("models.net:train_typed", True),  # the TYPE_CHECKING import never runs
    ("models.net:helper", True),  # imported, but from an allowed module
    ("models.net:train", False),  # shutil.rmtree under another name
    ("models.net:remove", False),  # an alias of shutil.rmtree
    ("models.net:system", False),
    ("models.net:path", False),  # os.path, through `from .layers import *`
    ("models.lazy:train", False),  # made up by the module's __getattr__
    ("models.net:nothing", False),
    ("models.net:__loader__", False),
    ("os.path:join", False),
])
def test_entrypoint_must_be_defined_under_an_allowed_prefix(models: Path, entrypoint: str,
                                                            allowed: bool) -> None:
    assert allowed_entrypoint(entrypoint, ["models."]) is allowed
    assert "models.net" not in sys.modules


def test_entrypoint_module_not_found_here_is_judged_by_its_prefix(models: Path) -> None:
    # `run` validates from the project root it imports the entrypoint from
    assert allowed_entrypoint("models.elsewhere:train", ["models."]) is True
    assert allowed_entrypoint("elsewhere.models:train", ["models."]) is False


@pytest.mark.parametrize("target, allowed", [
    ("models.net.Net", True),
    ("models.net.common.helper", True),  # `from . import common`: the submodule
    ("models.net.dense", True),  # defined in models.layers, reached by a star import
    ("models.net.shutil.rmtree", False),
    ("models.net.sp.run", False),
    ("models.net.path.join", False),
    ("models.net.Net.__init__.__globals__", False),
    ("models.net.__builtins__", False),
    ("models.__init__", False),
    ("models.lazy.anything", False),
    ("nothere.Thing", False),  # cannot be read here, so it cannot be trusted
])
def test_target_must_be_defined_under_an_allowed_prefix(models: Path, target: str,
                                                        allowed: bool) -> None:
    spec = {"train": {"config": {"opt": {"_target_": target}}}}
    expected = [] if allowed else ["train.config.opt._target_"]
    assert disallowed_targets(spec, ["models.", "nothere."]) == expected
    assert "models.net" not in sys.modules


def test_spec_entrypoint_reexported_from_the_standard_library_fails_base_001(
        models: Path, project: Write, approved: Approved) -> None:
    text = FRAUD.read_text().replace("examples.fraud.model:train_loop", "models.net:train")
    r = validate_one(approved(project("specs/fraud.yaml", text)))
    [p] = r.errors
    line = text.splitlines().index("  entrypoint: models.net:train") + 1
    assert (p.code, p.location.file, p.location.line) == ("BASE-001", "specs/fraud.yaml", line)
    assert "models.net" not in sys.modules


@pytest.mark.parametrize("target", ["sklearn.base.copy.deepcopy",
                                    "torch.nn.functional.torch.load"])
def test_library_target_reached_through_its_imports_fails_base_002(target: str) -> None:
    r = validate_one(FRAUD, [f"+train.config.opt={{_target_: {target}}}"])
    assert [(p.code, p.key_path) for p in r.errors] == [("BASE-002", "train.config.opt._target_")]


@pytest.mark.parametrize("target", ["torch.optim.Adam", "torch.nn.ReLU",
                                    "sklearn.ensemble.RandomForestClassifier"])
def test_library_target_defined_under_the_allow_list_passes(target: str) -> None:
    assert validate_one(FRAUD, [f"+train.config.opt={{_target_: {target}}}"]).errors == []
