"""The outcome of validating one spec. Light on purpose (its types are imported only for
checking), so that answering `lifecycle validate` from the cache loads nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ExitCode, Problem

if TYPE_CHECKING:
    from ..load import LoadedSpec
    from ..plan import Plan, PolicyReport
    from ..spec import Spec


@dataclass
class Validation:
    """The outcome of validating one spec: every problem, and what was built on the way
    (None where validation stopped before it, or when only problems were asked for)."""

    path: str
    problems: list[Problem] = field(default_factory=list)
    loaded: LoadedSpec | None = None
    spec: Spec | None = None
    policy: PolicyReport | None = None
    plan: Plan | None = None
    # every file the outcome depends on: the spec, its presets, the policy bundle files,
    # the price table, the module sources names were followed through
    sources: tuple[Path, ...] = ()
    # folders read whole (a file added or removed counts; absent ones too): the signed
    # approvals beside the spec, the platform's approvers conf
    folders: tuple[Path, ...] = ()

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def exit_code(self) -> ExitCode:
        if any(p.severity == "error" and not _is_policy(p) for p in self.problems):
            return ExitCode.INVALID_INPUT
        if self.errors:
            return ExitCode.POLICY
        return ExitCode.OK


def _is_policy(p: Problem) -> bool:
    return not (p.code.startswith(("yaml.", "load.", "schema.", "policy.")))
