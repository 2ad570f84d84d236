"""`lifecycle diff OLD NEW`: each side is a spec (composed and compiled here, with the
platform of its own revision) or a compiled plan; the comparison itself is compare.py's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ..compile.validate import Platform, refusal, validate_one
from ..errors import LifecycleError
from ..load import display_path, load_plan
from ..plan import Plan
from ..policy import load_bundle
from ..policy.references import bundle_reads
from .compare import Locate, compare
from .model import DiffReport, Where, report

Side = tuple[Plan, Locate | None]  # the plan, and where each key of its spec is written


def side(path: Path, on: dt.date | None, platform: Platform | None = None,
         base: Path | None = None) -> Side:
    """A compiled plan from a spec (.yaml) or a plan file (.json). Specs that fail policy
    still compile (diff shows the rules); specs that break the schema raise InputError.
    With `base`, file locations are given relative to it (the repository root)."""
    if path.suffix == ".json":
        return load_plan(path), None
    result = validate_one(path, (), on, platform)
    if result.plan is None or result.loaded is None:
        raise refusal(result, display_path(path))
    loaded = result.loaded

    def locate(key_path: tuple[str | int, ...]) -> Where | None:
        loc = loaded.locate(key_path)
        file = loc.file
        if file is not None and base is not None:
            try:
                file = Path(file).resolve().relative_to(base).as_posix()
            except ValueError:
                pass
        return Where(file=file, line=loc.line, column=loc.column, origin=loc.origin)

    return result.plan, locate


def rule_reads(plan: Plan, platform: Platform | None = None) -> dict[str, tuple[str, ...]]:
    """The spec keys each rule of the plan's bundle reads (empty when this machine does
    not have the bundle the plan was compiled under)."""
    try:
        return bundle_reads(load_bundle(plan.policy.bundle,
                                        (platform or Platform.current()).policy_dirs))
    except LifecycleError:
        return {}


def diff_files(old: str | Path, new: str | Path, on: dt.date | None = None) -> DiffReport:
    """Two specs (composed and compiled) or two compiled plans of the same model."""
    a, _ = side(Path(old), on)
    b, locate = side(Path(new), on)
    return report(str(old), str(new), [compare(a, b, path=str(new), old_path=str(old),
                                               rule_reads=rule_reads(b),
                                               locate_new=locate)])
