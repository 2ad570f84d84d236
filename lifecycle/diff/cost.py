"""The cost change between two plans, item by item and in total, from the estimates the
plans carry (each priced with the price table of its own side)."""

from __future__ import annotations

from ..plan import CostEstimate, CostLine, Plan
from .model import CostDelta, CostDiff, CostTotal


def _lines(cost: CostEstimate | None) -> dict[str, CostLine]:
    return {} if cost is None else {line.item: line for line in cost.lines}


def _minus(new: float | None, old: float | None) -> float:
    return round((new or 0.0) - (old or 0.0), 4)


def _total(old: CostEstimate | None, new: CostEstimate | None, field: str) -> CostTotal:
    a = None if old is None else float(getattr(old, field))
    b = None if new is None else float(getattr(new, field))
    return CostTotal(old=a, new=b, delta=_minus(b, a))


def cost_diff(old: Plan | None, new: Plan | None) -> CostDiff | None:
    """None when neither side is priced, or no price changed."""
    a, b = (old.cost if old else None), (new.cost if new else None)
    if a is None and b is None:
        return None
    before, after = _lines(a), _lines(b)
    items = []
    for item in [*after, *(i for i in before if i not in after)]:
        x, y = before.get(item), after.get(item)
        if x is not None and y is not None and (x.low, x.high) == (y.low, y.high):
            continue
        ref = y or x
        assert ref is not None
        old_low, old_high = (x.low, x.high) if x else (None, None)
        new_low, new_high = (y.low, y.high) if y else (None, None)
        items.append(CostDelta(item=item, stage=ref.stage, per=ref.per, old_low=old_low,
                               old_high=old_high, new_low=new_low, new_high=new_high,
                               delta_low=_minus(new_low, old_low),
                               delta_high=_minus(new_high, old_high)))
    if not items:
        return None
    priced = b or a
    assert priced is not None
    return CostDiff(currency=priced.currency, price_table=priced.price_table,
                    repriced=a is not None and b is not None
                    and a.price_table_hash != b.price_table_hash,
                    items=items, training=_total(a, b, "training"),
                    monthly_serving_min=_total(a, b, "monthly_serving_min"),
                    monthly_serving_max=_total(a, b, "monthly_serving_max"))
