"""Ordering stages and hashing them as a Merkle DAG: a stage's hash covers its own
inputs and the hashes of what it depends on, so a change upstream marks everything
downstream as changed (what will retrain, what will redeploy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from .canonical import content_hash

S = TypeVar("S")


def topological_order(stages: Sequence[Any]) -> list[Any]:
    by_id = {s.id: s for s in stages}
    for s in stages:
        for dep in s.depends_on:
            if dep not in by_id:
                raise ValueError(f"stage {s.id} depends on unknown stage {dep}")
    order: list[Any] = []
    state: dict[str, int] = {}

    def visit(sid: str, trail: tuple[str, ...]) -> None:
        if state.get(sid) == 2:
            return
        if state.get(sid) == 1:
            raise ValueError("stage cycle: " + " -> ".join(trail + (sid,)))
        state[sid] = 1
        for dep in by_id[sid].depends_on:
            visit(dep, trail + (sid,))
        state[sid] = 2
        order.append(by_id[sid])

    for s in stages:
        visit(s.id, ())
    return order


def with_hashes(stages: Sequence[Any]) -> list[Any]:
    """Stages in order, each with content_hash filled."""
    done: dict[str, str] = {}
    out = []
    for s in topological_order(stages):
        body = s.model_dump(mode="json", exclude={"content_hash"})
        body["_deps"] = {d: done[d] for d in sorted(s.depends_on)}
        h = content_hash(body)
        done[s.id] = h
        out.append(s.model_copy(update={"content_hash": h}))
    return out
