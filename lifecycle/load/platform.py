"""Where the platform's presets, policy bundles, price tables and approvers come from,
and the date waivers are checked against: the inputs of a validation besides the spec,
its overrides and the approvals beside it. Kept free of heavy imports, so the validate cache can
key on them before anything is loaded."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path


def platform_conf_dir() -> Path:
    """The platform's conf/: LIFECYCLE_CONF, else the copy in the wheel, else the repo's."""
    env = os.environ.get("LIFECYCLE_CONF")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parent.parent
    packaged = here / "_conf"
    return packaged if packaged.is_dir() else here.parent / "conf"


@dataclass(frozen=True)
class Platform:
    """Where the platform's presets, policy bundles and price tables come from.
    `lifecycle diff --git` builds one for the old revision when they are files of the
    same repository."""

    conf: Path
    policy_path: tuple[Path, ...]
    cost_path: tuple[Path, ...] = ()

    @classmethod
    def current(cls) -> Platform:
        def paths(var: str) -> tuple[Path, ...]:
            return tuple(Path(p) for p in os.environ.get(var, "").split(os.pathsep) if p)

        return cls(platform_conf_dir(), paths("LIFECYCLE_POLICY_PATH"),
                   paths("LIFECYCLE_COST_PATH"))

    @property
    def policy_dirs(self) -> list[Path]:
        return [*self.policy_path, self.conf / "policy"]

    @property
    def cost_dirs(self) -> list[Path]:
        """Where the price table comes from: LIFECYCLE_COST_PATH entries, then conf/cost."""
        return [*self.cost_path, self.conf / "cost"]


def policy_dirs() -> list[Path]:
    """Platform policy folders: LIFECYCLE_POLICY_PATH entries first, then conf/policy.
    Never the user's conf/: a spec cannot bring its own rules."""
    return Platform.current().policy_dirs


def today() -> dt.date:
    """The date waivers are checked against (LIFECYCLE_TODAY=YYYY-MM-DD pins it)."""
    pinned = os.environ.get("LIFECYCLE_TODAY")
    return dt.date.fromisoformat(pinned) if pinned else dt.date.today()
