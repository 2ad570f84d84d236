"""Shared building blocks of the spec language: the strict base model and the
constrained scalar types every section uses."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

PATTERN_WORDS: dict[str, tuple[str, str]] = {}
"""Every string pattern of the spec language, said in words: (what is expected, an example).
Errors show these, never the regular expression; a unit test checks every pattern has them."""


def pattern(regex: str, expected: str, example: str) -> str:
    """Register how `regex` is said to a person; returns the regex for Field(pattern=...)."""
    PATTERN_WORDS[regex] = (expected, example)
    return regex


_DURATION = re.compile(pattern(
    r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$",
    "a duration: seconds, or a number with a unit (ms, s, m, h, d, w)", "10m"))
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: Any) -> Any:
    """'10m' -> 600.0 seconds; plain numbers are seconds. Equivalent spellings
    ('10m', '600s', 600) give the same value, so a diff does not report them."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '30s', '10m', '2h' or '1d'")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    raise ValueError(f"expected a duration such as '30s', '10m', '2h' or '1d', got {value!r}")


def format_duration(seconds: float) -> str:
    """600.0 -> '10m': the largest unit that divides the value, as a person writes it."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _seconds(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(_seconds, return_type=float),
    WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0},
                              {"type": "string", "pattern": _DURATION.pattern}],
                    "description": "seconds, or a number with a unit: ms, s, m, h, d, w"}),
]
"""Seconds; written as a number or a string with a unit (ms, s, m, h, d, w)."""

Slug = Annotated[str, Field(pattern=pattern(
    r"^[a-z][a-z0-9-]{0,62}$", "lowercase letters, digits and dashes, starting with a letter "
    "(at most 63)", "fraud-detector"), min_length=1, max_length=63)]
Identifier = Annotated[str, Field(pattern=pattern(
    r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$", "letters, digits, '_', '.' and '-', starting with a "
    "letter or '_' (at most 128; no spaces)", "model-risk"))]
Email = Annotated[str, Field(pattern=pattern(
    r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "an email address", "risk-ml@example.com"),
    max_length=254)]
Probability = Annotated[float, Field(gt=0.0, lt=1.0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Percent = Annotated[float, Field(ge=0.0, le=100.0)]


class SpecModel(BaseModel):
    """Base of every spec section: unknown keys are errors, values are checked
    strictly enough that a typo never silently becomes a default."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True,
                              use_attribute_docstrings=False)
