"""Evaluating a bundle's CEL rules against the final composed spec, and applying waivers.

Rules see the spec after composition, overrides, interpolation and validation (with
defaults filled and durations in seconds), so no preset, override, anchor or
interpolation can hide a value from them.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping
from typing import Any

from ..errors import Location, Problem
from ..plan.policy_report import PolicyReport, RuleResult, WaiverRecord
from . import cel_runtime as cel
from .bundle import TIER_ORDER, Bundle, Rule
from .functions import FUNCTIONS

_PROGRAMS: dict[str, Any] = {}


def _program(source: str) -> Any:
    prog = _PROGRAMS.get(source)
    if prog is None:
        prog = cel.compile(source)
        _PROGRAMS[source] = prog
    return prog


def check_bundle(bundle: Bundle) -> list[Problem]:
    """Compile every expression of a bundle; a syntax error names the rule."""
    problems: list[Problem] = []
    for rule in bundle.rules:
        for part in ("when", "expression", "find"):
            source = getattr(rule, part)
            if source is None:
                continue
            try:
                _program(source)
            except (ValueError, RuntimeError, TypeError) as exc:
                first = str(exc).splitlines()[0]
                problems.append(Problem("policy.rule-syntax", f"rule {rule.id}: {part} is not "
                                        f"valid CEL: {first}", "",
                                        Location(origin=f"policy bundle {bundle.name}"),
                                        "fix the rule in conf/policy"))
    return problems


def select_bundle_name(spec: dict[str, Any]) -> str:
    return str(spec.get("policy") or spec["risk_tier"])


def check_bundle_tier(bundle: Bundle, risk_tier: str) -> Problem | None:
    """A spec may name its bundle, but not one weaker than its risk tier's."""
    if bundle.tier is None or TIER_ORDER[bundle.tier] >= TIER_ORDER[risk_tier]:
        return None
    return Problem("policy.bundle-too-weak", f"bundle '{bundle.name}' is for {bundle.tier} risk; "
                   f"a {risk_tier}-risk spec needs a bundle for {risk_tier} risk or stricter",
                   "policy", Location(), f"remove 'policy:' or name a {risk_tier} bundle")


def _run(rule: Rule, context: Any) -> tuple[str, list[str]]:
    """('not_applicable'|'pass'|'fail', offending key paths)."""
    if rule.when is not None:
        applies = _program(rule.when).execute(context)
        if applies is not True:
            return "not_applicable", []
    if rule.find is not None:
        found = _program(rule.find).execute(context)
        if not isinstance(found, list):
            raise TypeError(f"find must return a list of key paths, got {type(found).__name__}")
        return ("fail" if found else "pass"), [str(f) for f in found]
    ok = _program(rule.expression or "false").execute(context)
    if not isinstance(ok, bool):
        raise TypeError(f"expression must be true or false, got {ok!r}")
    return ("pass" if ok else "fail"), [rule.path] if not ok else []


def evaluate(spec: dict[str, Any], bundle: Bundle, today: dt.date,
             cost: Mapping[str, float] | None = None) -> PolicyReport:
    """Run every rule; failures covered by an unexpired waiver become 'waived'.
    `cost`: the spec priced with the platform's price table, read by rules as `cost.*`
    (training, monthly_serving_min, monthly_serving_max)."""
    context = cel.Context(variables={"spec": spec, "settings": bundle.settings,
                                     "today": today.isoformat(), "cost": dict(cost or {})},
                          functions=FUNCTIONS)
    waivers: dict[str, tuple[int, dict[str, Any]]] = {}
    for i, w in enumerate(spec.get("waivers", [])):
        waivers.setdefault(w["rule"], (i, w))
    results: list[RuleResult] = []
    used: set[str] = set()
    for rule in bundle.rules:
        try:
            status, paths = _run(rule, context)
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
            detail = f"no key {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
            results.append(RuleResult(
                rule=rule.id, severity="error", status="fail", key_path=rule.path,
                message=f"rule could not be evaluated ({detail}): {rule.message}",
                hint="the rule needs a 'when' guard for specs without this key; fix it in "
                "conf/policy"))
            continue
        if status != "fail":
            results.append(RuleResult(rule=rule.id, severity=rule.severity, status=status,
                                      message=rule.message, key_path=rule.path))
            continue
        waiver = waivers.get(rule.id)
        for path in paths or [rule.path]:
            if waiver is not None and rule.waivable:
                _, w = waiver
                expires = dt.date.fromisoformat(str(w["expires"]))
                used.add(rule.id)
                if expires >= today:
                    results.append(RuleResult(
                        rule=rule.id, severity=rule.severity, status="waived", key_path=path,
                        message=rule.message, waiver=WaiverRecord(
                            reason=w["reason"], approved_by=w["approved_by"], expires=expires)))
                    continue
            results.append(RuleResult(rule=rule.id, severity=rule.severity, status="fail",
                                      key_path=path, message=rule.message, hint=rule.hint))
    results.extend(_waiver_findings(spec, bundle, today, used))
    return PolicyReport(bundle=bundle.name, bundle_hash=bundle.digest, results=results)


def _waiver_findings(spec: dict[str, Any], bundle: Bundle, today: dt.date,
                     used: set[str]) -> list[RuleResult]:
    by_id = {r.id: r for r in bundle.rules}
    out: list[RuleResult] = []
    for i, w in enumerate(spec.get("waivers", [])):
        rule_id = w["rule"]
        expires = dt.date.fromisoformat(str(w["expires"]))
        if rule_id not in by_id:
            near = difflib.get_close_matches(rule_id, list(by_id), n=1)
            out.append(RuleResult(
                rule="POL-001", severity="error", status="fail", key_path=f"waivers[{i}].rule",
                message=f"waiver names rule '{rule_id}', which bundle '{bundle.name}' does "
                "not have", hint=f"did you mean '{near[0]}'?" if near else
                "check the rule id in the validate output"))
        elif not by_id[rule_id].waivable:
            out.append(RuleResult(
                rule="POL-002", severity="error", status="fail", key_path=f"waivers[{i}].rule",
                message=f"rule {rule_id} cannot be waived", hint="fix the spec instead"))
        if expires < today:
            out.append(RuleResult(
                rule="POL-003", severity="error", status="fail",
                key_path=f"waivers[{i}].expires",
                message=f"waiver for {rule_id} expired on {expires.isoformat()}",
                hint="fix what the rule asks for, or have the waiver renewed and remove the "
                "expired one"))
        elif rule_id in by_id and rule_id not in used:
            out.append(RuleResult(
                rule="POL-004", severity="warning", status="fail",
                key_path=f"waivers[{i}].rule",
                message=f"waiver for {rule_id} is not needed: the rule passes",
                hint="remove the waiver"))
    return out


