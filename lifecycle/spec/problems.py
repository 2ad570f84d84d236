"""Turning pydantic validation errors and cross-field checks into findings that name
the key path, what was expected and how to fix it (with "did you mean")."""

from __future__ import annotations

import difflib
import math
import re
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class SpecFinding:
    key_path: KeyPath
    code: str
    message: str
    hint: str | None = None
    severity: Literal["error", "warning"] = "error"


def did_you_mean(name: str, options: typing.Iterable[str]) -> str | None:
    near = difflib.get_close_matches(str(name), list(options), n=1, cutoff=0.6)
    return near[0] if near else None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Every BaseModel class reachable in a type annotation (Optional, list, dict, Union)."""
    out: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    for arg in get_args(annotation):
        out.extend(_models_in(arg))
    return out


def model_at(root: type[BaseModel], path: KeyPath) -> type[BaseModel] | None:
    """The model class that holds the mapping at `path` (list indices and dict keys of
    typed containers are stepped over)."""
    current: list[type[BaseModel]] = [root]
    i = 0
    while i < len(path):
        part = path[i]
        if isinstance(part, int):
            i += 1
            continue
        nxt: list[type[BaseModel]] = []
        for model in current:
            field = model.model_fields.get(str(part))
            if field is None:
                continue
            ann = field.annotation
            origin = get_origin(ann)
            # dict[str, Model]: the next path part is a free key
            is_dict = origin is dict or any(get_origin(a) is dict for a in get_args(ann))
            found = _models_in(ann)
            nxt.extend(found)
            if is_dict and found and i + 1 < len(path):
                i += 1
        if not nxt:
            return None
        current = nxt
        i += 1
    return current[0] if current else None


def _expected_literals(ctx: dict[str, Any] | None) -> list[str]:
    if not ctx or "expected" not in ctx:
        return []
    return re.findall(r"'([^']*)'", str(ctx["expected"]))


def from_validation_error(root: type[BaseModel], exc: ValidationError,
                          data: Any) -> list[SpecFinding]:
    findings: list[SpecFinding] = []
    seen: set[tuple[KeyPath, str]] = set()
    for err in exc.errors(include_url=False):
        loc = _data_loc(err["loc"], data)
        kind = err["type"]
        msg = err["msg"]
        value = err.get("input")
        hint: str | None = None
        if kind == "extra_forbidden":
            code = "schema.unknown-key"
            parent = model_at(root, loc[:-1])
            options = list(parent.model_fields) if parent else []
            near = did_you_mean(str(loc[-1]), options)
            message = f"unknown key '{loc[-1]}'"
            hint = f"did you mean '{near}'?" if near else (
                f"allowed keys: {', '.join(options)}" if options else "remove it")
        elif kind == "missing":
            code = "schema.missing-key"
            parent = model_at(root, loc[:-1])
            field = parent.model_fields.get(str(loc[-1])) if parent else None
            desc = f" ({field.description})" if field and field.description else ""
            message = f"required key '{loc[-1]}' is missing{desc}"
            hint = f"add '{loc[-1]}:' here"
        elif kind in ("literal_error", "enum"):
            code = "schema.invalid-choice"
            options = _expected_literals(err.get("ctx"))
            near = did_you_mean(str(value), options)
            message = f"{value!r} is not one of: {', '.join(options)}"
            hint = f"did you mean '{near}'?" if near else None
        elif kind == "value_error":
            code = "schema.rule"
            message = msg.removeprefix("Value error, ")
        elif kind == "string_pattern_mismatch":
            code = "schema.out-of-range"
            message, hint = _pattern_words(str((err.get("ctx") or {}).get("pattern", "")),
                                           value)
        elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal",
                      "too_short", "too_long", "string_too_short", "string_too_long",
                      "multiple_of"):
            code = "schema.out-of-range"
            message = f"{msg} (got {_short(value)})"
        else:
            code = "schema.wrong-type"
            message = f"{msg} (got {_short(value)})"
        key = (loc, code)
        if key in seen:
            continue
        seen.add(key)
        findings.append(SpecFinding(loc, code, message, hint))
    # a union of "literal or list" reports one error per branch: keep the most specific
    return _collapse_union_noise(findings)


def _pattern_words(regex: str, value: Any) -> tuple[str, str | None]:
    """A pattern mismatch said in words (base.PATTERN_WORDS), never as the regex."""
    from .base import PATTERN_WORDS

    words = PATTERN_WORDS.get(regex)
    if words is None:
        return f"{_short(value)} does not have the expected form", None
    expected, example = words
    return f"expected {expected} (got {_short(value)})", f"for example: {example}"


def _is_union_tag(part: Any) -> bool:
    """pydantic inserts the branch name into loc for unions ('list[str]', 'literal[...]')."""
    return isinstance(part, str) and ("[" in part or part in ("str", "int", "float", "bool",
                                                             "function-after", "function-plain"))


def _data_loc(raw: tuple[Any, ...], data: Any) -> KeyPath:
    """pydantic's loc with union branch names dropped; a part that is a key of the data at
    that point is always kept, so a user key that merely looks like a tag ('a[b') stays."""
    out: list[str | int] = []
    node = data
    for part in raw:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif _is_union_tag(part):
            continue
        else:
            node = None
        out.append(part)
    return tuple(out)


def _collapse_union_noise(findings: list[SpecFinding]) -> list[SpecFinding]:
    by_path: dict[KeyPath, list[SpecFinding]] = {}
    for f in findings:
        by_path.setdefault(f.key_path, []).append(f)
    out: list[SpecFinding] = []
    for group in by_path.values():
        if len(group) > 1 and any(g.code == "schema.invalid-choice" for g in group):
            group = [g for g in group if g.code != "schema.wrong-type"] or group
        out.extend(group)
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


Check = Callable[[Any], Iterator[SpecFinding]]
CHECKS: list[Check] = []


def check(fn: Check) -> Check:
    """Register one cross-field rule: a small function that yields its own finding."""
    CHECKS.append(fn)
    return fn



def non_finite_numbers(data: Any, path: KeyPath = ()) -> Iterator[SpecFinding]:
    """inf and nan anywhere in a spec (YAML `.inf`, or `1e400` which overflows): a plan
    is canonical JSON, which has neither, and no threshold or hyperparameter needs them."""
    if isinstance(data, float) and not math.isfinite(data):
        yield SpecFinding(path, "schema.non-finite", f"{data!r} is not a finite number",
                          "write a finite number (YAML `.inf`/`.nan` and numbers beyond "
                          "±1.8e308 are not allowed)")
    elif isinstance(data, dict):
        for k, v in data.items():
            yield from non_finite_numbers(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from non_finite_numbers(v, (*path, i))
