"""One small executor per stage kind; each talks to one library."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..context import StageContext


def registry() -> dict[str, Callable[[Any, StageContext], dict[str, Any]]]:
    from . import data, deploy, evaluate, monitor, register, retire, rollout, train, tune

    return {"data": data.run, "train": train.run, "tune": tune.run,
            "evaluate": evaluate.run, "register": register.run, "monitor": monitor.run,
            "deploy": deploy.run, "rollout": rollout.run, "retire": retire.run}
