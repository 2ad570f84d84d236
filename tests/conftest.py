"""Shared fixtures: the repository root, a pinned 'today' for waivers, and a writer of
spec projects in a temporary folder."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

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
