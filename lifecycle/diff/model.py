"""What `lifecycle diff` reports: per spec, the changes between two fully composed specs
and their plans, each classified by what it does to risk. Versioned JSON (schema in
docs/diff.schema.json); renderers in lifecycle.render read only these models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

DIFF_SCHEMA_VERSION = 1

Direction = Literal["loosens", "tightens", "review", "neutral"]
DIRECTIONS: tuple[Direction, ...] = ("loosens", "tightens", "review", "neutral")


class DiffModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Where(DiffModel):
    """Where the changed value is written (new side; the old side for removals)."""

    file: str | None = Field(None, description="File, relative to where diff ran.")
    line: int | None = Field(None, description="1-based line.")
    column: int | None = Field(None, description="1-based column.")
    origin: str | None = Field(None, description="Preset or override, when not a file line.")


class Change(DiffModel):
    path: str = Field(description="Key path in the resolved spec (list items by their name, "
                      "e.g. monitors[input-drift].p_val).")
    stage: str | None = Field(description="Plan stage the key feeds (None: governance only).")
    kind: Literal["added", "removed", "changed"]
    old: JsonValue = Field(None, description="Value before (None when added).")
    new: JsonValue = Field(None, description="Value after (None when removed).")
    direction: Direction = Field(description="loosens / tightens what a policy or gate "
                                 "cares about; review: risk-relevant, no direction; neutral.")
    reason: str = Field(description="What the change means, e.g. 'gate threshold lowered'.")
    rules: list[str] = Field(default_factory=list, description="Policy rules that read it.")
    where: Where | None = None


class RuleChange(DiffModel):
    rule: str
    old: str | None = Field(description="pass / fail / waived / not_applicable; None: absent.")
    new: str | None
    direction: Direction
    message: str


class StageChange(DiffModel):
    stage: str
    kind: Literal["added", "removed", "changed"]
    old_hash: str | None
    new_hash: str | None
    effect: str = Field(description="What running the plan redoes, e.g. 'retrains'.")


# --- cost (the plans' estimates, like Infracost on a pull request; docs/cost.md) -----

class CostDelta(DiffModel):
    """One priced item of the plan (training, tuning, model replicas, router, monitors),
    before and after; low/high are the minimum and maximum (replicas) of a month served."""

    item: str
    stage: str
    per: Literal["run", "month"]
    old_low: float | None = Field(description="Before (None: the item is new).")
    old_high: float | None
    new_low: float | None = Field(description="After (None: the item is gone).")
    new_high: float | None
    delta_low: float = Field(description="new_low - old_low (a missing side counts 0).")
    delta_high: float = Field(description="new_high - old_high (a missing side counts 0).")


class CostTotal(DiffModel):
    old: float | None = Field(description="Before (None: not priced).")
    new: float | None = Field(description="After (None: not priced).")
    delta: float = Field(description="new - old (a missing side counts 0).")


class CostDiff(DiffModel):
    currency: str = Field(description="The price table's currency (new side).")
    price_table: str = Field(description="The price table the new side was priced with.")
    repriced: bool = Field(description="The price table itself changed between the sides.")
    items: list[CostDelta] = Field(description="The items whose price changed.")
    training: CostTotal = Field(description="One run of training or tuning.")
    monthly_serving_min: CostTotal = Field(description="A month served at min replicas.")
    monthly_serving_max: CostTotal = Field(description="A month served at max replicas.")


# ---


class SpecDiff(DiffModel):
    name: str = Field(description="The spec's name (the new side's, unless removed).")
    path: str = Field(description="The spec file (or plan) on the new side.")
    old_path: str | None = None
    status: Literal["added", "removed", "changed", "unchanged"]
    risk_tier: str | None = None
    changes: list[Change] = Field(default_factory=list)
    rules: list[RuleChange] = Field(default_factory=list)
    stages: list[StageChange] = Field(default_factory=list)
    cost: CostDiff | None = Field(None, description="What the change does to the plan's "
                                  "estimated cost (None: no price changed).")

    def count(self, direction: Direction) -> int:
        return (sum(c.direction == direction for c in self.changes)
                + sum(r.direction == direction for r in self.rules))


class DiffReport(DiffModel):
    schema_version: int = Field(DIFF_SCHEMA_VERSION, description="Diff format version.")
    base: str = Field(description="What the old side is (a file, or a git revision).")
    head: str = Field(description="What the new side is (a file, or 'working tree').")
    specs: list[SpecDiff] = Field(description="One entry per spec that changed.")
    counts: dict[str, int] = Field(default_factory=dict,
                                   description="Changes per direction, over all specs.")

    @property
    def loosened(self) -> bool:
        return self.counts.get("loosens", 0) > 0


def report(base: str, head: str, specs: list[SpecDiff]) -> DiffReport:
    changed = [s for s in specs if s.status != "unchanged"]
    counts = {d: sum(s.count(d) for s in changed) for d in DIRECTIONS}
    return DiffReport(base=base, head=head, specs=changed, counts=counts)
