"""The spec keys a rule reads, from its CEL text: `spec.a.b` references, the helpers it
calls with the whole spec (functions.READS), the priced figures it reads
(functions.COST_READS), and the key path it reports at."""

from __future__ import annotations

import re

from .bundle import Bundle, Rule
from .functions import COST_READS, READS

_SPEC_REF = re.compile(r"\bspec((?:\.[A-Za-z_]\w*)+)")
_COST_REF = re.compile(r"(?<![\w.])cost\.([A-Za-z_]\w*)")
_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(\s*spec\b")


_MACROS = {"all", "exists", "exists_one", "map", "filter", "size", "contains", "startsWith",
           "endsWith", "matches"}
_INDEX = re.compile(r"\[[^\]]*\]")


def rule_reads(rule: Rule) -> tuple[str, ...]:
    """Keys the rule's verdict depends on. `when` is left out: it only decides whether
    the rule applies, which diff reports as the rule's status changing."""
    text = " ".join(t for t in (rule.expression, rule.find) if t)
    found: list[str] = []
    for m in _SPEC_REF.finditer(text):
        parts = m.group(1)[1:].split(".")
        while parts and parts[-1] in _MACROS:
            parts.pop()
        found.append(".".join(parts))
    priced = [p for m in _COST_REF.finditer(text) for p in COST_READS.get(m.group(1), ())]
    found.extend(priced)  # more specific than a path such as `serve`, which they replace
    if rule.path:
        found.append(rule.path)
    plain = [_INDEX.sub("", f) for f in found]
    # `has(spec.a) && spec.a.b > 1` reads a.b: keep the most specific references
    keep = [f for f, p in zip(found, plain)
            if f and not any(q.startswith(p + ".") for q in plain)]
    # a helper given the whole spec reads all of what it lists, however specific the rest
    for m in _CALL.finditer(text):
        keep.extend(p for p in READS.get(m.group(1), ()) if p)
    # so does a priced figure (cost.training) of every key it is priced from
    keep.extend(priced)
    return tuple(dict.fromkeys(keep))


def bundle_reads(bundle: Bundle) -> dict[str, tuple[str, ...]]:
    return {r.id: rule_reads(r) for r in bundle.rules}
