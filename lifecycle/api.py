"""The library surface: what the CLI calls, and what users may call from Python.

    validate(paths, overrides)  -> list[Validation]   all problems of each spec
    compile_spec(path, ...)     -> Plan               raises InputError / PolicyError
    load_plan(path)             -> Plan               a compiled plan.json read back
    spec_schema()               -> dict               JSON Schema of the spec (for editors)
    run_spec(path, overrides, options, on_event) -> RunResult | ExitCode
    run_plan(plan, options, on_event)            -> RunResult
    run_status(options)         -> list[dict]         runs and stages from the journals

Only run_spec / run_plan import ray and mlflow, lazily, through lifecycle.execute.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .compile import compile_plan, spec_json
from .errors import ExitCode, InputError, LifecycleError, Location, PolicyError, Problem
from .load import LoadedSpec, compose, format_path, parse_path, platform_conf_dir
from .plan import Plan, PolicyReport
from .policy import check_bundle, check_bundle_tier, evaluate, load_bundle, select_bundle_name
from .spec import Spec
from .spec import checks as _checks  # noqa: F401  (registers the cross-field checks)
from .spec.problems import CHECKS as REGISTERED_CHECKS
from .spec.problems import SpecFinding, from_validation_error, non_finite_numbers

__all__ = ["Validation", "compile_spec", "load_plan", "plan_from_json", "policy_dirs",
           "run_plan", "run_spec", "run_status", "spec_schema", "today", "validate",
           "validate_one"]


@dataclass
class Validation:
    """The outcome of validating one spec."""

    path: str
    problems: list[Problem] = field(default_factory=list)
    loaded: LoadedSpec | None = None
    spec: Spec | None = None
    policy: PolicyReport | None = None
    plan: Plan | None = None

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


def today() -> dt.date:
    """The date waivers are checked against (LIFECYCLE_TODAY=YYYY-MM-DD pins it)."""
    pinned = os.environ.get("LIFECYCLE_TODAY")
    return dt.date.fromisoformat(pinned) if pinned else dt.date.today()


def policy_dirs() -> list[Path]:
    """Platform policy folders: LIFECYCLE_POLICY_PATH entries first, then conf/policy.
    Never the user's conf/: a spec cannot bring its own rules."""
    extra = [Path(p) for p in os.environ.get("LIFECYCLE_POLICY_PATH", "").split(os.pathsep) if p]
    return extra + [platform_conf_dir() / "policy"]


def _locate(loaded: LoadedSpec, key_path: tuple[str | int, ...]) -> Location:
    return loaded.locate(key_path)


def _finding(loaded: LoadedSpec, f: SpecFinding) -> Problem:
    return Problem(f.code, f.message, format_path(f.key_path), _locate(loaded, f.key_path),
                   f.hint)


def validate_one(path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                 on: dt.date | None = None) -> Validation:
    result = Validation(path=str(path))
    try:
        loaded = compose(path, overrides)
    except InputError as exc:
        result.problems.extend(exc.all_problems())
        return result
    result.loaded = loaded
    result.problems.extend(_finding(loaded, f) for f in non_finite_numbers(loaded.mapping))
    if result.problems:
        return result
    try:
        spec = Spec.model_validate(loaded.mapping)
    except ValidationError as exc:
        result.problems.extend(_finding(loaded, f)
                               for f in from_validation_error(Spec, exc, loaded.mapping))
        return result
    result.spec = spec
    for check in REGISTERED_CHECKS:
        result.problems.extend(_finding(loaded, f) for f in check(spec))
    if result.errors:
        return result
    resolved = spec_json(spec)
    try:
        bundle = load_bundle(select_bundle_name(resolved), policy_dirs())
    except InputError as exc:
        loc = _locate(loaded, ("policy",)) if spec.policy else _locate(loaded, ("risk_tier",))
        result.problems.extend(replace(p, location=loc) if p.location.file is None else p
                               for p in exc.all_problems())
        return result
    tier_problem = check_bundle_tier(bundle, spec.risk_tier)
    if tier_problem is not None:
        result.problems.append(replace(tier_problem, location=_locate(loaded, ("policy",))))
    syntax = check_bundle(bundle)
    if syntax:
        result.problems.extend(syntax)
        return result
    report = evaluate(resolved, bundle, on or today())
    result.policy = report
    for r in report.results:
        if r.status == "pass" or r.status == "not_applicable":
            continue
        loc = _locate(loaded, parse_path(r.key_path))
        if r.status == "waived" and r.waiver is not None:
            w = r.waiver
            result.problems.append(Problem(
                r.rule, f"waived: {r.message}", r.key_path, loc,
                f"waiver by {w.approved_by} until {w.expires.isoformat()}: {w.reason}",
                severity="info"))
        else:
            result.problems.append(Problem(r.rule, r.message, r.key_path, loc, r.hint,
                                           severity=r.severity))
    if result.exit_code != ExitCode.INVALID_INPUT:  # a plan that fails policy is still shown
        result.plan = compile_plan(spec, report, loaded.presets, loaded.overrides)
    return result


