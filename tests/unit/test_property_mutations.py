"""Property: no mutation of a valid spec ever produces a traceback; every outcome is
either a clean validation or problems that each carry a code and a location."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lifecycle.api import validate_one

from ..conftest import ROOT

BASE = yaml.safe_load((ROOT / "specs" / "fraud.yaml").read_text())
RAW = (ROOT / "specs" / "fraud.yaml").read_text()

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
                    st.sampled_from(["${name}", "${nope}", "${oc.env:HOME}", "???", "10m",
                                     "-1", "1e400", "secret://x", "AKIAABCDEFGHIJKLMNOP"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, prefix + (k,)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, prefix + (i,)))
    return out


PATHS = _paths(BASE)


def _mutate(doc: dict[str, Any], path: tuple[Any, ...], op: str, value: Any) -> None:
    parent: Any = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if op == "delete":
        del parent[last]
    elif op == "replace":
        parent[last] = value
    elif op == "add" and isinstance(parent, dict):
        parent[f"{last}_x"] = value
    elif op == "wrap":
        parent[last] = [parent[last]]


def _check(result: Any) -> None:
    for p in result.problems:
        assert p.code and p.message
        assert p.location.file is not None or p.location.origin is not None, p


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.sampled_from(PATHS),
                                st.sampled_from(["delete", "replace", "add", "wrap"]), values),
                      min_size=1, max_size=3))
@example(steps=[(("train", "config", "lr"), "replace", "1e400")])  # overflows to inf
@example(steps=[(("evaluate", "gates", 0, "min"), "replace", float("nan"))])
def test_structural_mutations_never_raise(steps: list[tuple[tuple[Any, ...], str, Any]]) -> None:
    doc = copy.deepcopy(BASE)
    for path, op, value in steps:
        try:
            _mutate(doc, path, op, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier step removed or reshaped the parent
    with tempfile.TemporaryDirectory() as d:
        spec = Path(d) / "fraud.yaml"
        spec.write_text(yaml.safe_dump(doc, allow_unicode=True))
        _check(validate_one(spec))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pos=st.integers(0, len(RAW)), junk=st.lists(st.sampled_from(
    list(":-[]{}&*!|>'\"%@`#,? \n\t") + ["\x00", "${", "<<: *a", "\ufeff", "&a ", "*a"]),
    max_size=6).map("".join), cut=st.integers(0, 5))
@example(pos=0, junk=":[", cut=0)  # a top-level key that looks like a pydantic union tag
def test_text_mutations_never_raise(pos: int, junk: str, cut: int) -> None:
    text = RAW[:pos] + junk + RAW[pos + cut:]
    with tempfile.TemporaryDirectory() as d:
        spec = Path(d) / "fraud.yaml"
        spec.write_text(text, encoding="utf-8")
        _check(validate_one(spec))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(["train.scaling.num_workers", "serve.rollout.steps.0.weight",
                            "name", "monitors.0.window", "tune.search_space", "data"]),
       value=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12))
def test_override_values_never_raise(key: str, value: str) -> None:
    _check(validate_one(ROOT / "specs" / "fraud.yaml", [f"{key}={value}"]))
