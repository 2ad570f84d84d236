"""Shared fixtures: the repository root, a pinned 'today' for waivers, and a writer of
spec projects in a temporary folder."""

from __future__ import annotations

import atexit
import datetime as dt
import shutil
import tempfile
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from lifecycle.plan import Plan

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 22)


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


def approved_copy(spec: Path, folder: Path, overrides: Sequence[str] = (),
                  approvers: Mapping[str, str] | None = None) -> Path:
    """`spec` with approvals signed by the example approvers (keys derived in
    examples/approvers) for the plan it compiles to with `overrides`: an approved spec, as
    a team keeps it. A spec outside `folder` (the repository's) is copied into it first."""
    from examples.approvers.sign import sign_copy

    return sign_copy(spec, folder, overrides, approvers)


def compile_approved(spec: Path, overrides: Sequence[str] = (),
                     allow_protected_overrides: bool = False) -> Plan:
    """The plan of `spec` with `overrides`, approved for exactly that: the integration
    tests shrink the example (fewer epochs, no tuning, other gates) and run what the
    approvers signed, as a team would. Overrides of protected keys (risk_tier, ...) need
    the opt-in, as on the command line."""
    from lifecycle.api import compile_spec

    return compile_spec(approved_copy(spec, _scratch(), overrides), list(overrides),
                        allow_protected_overrides=allow_protected_overrides)


def _scratch() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="lifecycle-approved-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


@pytest.fixture
def approved(tmp_path: Path) -> Approved:
    """approved(spec, overrides=(), approvers=None) -> `spec` approved for
    the plan it compiles to with `overrides` (see approved_copy), so that a test of
    another rule sees that rule fail and nothing else."""

    def make(spec: Path, overrides: Sequence[str] = (),
             approvers: Mapping[str, str] | None = None) -> Path:
        return approved_copy(spec, tmp_path, overrides, approvers)

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
