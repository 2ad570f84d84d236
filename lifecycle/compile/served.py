"""What the operating commands (status, promote, rollback, retire, monitor report, logs,
feedback, history) need of a spec: its Serve application, registered model and
retirement settings, and for promote the approvals it holds now, read from the compiled
plan so they mean what `run` deployed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError, Location, Problem
from ..spec import Retirement
from .validate import refusal, validate_one

if TYPE_CHECKING:
    from ..plan import ApprovalRecord, Plan


@dataclass(frozen=True)
class Served:
    application: str
    model: str | None = None
    archive: bool = Retirement.model_fields["archive"].default
    drain_s: float = Retirement.model_fields["drain"].default
    replaced_by: str | None = None


def deployed_plan(path: str | Path) -> Plan:
    """The plan of a spec file that serves something (refused otherwise)."""
    result = validate_one(path)
    if result.plan is None:
        raise refusal(result, path)
    if not any(s.kind == "deploy" for s in result.plan.stages):
        loc = Location(file=str(path))
        raise InputError(f"{path} has no serve section", location=loc, problems=(Problem(
            "plan.not-served", "the spec deploys nothing", "serve", loc,
            "add a serve section, or name the application instead of the spec"),))
    return result.plan


def application_of(target: str | Path) -> Served:
    """The application of a spec file, or the name itself when `target` is not a file
    (an application deployed earlier: retirement defaults apply)."""
    path = Path(target)
    if not path.is_file():
        return Served(str(target))
    plan = deployed_plan(path)
    deploy = plan.stage("deploy")
    retire = next((s for s in plan.stages if s.kind == "retire"), None)
    if retire is None:  # no retirement section: its defaults
        return Served(deploy.application, deploy.model)
    return Served(deploy.application, deploy.model, retire.archive, retire.drain_s,
                  retire.replaced_by)


def served_plan(target: str | Path) -> Plan:
    """The plan of the spec an application was deployed from (`lifecycle feedback`
    scores labels with its quality monitor): a spec file, not an application's name."""
    path = Path(target)
    if not path.is_file():
        loc = Location(file=str(path))
        raise InputError(f"{path} is not a spec file", location=loc, problems=(Problem(
            "plan.not-a-spec", "labels are scored with the spec's quality monitor", "",
            loc, "give the spec file the application was deployed from"),))
    return deployed_plan(path)


def promotion_approval(target: str | Path) -> tuple[str | None, list[ApprovalRecord]] | None:
    """What a promotion is held to when a spec is named: the digest its approvals cover
    now, and those approvals (a spec that fails policy now is not promoted). None when
    only an application is named: the candidate version's own record is checked."""
    if not Path(target).is_file():
        return None
    result = validate_one(target)
    if result.plan is None or result.errors:
        raise refusal(result, target, policy_fails=True)
    record = result.plan.approvals
    return (None, []) if record is None else (record.approved_digest, list(record.counted))
