"""Compare two compiled plans of one spec: changed keys of the resolved specs (aligned by
meaning, not text: list items by identity, sets as sets, 1 == 1.0), policy results before
and after, and stage content hashes. Pure: no files, no git."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from ..plan import Plan
from ..plan.judging import DEFAULT_TRAFFIC, StepJudgement, judging
from .classify import SHAPE, Kind, classify
from .cost import cost_diff
from .model import Change, Direction, RuleChange, SpecDiff, StageChange, Where

RealPath = tuple[str | int, ...]
Locate = Callable[[RealPath], Where | None]

POSITIONAL = frozenset({"serve.rollout.steps"})
# sets whose order still means something (category codes follow it)
ORDERED_SETS = frozenset({"data.contract.features.*.categories"})

STAGE_EFFECT = {
    "data": "re-reads and re-checks the data",
    "train": "retrains",
    "tune": "re-tunes (retrains every trial)",
    "evaluate": "re-evaluates the gates",
    "register": "registers a new model version",
    "monitor": "refits the monitors",
    "deploy": "redeploys",
    "rollout": "restarts the rollout",
    "retire": "re-plans retirement",
}

STATUS_RANK = {None: 0, "not_applicable": 0, "pass": 1, "waived": 2, "fail": 3}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)


class _Walk:
    def __init__(self) -> None:
        self.out: list[tuple[str, str, Kind, Any, Any, RealPath, RealPath]] = []

    def emit(self, display: str, pattern: str, kind: Kind, old: Any, new: Any,
             old_path: RealPath, new_path: RealPath) -> None:
        self.out.append((display, pattern, kind, old, new, old_path, new_path))

    def node(self, old: Any, new: Any, display: str, pattern: str, op: RealPath,
             np: RealPath) -> None:
        if old is None and new is None:
            return
        if old is None:
            self.emit(display, pattern, "added", None, new, op, np)
        elif new is None:
            self.emit(display, pattern, "removed", old, None, op, np)
        elif isinstance(old, dict) and isinstance(new, dict):
            self.mapping(old, new, display, pattern, op, np)
        elif isinstance(old, list) and isinstance(new, list) and pattern in SHAPE.sets:
            self.as_set(old, new, display, pattern, op, np)
        elif (isinstance(old, list) and isinstance(new, list)
              and (pattern in SHAPE.identity or pattern in POSITIONAL)):
            self.items(old, new, display, pattern, op, np)
        elif not _same(old, new):
            self.emit(display, pattern, "changed", old, new, op, np)

    def mapping(self, old: dict[str, Any], new: dict[str, Any], display: str, pattern: str,
                op: RealPath, np: RealPath) -> None:
        named = pattern in SHAPE.named_maps
        for key in [*new, *(k for k in old if k not in new)]:
            d = f"{display}.{key}" if display else str(key)
            p = f"{pattern}.*" if named else (f"{pattern}.{key}" if pattern else str(key))
            self.node(old.get(key), new.get(key), d, p, (*op, key), (*np, key))

    def items(self, old: list[Any], new: list[Any], display: str, pattern: str,
              op: RealPath, np: RealPath) -> None:
        ident = SHAPE.identity.get(pattern)

        def keyed(items: list[Any]) -> dict[str, int]:
            if ident is None:
                return {str(i): i for i in range(len(items))}
            out: dict[str, int] = {}
            for i, item in enumerate(items):
                k = ident(item) if isinstance(item, dict) else str(i)
                out[k if k not in out else f"{k}#{i}"] = i
            return out

        ko, kn = keyed(old), keyed(new)
        for k in [*kn, *(k for k in ko if k not in kn)]:
            io, in_ = ko.get(k), kn.get(k)
            self.node(None if io is None else old[io], None if in_ is None else new[in_],
                      f"{display}[{k}]", f"{pattern}[*]",
                      op if io is None else (*op, io), np if in_ is None else (*np, in_))

    def as_set(self, old: list[Any], new: list[Any], display: str, pattern: str,
               op: RealPath, np: RealPath) -> None:
        if pattern in ORDERED_SETS and not _same(old, new) and len(old) == len(new) \
                and all(any(_same(x, y) for y in new) for x in old):
            self.emit(display, f"{pattern}#order", "changed", old, new, op, np)
            return
        for i, item in enumerate(new):
            if not any(_same(item, o) for o in old):
                self.emit(f"{display}[{item}]", f"{pattern}[*]", "added", None, item, op,
                          (*np, i))
        for item in old:
            if not any(_same(item, n) for n in new):
                self.emit(f"{display}[{item}]", f"{pattern}[*]", "removed", item, None, op, np)


def _stage_of(pattern: str, stages: set[str]) -> str | None:
    head = pattern.split(".", 1)[0].split("[", 1)[0]
    if head == "train":
        return "tune" if "tune" in stages else ("train" if "train" in stages else None)
    if head == "serve":
        return "rollout" if pattern.startswith("serve.rollout") and "rollout" in stages \
            else ("deploy" if "deploy" in stages else None)
    stage = {"data": "data", "tune": "tune", "evaluate": "evaluate", "register": "register",
             "monitors": "monitor", "retirement": "retire"}.get(head)
    return stage if stage in stages else None


_INDEX = re.compile(r"\[[^\]]*\]")


def _plain(path: str) -> str:
    return _INDEX.sub("", path)


def _real(path: RealPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _touches(reads: tuple[str, ...], key: str) -> bool:
    key = _plain(key)
    for r in reads:
        r = _plain(r)
        if r and (key == r or key.startswith(r + ".") or r.startswith(key + ".")):
            return True
    return False


def _rule_status(plan: Plan | None) -> dict[str, tuple[str, str, str]]:
    """Per rule: (worst status, message, key path)."""
    out: dict[str, tuple[str, str, str]] = {}
    if plan is None:
        return out
    for r in plan.policy.results:
        prev = out.get(r.rule)
        if prev is None or STATUS_RANK[r.status] > STATUS_RANK[prev[0]]:
            out[r.rule] = (r.status, r.message, r.key_path)
    return out


def _rule_direction(old: str | None, new: str | None) -> Direction:
    if old is None and new is not None:
        return "tightens"  # a rule the bundle did not have
    if new is None:
        return "loosens"  # a rule no longer checked
    a, b = STATUS_RANK[old], STATUS_RANK[new]
    if old == "not_applicable" or new == "not_applicable":
        return "review"
    return "loosens" if b > a else "tightens"


def compare(old: Plan | None, new: Plan | None, *, path: str, old_path: str | None = None,
            rule_reads: dict[str, tuple[str, ...]] | None = None,
            locate_new: Locate | None = None, locate_old: Locate | None = None) -> SpecDiff:
    """The diff of one spec. `old`/`new` None: the spec was added/removed.
    `rule_reads`: per rule id, the key paths its expression reads (for 'rules touched')."""
    reads = rule_reads or {}
    plan = new or old
    assert plan is not None
    name, tier = plan.name, plan.risk_tier
    if old is None or new is None:
        status = "added" if old is None else "removed"
        direction: Direction = "review" if old is None else "neutral"
        what = "spec added" if old is None else "spec removed"
        where = (locate_new or (lambda p: None))(()) if old is None else None
        change = Change(path="", stage=None, kind="added" if old is None else "removed",
                        direction=direction, reason=what, where=where)
        return SpecDiff(name=name, path=path, old_path=old_path, status=status,
                        risk_tier=tier, changes=[change],
                        rules=_rule_changes(old, new), stages=_stage_changes(old, new),
                        cost=cost_diff(old, new))
    walk = _Walk()
    walk.node(old.spec, new.spec, "", "", (), ())
    stages = {s.id for s in new.stages} | {s.id for s in old.stages}
    before, after = _rule_status(old), _rule_status(new)
    # rules that apply on at least one side
    rule_status = {rid: v for rid, v in {**before, **after}.items()
                   if v[0] != "not_applicable" or before.get(rid, v)[0] != v[0]}
    changes: list[Change] = []
    for display, pattern, kind, a, b, op, np in walk.out:
        verdict = classify(pattern, kind, a, b)
        touched = sorted(rid for rid in rule_status
                         if _touches(reads.get(rid, ()), _real(np if kind != "removed" else op)))
        direction, reason = verdict if verdict is not None else (
            ("review", "read by a policy rule") if touched else ("neutral", "value changed"))
        where = (locate_new(np) if locate_new is not None else None) if kind != "removed" \
            else _nearest(locate_new, np)
        changes.append(Change(path=display, stage=_stage_of(pattern, stages), kind=kind,
                              old=a, new=b, direction=direction, reason=reason,
                              rules=touched, where=where))
    changes.extend(_resource_changes(old, new, locate_new, lambda key: sorted(
        rid for rid in rule_status if _touches(reads.get(rid, ()), _real(key)))))
    changes.extend(_approval_changes(old, new, changes, lambda key: sorted(
        rid for rid in rule_status if _touches(reads.get(rid, ()), _real(key)))))
    changes.extend(_judging_changes(old, new, locate_new))
    rules = _rule_changes(old, new)
    stage_changes = _stage_changes(old, new)
    cost = cost_diff(old, new)
    status = "changed" if changes or rules or stage_changes or cost else "unchanged"
    return SpecDiff(name=name, path=path, old_path=old_path, status=status, risk_tier=tier,
                    changes=changes, rules=rules, stages=stage_changes, cost=cost)


def _nearest(locate: Locate | None, path: RealPath) -> Where | None:
    """A removed key has no line on the new side: point at its nearest surviving parent."""
    if locate is None:
        return None
    for n in range(len(path), -1, -1):
        where = locate(path[:n])
        if where is not None and where.line is not None:
            return where
    return None


def _rule_changes(old: Plan | None, new: Plan | None) -> list[RuleChange]:
    a, b = _rule_status(old), _rule_status(new)
    out: list[RuleChange] = []
    for rid in sorted(set(a) | set(b)):
        sa, sb = a.get(rid, (None, "", ""))[0], b.get(rid, (None, "", ""))[0]
        if sa == sb or rid.startswith("APR-"):  # per approval: _approval_changes says it
            continue
        message = (b.get(rid) or a.get(rid) or (None, "", ""))[1]
        out.append(RuleChange(rule=rid, old=sa, new=sb, direction=_rule_direction(sa, sb),
                              message=message))
    return out


def _stage_changes(old: Plan | None, new: Plan | None) -> list[StageChange]:
    a = {s.id: s.content_hash for s in (old.stages if old else [])}
    b = {s.id: s.content_hash for s in (new.stages if new else [])}
    out: list[StageChange] = []
    for sid in [*b, *(s for s in a if s not in b)]:
        ha, hb = a.get(sid), b.get(sid)
        if ha == hb:
            continue
        kind = "added" if ha is None else ("removed" if hb is None else "changed")
        effect = STAGE_EFFECT.get(sid, "reruns") if hb is not None else "no longer runs"
        out.append(StageChange(stage=sid, kind=kind, old_hash=ha, new_hash=hb, effect=effect))
    return out


_RESOURCE_KEYS: dict[str, RealPath] = {"train": ("train", "scaling"),
                                       "tune": ("train", "scaling"),
                                       "deploy": ("serve", "resources")}


def _resource_changes(old: Plan, new: Plan, locate: Locate | None,
                      rules_of: Callable[[RealPath], list[str]]) -> Iterator[Change]:
    """GPUs asked for, per stage, from the plans (workers × GPUs × parallel trials)."""
    a = {s.id: s.resources.gpus for s in old.stages}
    for s in new.stages:
        before, after = a.get(s.id, 0.0), s.resources.gpus
        if before == after:
            continue
        key = _RESOURCE_KEYS.get(s.id, ())
        yield Change(path=f"{s.id}: GPUs", stage=s.id, kind="changed", old=before, new=after,
                     direction="loosens" if after > before else "tightens",
                     reason=f"GPUs {'raised' if after > before else 'lowered'}",
                     rules=rules_of(key) if key else [],
                     where=locate(key) if locate is not None and key else None)


def _approval_changes(old: Plan, new: Plan, changes: list[Change],
                      rules_of: Callable[[RealPath], list[str]]) -> Iterator[Change]:
    """Signed approvals (files beside the spec, not spec keys): those the change makes
    stale, in one line with what voided them; those refused or removed; those added or
    signed again for this change."""
    before = {a.source: a for a in (old.approvals.counted if old.approvals else []) if a.signed}
    after = {a.source: a for a in (new.approvals.counted if new.approvals else []) if a.signed}
    refused = {r.approval.source: r for r in (new.approvals.refused if new.approvals else [])}
    rules = rules_of(("approvals",))
    signed_only = new.approvals is not None and new.approvals.signed_only
    stale = [a for src, a in before.items() if src not in after and src in refused
             and refused[src].rule == "APR-007"]
    if stale:
        why = list(dict.fromkeys(c.reason for c in changes if c.direction != "neutral"))
        cause = ", ".join(why[:3]) + (" …" if len(why) > 3 else "") if why else \
            "its approval digest changed"
        n = len(stale)
        which = f"{n} approvals no longer cover" if n > 1 else "1 approval no longer covers"
        yield Change(path="approvals (signed)", stage=None, kind="changed",
                     old=[a.label for a in before.values()],
                     new=[a.label for a in after.values()],
                     direction="loosens" if signed_only else "review", rules=rules,
                     reason=f"{which} this spec: {cause} (approvers sign again: "
                     "lifecycle approve)")
    for src, a in before.items():
        if src in after or a in stale:
            continue
        r = refused.get(src)
        reason = f"approval no longer counts ({r.rule}: {r.reason})" if r else "approval removed"
        yield Change(path=f"approvals[{a.label}]", stage=None, kind="removed", old=a.label,
                     new=None, direction="loosens", reason=reason, rules=rules)
    for src, a in after.items():
        if src not in before:
            yield Change(path=f"approvals[{a.label}]", stage=None, kind="added", old=None,
                         new=a.label, direction="tightens", reason="signed approval added",
                         rules=rules)
        elif before[src].digest != a.digest or before[src].expires != a.expires:
            yield Change(path=f"approvals[{a.label}]", stage=None, kind="changed",
                         old=str(before[src].expires or "no expiry"),
                         new=str(a.expires or "no expiry"), direction="tightens",
                         reason="approval signed again for this change", rules=rules)
def _judging_changes(old: Plan, new: Plan, locate: Locate | None) -> Iterator[Change]:
    """A step that could judge its gates in the time it holds (max_hold, when an
    inconclusive step extends) and no longer can, at the spec's stated traffic: the
    rollout would then pass or pause on no evidence (docs/serve.md)."""
    def steps(plan: Plan) -> list[StepJudgement]:
        stage = next((s for s in plan.stages if s.kind == "rollout"), None)
        if stage is None:
            return []
        monitors = next((s.monitors for s in plan.stages if s.kind == "monitor"), [])
        return judging(stage, stage.traffic or DEFAULT_TRAFFIC, monitors)

    before = {j.step: j for j in steps(old)}
    for j in steps(new):
        was = before.get(j.step)
        if j.in_time or (was is not None and not was.in_time) or j.seconds is None:
            continue
        key: RealPath = ("serve", "rollout", "steps", j.step)
        yield Change(
            path=f"serve.rollout.steps[{j.step}]", stage="rollout", kind="changed",
            old=None if was is None or was.seconds is None else round(was.seconds),
            new=round(j.seconds) if j.seconds != float("inf") else None,
            direction="loosens",
            reason=f"step {j.step + 1} cannot judge its gates in time: {j.slowest} needs "
                   f"~{j.seconds / 60:.0f} min, the step holds {j.limit / 60:.0f} min",
            where=locate(key) if locate is not None else None)
