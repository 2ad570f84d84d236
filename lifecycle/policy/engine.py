"""Evaluating a bundle's CEL rules against the final composed spec, and applying waivers.

Rules see the spec after composition, overrides, interpolation and validation (with
defaults filled and durations in seconds), so no preset, override, anchor or
interpolation can hide a value from them.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import Location, Problem
from ..plan.policy_report import PolicyReport, RuleResult, WaiverRecord
from . import cel_runtime as cel
from .bundle import COMPOSE, TIER_ORDER, Bundle, Layer, Rule
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
    for rule in dict.fromkeys(r for layer in bundle.layers for r in layer.rules):
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
    """The spec's risk tier's bundle, with the one it names (if another) layered on top."""
    tier, named = str(spec["risk_tier"]), spec.get("policy")
    return tier if not named or named == tier else f"{tier}{COMPOSE}{named}"


def check_bundle_tier(bundle: Bundle, risk_tier: str) -> Problem | None:
    """Naming a bundle for a lower tier is refused: it would add nothing the tier's own
    bundle does not, so it says the author expected it to replace that bundle."""
    for layer in bundle.layers:
        if layer.tier is not None and TIER_ORDER[layer.tier] < TIER_ORDER[risk_tier]:
            return Problem("policy.bundle-too-weak", f"bundle '{layer.name}' is for "
                           f"{layer.tier} risk; a {risk_tier}-risk spec can add only a bundle "
                           f"for {risk_tier} risk or stricter, or one without a tier",
                           "policy", Location(), f"remove 'policy:' or name a {risk_tier} "
                           "bundle (the spec's tier bundle applies either way)")
    return None


@dataclass(frozen=True)
class _Outcome:
    """One rule's verdict in one layer: 'not_applicable', 'pass', 'fail', or 'broken' (it
    could not be evaluated, which fails it with the reason)."""

    rule: Rule
    status: str
    paths: tuple[str, ...] = ()
    reason: str = ""


def _run(rule: Rule, context: Any) -> _Outcome:
    try:
        if rule.when is not None:
            applies = _program(rule.when).execute(context)
            if applies is not True:
                return _Outcome(rule, "not_applicable")
        if rule.find is not None:
            found = _program(rule.find).execute(context)
            if not isinstance(found, list):
                raise TypeError("find must return a list of key paths, got "
                                f"{type(found).__name__}")
            return _Outcome(rule, "fail" if found else "pass", tuple(str(f) for f in found))
        ok = _program(rule.expression or "false").execute(context)
        if not isinstance(ok, bool):
            raise TypeError(f"expression must be true or false, got {ok!r}")
        return _Outcome(rule, "pass" if ok else "fail", () if ok else (rule.path,))
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
        detail = f"no key {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
        return _Outcome(rule, "broken", (rule.path,), detail)


def _layer_outcomes(spec: dict[str, Any], layer: Layer, today: dt.date,
                    cost: dict[str, float]) -> list[_Outcome]:
    context = cel.Context(variables={"spec": spec, "settings": layer.settings,
                                     "today": today.isoformat(), "cost": cost},
                          functions=FUNCTIONS)
    return [_run(rule, context) for rule in layer.rules]


def _merged(outcomes: list[_Outcome]) -> list[_Outcome]:
    """One verdict per rule id across layers: a rule fails if it fails in any layer (the
    first failing layer's wording), so a layer can only add failures."""
    by_id: dict[str, list[_Outcome]] = {}
    for o in outcomes:
        by_id.setdefault(o.rule.id, []).append(o)
    out: list[_Outcome] = []
    for group in by_id.values():
        failing = [o for o in group if o.status in ("fail", "broken")]
        if failing:
            out.extend(failing)
        else:
            out.append(next((o for o in group if o.status == "pass"), group[0]))
    return out


def evaluate(spec: dict[str, Any], bundle: Bundle, today: dt.date,
             cost: Mapping[str, float] | None = None) -> PolicyReport:
    """Run every rule of every layer; failures covered by an unexpired waiver become
    'waived'. `cost`: the spec priced with the platform's price table, read by rules as
    `cost.*` (training, monthly_serving_min, monthly_serving_max) in every layer, each
    layer comparing it with its own settings."""
    waivers: dict[str, dict[str, Any]] = {}
    for w in spec.get("waivers", []):
        waivers.setdefault(w["rule"], w)
    waivable = {r.id: all(o.waivable for layer in bundle.layers for o in layer.rules
                          if o.id == r.id) for r in bundle.rules}
    results: list[RuleResult] = []
    seen: set[tuple[str, str]] = set()
    used: set[str] = set()
    priced = dict(cost or {})
    outcomes = [o for layer in bundle.layers
                for o in _layer_outcomes(spec, layer, today, priced)]
    for o in _merged(outcomes):
        rule = o.rule
        if o.status == "broken":
            results.append(RuleResult(
                rule=rule.id, severity="error", status="fail", key_path=rule.path,
                message=f"rule could not be evaluated ({o.reason}): {rule.message}",
                hint="the rule needs a 'when' guard for specs without this key; fix it in "
                "conf/policy"))
            continue
        if o.status != "fail":
            results.append(RuleResult(rule=rule.id, severity=rule.severity, status=o.status,
                                      message=rule.message, key_path=rule.path))
            continue
        waiver = waivers.get(rule.id)
        for path in o.paths or (rule.path,):
            if (rule.id, path) in seen:  # the same failure found by another layer
                continue
            seen.add((rule.id, path))
            if waiver is not None and waivable[rule.id]:
                expires = dt.date.fromisoformat(str(waiver["expires"]))
                used.add(rule.id)
                if expires >= today:
                    results.append(RuleResult(
                        rule=rule.id, severity=rule.severity, status="waived", key_path=path,
                        message=rule.message, waiver=WaiverRecord(
                            reason=waiver["reason"], approved_by=waiver["approved_by"],
                            expires=expires)))
                    continue
            results.append(RuleResult(rule=rule.id, severity=rule.severity, status="fail",
                                      key_path=path, message=rule.message, hint=rule.hint))
    results.extend(_waiver_findings(spec, bundle, waivable, today, used))
    return PolicyReport(bundle=bundle.name, bundle_hash=bundle.digest, results=results)


def _waiver_findings(spec: dict[str, Any], bundle: Bundle, waivable: dict[str, bool],
                     today: dt.date, used: set[str]) -> list[RuleResult]:
    out: list[RuleResult] = []
    for i, w in enumerate(spec.get("waivers", [])):
        rule_id = w["rule"]
        expires = dt.date.fromisoformat(str(w["expires"]))
        if rule_id not in waivable:
            near = difflib.get_close_matches(rule_id, list(waivable), n=1)
            out.append(RuleResult(
                rule="POL-001", severity="error", status="fail", key_path=f"waivers[{i}].rule",
                message=f"waiver names rule '{rule_id}', which bundle '{bundle.name}' does "
                "not have", hint=f"did you mean '{near[0]}'?" if near else
                "check the rule id in the validate output"))
        elif not waivable[rule_id]:
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
        elif rule_id in waivable and rule_id not in used:
            out.append(RuleResult(
                rule="POL-004", severity="warning", status="fail",
                key_path=f"waivers[{i}].rule",
                message=f"waiver for {rule_id} is not needed: the rule passes",
                hint="remove the waiver"))
    return out
