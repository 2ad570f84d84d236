"""The validate pipeline: compose -> schema -> cross-field checks -> price -> policy (with
the signed approvals that count) -> plan.

Every verb that starts from a spec file (validate, plan, compile, run, diff, the operating
commands) goes through `validate_one`, so a spec means the same thing to all of them. It
collects every problem it can find instead of stopping at the first; a plan is built
whenever the input is valid, also when policy fails (plan and diff show the rules).
`Validation.sources` and `.folders` name every file and folder the outcome read, for the
validate cache and for `diff --git` (which specs a changed conf file touches).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import ExitCode, InputError, LifecycleError, PolicyError, Problem
from ..load import KeyPath, LoadedSpec, compose, display_path, format_path, parse_path
from ..load.overrides import override_location
from ..load.platform import Platform, policy_dirs, today
from ..plan import Plan
from ..policy import (
    Bundle,
    check_bundle,
    check_bundle_tier,
    load_bundle,
    select_bundle_name,
)
from ..policy import approvals as signed
from ..policy.locate import sources_read
from ..policy.prices import load_price_table
from ..spec import Spec
from ..spec import checks as _checks  # noqa: F401  (registers the cross-field checks)
from ..spec.problems import CHECKS as REGISTERED_CHECKS
from ..spec.problems import SpecFinding, from_validation_error, non_finite_numbers
from .approvals import evaluate_with_approvals
from .compiler import compile_plan, spec_json  # imports slo.py: registers its check too
from .cost import price
from .validation import Validation

__all__ = ["Platform", "Validation", "compile_spec", "policy_dirs", "refusal", "today",
           "validate_one"]


def _finding(loaded: LoadedSpec, f: SpecFinding) -> Problem:
    return Problem(f.code, f.message, format_path(f.key_path), loaded.locate(f.key_path),
                   f.hint, severity=f.severity)


def _yaml_boolean_text(word: str) -> str:
    return "true" if word.lower() in ("yes", "true", "on") else "false"


def _yaml_boolean_refused(loaded: LoadedSpec, f: SpecFinding) -> SpecFinding:
    """A schema error at a value YAML read as a boolean (`description: yes`): say so."""
    word = loaded.yaml_booleans.get(f.key_path)
    if word is None:
        return f
    return SpecFinding(f.key_path, "schema.yaml-boolean",
                       f"{word} is read by YAML as the boolean {_yaml_boolean_text(word)}, "
                       "which this key does not take", f"quote it to mean the text: '{word}'")


def _yaml_booleans_converted(loaded: LoadedSpec, spec: Spec) -> list[SpecFinding]:
    """YAML 1.1 reads NO, yes, off... as booleans; where the schema then made a number or
    text of one (`categories: [SE, DK, NO]` -> 0), refuse it rather than compile a value
    nobody wrote."""
    if not loaded.yaml_booleans:
        return []
    dumped: Any = spec.model_dump()
    out: list[SpecFinding] = []
    for key_path, word in loaded.yaml_booleans.items():
        node: Any = dumped
        for part in key_path:
            node = node.get(part) if isinstance(node, dict) else (
                node[part] if isinstance(node, list) and isinstance(part, int)
                and part < len(node) else None)
        if node is None or isinstance(node, bool):
            continue
        out.append(SpecFinding(
            key_path, "schema.yaml-boolean",
            f"{word} is read by YAML as the boolean {_yaml_boolean_text(word)}, which this "
            f"key would take as {node!r}",
            f"quote it to mean the text: '{word}'; write the value itself otherwise"))
    return out


def _value_at(mapping: Any, key_path: KeyPath) -> Any:
    node = mapping
    for part in key_path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return _ABSENT
    return node


_ABSENT = object()


def _touches(a: KeyPath, b: KeyPath) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _protected_overrides(loaded: LoadedSpec, bundle: Bundle, platform: Platform,
                         allowed: bool) -> tuple[list[Problem], tuple[Path, ...]]:
    """Keys the bundle protects (risk tier, policy, waivers, approvals by default) that the
    command line changed. Found by composing the spec without its overrides and comparing
    values, so no route (a key, a preset choice, an interpolation, a deletion) goes
    unseen; the protected keys are those of both sides' bundles. Also returns the files
    of the spec's own bundle (the result depends on them)."""
    if not loaded.overrides:
        return [], ()
    try:
        base: LoadedSpec | None = compose(loaded.path, (), conf=platform.conf)
    except InputError:
        base = None  # the file alone does not compose: judge by the keys overrides name
    bundles = [bundle]
    if base is not None:
        try:
            bundles.insert(0, load_bundle(select_bundle_name(base.mapping),
                                          platform.policy_dirs))
        except (InputError, KeyError):
            pass
    protecting: dict[str, str] = {}  # key -> the bundle that protects it (the spec's first)
    for b in bundles:
        for layer in b.layers:  # each layer protects its own keys: a named bundle adds some
            for key in layer.protected_keys:
                protecting.setdefault(key, layer.name)
    problems: list[Problem] = []
    for key, bundle_name in sorted(protecting.items()):
        key_path = parse_path(key)
        by = [text for text, touched in loaded.override_paths if _touches(touched, key_path)]
        if base is not None:
            if _value_at(base.mapping, key_path) == _value_at(loaded.mapping, key_path):
                continue
        elif not by:
            continue
        where = override_location(by[0]) if by else loaded.locate(key_path)
        if allowed:
            problems.append(Problem(
                "override.protected", f"'{key}' is protected by policy bundle "
                f"'{bundle_name}' and was changed on the command line (allowed)", key, where,
                "recorded in the plan, the run's journal, MLflow and the model card",
                severity="warning"))
        else:
            problems.append(Problem(
                "override.protected", f"'{key}' is protected by policy bundle "
                f"'{bundle_name}': the command line may not change it", key, where,
                "change it in the spec file, where a reviewer sees it; or pass "
                "--allow-protected-overrides, which records the override in the plan, the "
                "run's journal, MLflow and the model card"))
    return problems, tuple(f for b in bundles for f in b.files)


