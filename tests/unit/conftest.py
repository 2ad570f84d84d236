"""Unit tests are pure: starting Ray here is a bug."""

from __future__ import annotations

import sys
from typing import Any

import pytest


def _forbidden(*_: Any, **__: Any) -> None:
    raise AssertionError("unit tests must not start Ray; put this test under tests/integration")


@pytest.fixture(autouse=True)
def _no_ray_init(monkeypatch: pytest.MonkeyPatch) -> None:
    ray = sys.modules.get("ray")
    if ray is not None:
        monkeypatch.setattr(ray, "init", _forbidden)
