"""docs/spec.md, generated from the spec models' field descriptions (a test keeps the
committed file in sync: `python -m lifecycle.render.spec_docs > docs/spec.md`)."""

from __future__ import annotations

import types
import typing
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ..spec import Spec

HEADER = """# The spec language

A lifecycle spec is one YAML file (Hydra-composed: a `defaults:` list can pull presets from
`conf/` and from a `conf/` folder next to the spec). Unknown keys are errors. This page is
generated from the models in `lifecycle/spec/` (`python -m lifecycle.render.spec_docs`); a
test fails when it is out of date. Editors get completion and checking from
`lifecycle schema -o docs/spec.schema.json` and the first line
`# yaml-language-server: $schema=../docs/spec.schema.json`.

Durations are seconds, or a number with a unit: `500ms`, `30s`, `10m`, `2h`, `1d`, `1w`
(`10m` and `600` are the same value, and `lifecycle diff` treats them so).

"""


def _type_name(ann: Any) -> str:
    origin = get_origin(ann)
    if ann is type(None):
        return "null"
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return f"[{ann.__name__}](#{ann.__name__.lower()})"
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in get_args(ann))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(ann))
    if origin is typing.Annotated:
        return _type_name(get_args(ann)[0])
    if origin in (list, tuple):
        args = [a for a in get_args(ann) if a is not Ellipsis]
        inner = ", ".join(_type_name(a) for a in args) if args else "any"
        return f"list of {inner}" if origin is list else f"[{inner}]"
    if origin is dict:
        k, v = get_args(ann)
        return f"map of {_type_name(k)} → {_type_name(v)}"
    if isinstance(ann, type):
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean",
                "date": "date (YYYY-MM-DD)"}.get(ann.__name__, ann.__name__)
    return str(ann).replace("typing.", "")


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):  # a section whose own defaults apply
            return "its defaults"
        return f"`{value!r}`" if value not in ({}, []) else "empty"
    if field.default is PydanticUndefined or field.default is None:
        return "—"
    return f"`{field.default!r}`"


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []

    def walk(ann: Any) -> None:
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            if ann not in seen:
                seen.append(ann)
                for f in ann.model_fields.values():
                    walk(f.annotation)
            return
        for a in get_args(ann):
            walk(a)

    walk(root)
    return seen


def generate() -> str:
    out = [HEADER]
    for model in _models(Spec):
        doc = (model.__doc__ or "").strip().splitlines()
        out.append(f"## {model.__name__}\n")
        if doc and not doc[0].startswith("Usage docs"):
            out.append(doc[0] + "\n")
        out.append("| key | type | default | description |\n| --- | --- | --- | --- |")
        for name, field in model.model_fields.items():
            desc = (field.description or "").replace("|", "\\|")
            kind = _type_name(field.annotation)
            out.append(f"| `{name}` | {kind} | {_default(field)} | {desc} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(generate(), end="")
