"""Request bodies checked against the data contract, and sticky assignment by key. Pure
Python (no Ray), so it is unit-tested directly; the router calls it on every request."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any, TypeVar

from ..contract import LabelItem

MAX_ROWS = 10_000


class BadRequest(ValueError):
    """A request the caller must fix: answered 400 with this message and hint."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def rows_of(body: Any, features: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of a request: `{"rows": [{...}, ...]}`, `[{...}, ...]` or one `{...}`.
    Every contract feature must be present with a value of its type."""
    if isinstance(body, dict) and "rows" in body:
        rows = body["rows"]
    elif isinstance(body, list):
        rows = body
    elif isinstance(body, dict):
        rows = [body]
    else:
        raise BadRequest("the body must be a JSON object or a list of objects",
                         'send {"rows": [{"feature": value, ...}]}')
    if not isinstance(rows, list) or not rows:
        raise BadRequest("'rows' must be a non-empty list of objects",
                         'send {"rows": [{"feature": value, ...}]}')
    if len(rows) > MAX_ROWS:
        raise BadRequest(f"{len(rows)} rows in one request; at most {MAX_ROWS}",
                         "split the request")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise BadRequest(f"row {i} is not an object", "each row maps feature names to values")
        for name, spec in features.items():
            if name not in row or row[name] is None:
                raise BadRequest(f"row {i}: missing feature '{name}'",
                                 f"every row needs: {', '.join(features)}")
            _check_value(i, name, row[name], spec)
    return rows


def _check_value(i: int, name: str, value: Any, spec: dict[str, Any]) -> None:
    kind = spec.get("type")
    if kind in ("float", "int"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise BadRequest(f"row {i}: '{name}' must be a finite number, got {value!r}",
                             f"send '{name}' as a JSON number")
        if kind == "int" and float(value) != int(value):
            raise BadRequest(f"row {i}: '{name}' must be a whole number, got {value!r}",
                             f"send '{name}' as an integer")
        low, high = spec.get("min"), spec.get("max")
        if low is not None and value < low:
            raise BadRequest(f"row {i}: '{name}' is {value!r}, below the contract's min "
                             f"{low:g}", f"send '{name}' >= {low:g} (the data contract's "
                             "range: the model never saw such values)")
        if high is not None and value > high:
            raise BadRequest(f"row {i}: '{name}' is {value!r}, above the contract's max "
                             f"{high:g}", f"send '{name}' <= {high:g} (the data contract's "
                             "range: the model never saw such values)")
    elif kind == "category":
        allowed = spec.get("categories")
        if allowed is not None and value not in allowed:
            raise BadRequest(f"row {i}: '{name}' is {value!r}, not one of {allowed}",
                             f"send one of {', '.join(map(str, allowed))}")
    elif kind == "bool" and not isinstance(value, bool):
        raise BadRequest(f"row {i}: '{name}' must be true or false, got {value!r}",
                         f"send '{name}' as a JSON boolean")
    elif kind == "string" and not isinstance(value, str):
        raise BadRequest(f"row {i}: '{name}' must be a string, got {value!r}",
                         f"send '{name}' as a JSON string")


def bucket(key: str) -> float:
    """A key's fixed place in [0, 100): the same key always lands in the same place, on
    every router replica and after restarts."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64 * 100.0


S = TypeVar("S", bound=str)


def choose(weights: Mapping[S, float], point: float) -> S:
    """The slot whose share of [0, 100) holds `point`. The candidate's share comes first,
    so widening a canary only moves keys from stable to candidate, never back."""
    order = sorted(weights, key=lambda s: (s != "candidate", s))
    total = sum(max(w, 0.0) for w in weights.values()) or 1.0
    edge = 0.0
    for slot in order:
        edge += max(weights[slot], 0.0) / total * 100.0
        if point < edge:
            return slot
    return next(s for s in reversed(order) if weights[s] > 0) if any(
        w > 0 for w in weights.values()) else order[-1]


def sticky_value(body: Any, header: str | None, field: str | None) -> str | None:
    if header:
        return header
    if field is None:
        return None
    if isinstance(body, dict):
        if field in body and body[field] is not None:
            return str(body[field])
        rows = body.get("rows")
        if isinstance(rows, list) and rows and isinstance(rows[0], dict) \
                and rows[0].get(field) is not None:
            return str(rows[0][field])
    return None


def shadow_room(capacity: int | None, real_in_flight: int, copies_in_flight: int,
                max_queued: int, app_capacity: int | None = None,
                app_in_flight: int = 0) -> bool:
    """Whether one more shadow copy may go to the target now. Shadow yields to real
    traffic:
    - at most `max_queued` copies are in flight;
    - copies use only the target's spare slots: its own callers' requests in flight, the
      copies in flight and a reserve (a quarter of its capacity, at least one slot) must
      fit in `capacity`, so a copy never takes a slot a real request is about to need;
    - no copies while the application is saturated: the callers' requests in flight over
      all slots and the copies must fit in `app_capacity` (once callers queue for a slot,
      a copy's work only delays them).
    Without a known capacity only `max_queued` limits."""
    if copies_in_flight >= max_queued:
        return False
    if app_capacity is not None and app_in_flight + copies_in_flight + 1 > app_capacity:
        return False
    if capacity is None:
        return True
    reserve = max(1, capacity // 4)
    return real_in_flight + copies_in_flight + 1 + reserve <= capacity


MAX_LABELS = 10_000
LABELS_HINT = '{"labels": [{"request_id": "<X-Request-Id of the answer>", "label": 1}]}'


def labels_of(body: Any) -> list[LabelItem]:
    """The labels of a feedback post, each checked: a malformed item is a 400 that names
    it and says what it needs."""
    items = body.get("labels") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise BadRequest("the body must hold a non-empty list 'labels'", LABELS_HINT)
    if len(items) > MAX_LABELS:
        raise BadRequest(f"{len(items)} labels in one post; at most {MAX_LABELS}",
                         "split the post, or use `lifecycle feedback SPEC labels.parquet`")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadRequest(f"labels[{i}] is not an object", LABELS_HINT)
        extra = sorted(set(item) - {"request_id", "label", "row"})
        if extra:
            raise BadRequest(f"labels[{i}]: unknown key '{extra[0]}'",
                             "each label has request_id, label and (optionally) row")
        rid = item.get("request_id")
        if not isinstance(rid, str) or not rid or len(rid) > 200:
            raise BadRequest(f"labels[{i}]: request_id must be the answer's X-Request-Id "
                             "(a non-empty string)", LABELS_HINT)
        label = item.get("label")
        if isinstance(label, bool):
            label = int(label)
        if not isinstance(label, (int, float)) or not math.isfinite(label):
            raise BadRequest(f"labels[{i}]: label must be a number (the class, or the "
                             f"value), got {label!r}", LABELS_HINT)
        row = item.get("row", 0)
        if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row <= MAX_ROWS:
            raise BadRequest(f"labels[{i}]: row must be the row's place in the request "
                             f"(0 to {MAX_ROWS}), got {row!r}", "leave row out for the first")
        out.append(LabelItem.model_construct(request_id=rid, label=label, row=row))
    return out