def validate_one(path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                 on: dt.date | None = None, platform: Platform | None = None,
                 allow_protected_overrides: bool = False, *,
                 build_plan: bool = True) -> Validation:
    """Every problem of one spec, and its plan when the input is valid (unless not
    `build_plan`: the problems do not depend on it). Overrides of keys the policy bundle
    protects are errors unless `allow_protected_overrides`, and then warnings recorded in
    the plan."""
    platform = platform or Platform.current()
    result = Validation(path=str(path))
    try:
        loaded = compose(path, overrides, conf=platform.conf)
    except InputError as exc:
        result.problems.extend(exc.all_problems())
        return result
    result.loaded = loaded
    result.sources = loaded.sources
    result.problems.extend(_finding(loaded, f) for f in non_finite_numbers(loaded.mapping))
    if result.problems:
        return result
    try:
        spec = Spec.model_validate(loaded.mapping)
    except ValidationError as exc:
        result.problems.extend(_finding(loaded, _yaml_boolean_refused(loaded, f))
                               for f in from_validation_error(Spec, exc, loaded.mapping))
        return result
    result.problems.extend(_finding(loaded, f) for f in _yaml_booleans_converted(loaded, spec))
    if result.problems:
        return result
    result.spec = spec
    for check in REGISTERED_CHECKS:
        result.problems.extend(_finding(loaded, f) for f in check(spec))
    if result.errors:
        return result
    resolved = spec_json(spec)
    try:
        bundle = load_bundle(select_bundle_name(resolved), platform.policy_dirs)
    except InputError as exc:
        loc = loaded.locate(("policy",) if spec.policy else ("risk_tier",))
        result.problems.extend(replace(p, location=loc) if p.location.file is None else p
                               for p in exc.all_problems())
        return result
    protected, bundle_files = _protected_overrides(loaded, bundle, platform,
                                                   allow_protected_overrides)
    result.sources = (*loaded.sources, *bundle.files, *bundle_files)
    result.problems.extend(protected)
    tier_problem = check_bundle_tier(bundle, spec.risk_tier)
    if tier_problem is not None:
        result.problems.append(replace(tier_problem, location=loaded.locate(("policy",))))
    syntax = check_bundle(bundle)
    if syntax:
        result.problems.extend(syntax)
        return result
    # the spec priced with the platform's table; rules read it as cost.*
    try:
        table = load_price_table(platform.cost_dirs)
        estimate = price(spec, table.table)
    except InputError as exc:
        result.problems.extend(exc.all_problems())
        return result
    result.sources = (*result.sources, table.path)
    # approvals signed beside the spec count when the platform's approvers conf says so;
    # both folders are read whole, so a file added to either changes the outcome
    result.folders = (signed.approvals_folder(loaded.path), signed.approvers_folder(platform.conf))
    with sources_read() as code:  # where entrypoints and _target_ names lead (BASE-001/002)
        report, approvals = evaluate_with_approvals(
            spec, resolved, bundle, loaded.path, platform.conf, on or today(),
            display_path(loaded.path), cost=estimate.policy_view())
    result.sources = (*result.sources, *sorted(code))
    result.policy = report
    for r in report.results:
        if r.status == "pass" or r.status == "not_applicable":
            continue
        loc = loaded.locate(parse_path(r.key_path))
        if r.status == "waived" and r.waiver is not None:
            w = r.waiver
            result.problems.append(Problem(
                r.rule, f"waived: {r.message}", r.key_path, loc,
                f"waiver by {w.approved_by} until {w.expires.isoformat()}: {w.reason}",
                severity="info"))
        else:
            result.problems.append(Problem(r.rule, r.message, r.key_path, loc, r.hint,
                                           severity=r.severity))
    if build_plan and result.exit_code != ExitCode.INVALID_INPUT:  # shown if policy fails
        result.plan = compile_plan(spec, report, loaded.presets, loaded.overrides, approvals,
                                   cost=estimate,
                                   protected_overrides=tuple(p.key_path for p in protected))
    return result


def refusal(result: Validation, path: str | Path, policy_fails: bool = False) -> LifecycleError:
    """The error for a spec that did not compile (with policy_fails, one that failed
    policy too), carrying every problem found."""
    errors = tuple(p for p in result.problems if p.severity == "error")
    cls: type[LifecycleError] = (PolicyError if policy_fails
                                 and result.exit_code == ExitCode.POLICY else InputError)
    return cls(f"{path}: {len(errors)} problem(s)", problems=errors)


def compile_spec(path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                 on: dt.date | None = None, allow_protected_overrides: bool = False) -> Plan:
    """Compile a spec into a plan; raises InputError or PolicyError with every problem."""
    result = validate_one(path, overrides, on, None, allow_protected_overrides)
    if result.plan is None or result.errors:
        raise refusal(result, path, policy_fails=True)
    return result.plan
