"""Reading a compiled plan back: `plan.json` from `lifecycle compile`, or the plan a Ray
Job receives in LIFECYCLE_PLAN_JSON. Plans of another schema version are refused."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError, Location, Problem
from .keypath import format_path

if TYPE_CHECKING:
    from ..plan import Plan


def load_plan(path: str | Path) -> Plan:
    """Read a compiled plan.json back, checking its schema version."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        loc = Location(file=str(p))
        raise InputError(f"cannot read plan {p}: {exc.strerror}", location=loc, problems=(
            Problem("load.missing-file", f"cannot read plan: {exc.strerror}", "", loc),)) from None
    return plan_from_json(text, Location(file=str(p)))


def plan_from_json(text: str, where: Location | None = None) -> Plan:
    """A plan from its JSON (a file's text, or LIFECYCLE_PLAN_JSON inside a Ray Job)."""
    from pydantic import ValidationError

    from ..plan import Plan

    loc = where or Location(origin="LIFECYCLE_PLAN_JSON")
    try:
        return Plan.model_validate_json(text)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = f"not a valid plan: {format_path(tuple(err['loc']))}: {err['msg']}"
        raise InputError(msg, location=loc, problems=(
            Problem("plan.invalid", msg, "", loc,
                    "recompile it with `lifecycle compile`; plans from another schema "
                    "version are not read"),)) from None
