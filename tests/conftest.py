"""Shared fixtures: the repository root, a pinned 'today' for waivers, and a writer of
spec projects in a temporary folder."""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 22)
# the example approvers (conf/approvers; keys derived in examples/approvers) and their roles
EXAMPLE_APPROVERS = {"alice@example.com": "model-risk", "bob@example.com": "product"}


@pytest.fixture(autouse=True)
def _pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFECYCLE_TODAY", TODAY.isoformat())


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """write(relative_path, yaml_text) -> absolute path; cwd is the project root."""
    monkeypatch.chdir(tmp_path)

    def write(rel: str, text: str) -> Path:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


Approved = Callable[..., Path]


@pytest.fixture
def approved(tmp_path: Path) -> Approved:
    """approved(spec, overrides=(), approvers=EXAMPLE_APPROVERS) -> `spec` with approvals
    signed by the example approvers for the plan it compiles to with `overrides`: an
    approved spec, as a team keeps it, so that a test of another rule sees that rule fail
    and nothing else. A spec outside tmp_path (the repository's) is copied first."""
    from examples.approvers.sign import write_keys
    from lifecycle.api import approve

    made = iter(range(1000))

    def make(spec: Path, overrides: Sequence[str] = (),
             approvers: Mapping[str, str] | None = None) -> Path:
        folder = tmp_path / f"approved-{next(made)}"
        target = spec
        if not spec.resolve().is_relative_to(tmp_path.resolve()):
            target = folder / "specs" / spec.name
            target.parent.mkdir(parents=True)
            shutil.copy(spec, target)
        keys = write_keys(folder / "keys")
        for who, role in (EXAMPLE_APPROVERS if approvers is None else approvers).items():
            approve(target, role=role, key=keys[who], overrides=list(overrides))
        return target

    return make


MINIMAL = """
name: tiny
owner: ml@example.com
risk_tier: low
data:
  train: {path: data/train.parquet}
  contract:
    label: y
    features:
      x: {type: float}
"""