def validate(paths: list[str] | tuple[str, ...], overrides: list[str] | tuple[str, ...] = (),
             on: dt.date | None = None) -> list[Validation]:
    return [validate_one(p, overrides, on) for p in paths]


def compile_spec(path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                 on: dt.date | None = None) -> Plan:
    """Compile a spec into a plan; raises InputError or PolicyError with every problem."""
    result = validate_one(path, overrides, on)
    if result.plan is None or result.errors:
        errors = tuple(p for p in result.problems if p.severity == "error")
        cls: type[LifecycleError] = (PolicyError if result.exit_code == ExitCode.POLICY
                                     else InputError)
        raise cls(f"{path}: {len(errors)} problem(s)", problems=errors)
    return result.plan


def load_plan(path: str | Path) -> Plan:
    """Read a compiled plan.json back, checking its schema version."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        loc = Location(file=str(p))
        raise InputError(f"cannot read plan {p}: {exc.strerror}", location=loc, problems=(
            Problem("load.missing-file", f"cannot read plan: {exc.strerror}", "", loc),))
    return plan_from_json(text, Location(file=str(p)))


def spec_schema() -> dict[str, Any]:
    """JSON Schema of the spec language, with Hydra's `defaults` list allowed."""
    schema = Spec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "lifecycle spec"
    schema.setdefault("properties", {})["defaults"] = {
        "description": "Hydra defaults list: presets from conf/ composed into this spec.",
        "type": "array",
        "items": {"anyOf": [{"type": "string"}, {"type": "object"}]},
    }
    return schema


def plan_from_json(text: str, where: Location | None = None) -> Plan:
    """A plan from its JSON (a file's text, or LIFECYCLE_PLAN_JSON inside a Ray Job)."""
    loc = where or Location(origin="LIFECYCLE_PLAN_JSON")
    try:
        return Plan.model_validate_json(text)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = f"not a valid plan: {format_path(tuple(err['loc']))}: {err['msg']}"
        raise InputError(msg, location=loc, problems=(
            Problem("plan.invalid", msg, "", loc,
                    "recompile it with `lifecycle compile`; plans from another schema "
                    "version are not read"),))


def run_plan(plan: Plan, options: Any, on_event: Any = None) -> Any:
    """Execute a compiled plan on the local (or current) Ray; journaled and resumable."""
    from .execute.runner import run_plan as _run

    return _run(plan, options, on_event)


def run_spec(path: str | Path, overrides: list[str] | tuple[str, ...], options: Any,
             on_event: Any = None) -> Any:
    """Compile (refusing invalid or policy-failing specs) and run. With an address, the
    plan is submitted as a Ray Job and its exit code is returned instead of a result."""
    plan = compile_spec(path, overrides)
    options.spec_path = str(path)
    if options.address or os.environ.get("RAY_ADDRESS"):
        from .execute.connection import submit_job

        return submit_job(plan, options,
                          lambda line: on_event("line", {"line": line}) if on_event else None)
    return run_plan(plan, options, on_event)


def run_status(options: Any) -> list[dict[str, Any]]:
    from .execute.status import run_summaries
    from .execute.storage import Store

    return run_summaries(Store(options.resolved_store()))
