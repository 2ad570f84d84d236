"""Rows (JSON requests) and tables (training data) -> the float32 matrix a detector reads,
encoded the same way on both sides so reference and live windows are comparable.

Numeric features are cast; category and bool features become an ordinal code (their
index in the category list, with one extra code for a value the list does not have) or
one 0/1 column per category (`onehot`). Ordinal codes are what alibi-detect's
ChiSquareDrift and TabularDrift expect (`categories_per_feature`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

NUMERIC = ("float", "int")


@dataclass(frozen=True)
class Encoder:
    features: list[str]  # watched features, in a fixed order
    types: dict[str, str]  # feature -> float | int | category | bool
    categories: dict[str, list[str]] = field(default_factory=dict)
    encoding: str = "ordinal"  # ordinal | onehot

    @classmethod
    def of(cls, watched: Iterable[str], info: dict[str, Any], encoding: str) -> Encoder:
        """From the data stage's `info` (feature types and categories)."""
        features = list(watched)
        types = {f: str(info["features"][f]) for f in features}
        cats = {f: [str(c) for c in info["categories"].get(f, [])]
                for f in features if types[f] not in NUMERIC}
        return cls(features, types, cats, encoding)

    def to_dict(self) -> dict[str, Any]:
        return {"features": self.features, "types": self.types,
                "categories": self.categories, "encoding": self.encoding}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Encoder:
        return cls(list(d["features"]), dict(d["types"]),
                   {k: list(v) for k, v in d["categories"].items()}, str(d["encoding"]))

    def is_categorical(self, feature: str) -> bool:
        return self.types[feature] not in NUMERIC

    @property
    def columns(self) -> list[str]:
        """The matrix's column names (one per category when one-hot)."""
        out: list[str] = []
        for f in self.features:
            if self.is_categorical(f) and self.encoding == "onehot":
                out.extend(f"{f}={c}" for c in self.categories[f] + ["<other>"])
            else:
                out.append(f)
        return out

    def categorical_columns(self) -> list[int]:
        """The ordinal categorical columns (for ChiSquareDrift/TabularDrift)."""
        if self.encoding == "onehot":
            return []
        return [i for i, f in enumerate(self.features) if self.is_categorical(f)]

    def column_of(self, feature: str, values: Iterable[Any]) -> np.ndarray:
        """One feature's values -> one column (or, one-hot, a block of columns)."""
        if not self.is_categorical(feature):  # numpy turns None into nan for floats
            return np.array(list(values), dtype=np.float32)[:, None]
        index = {c: i for i, c in enumerate(self.categories[feature])}
        other = len(index)
        codes = np.asarray([index.get(_category(v), other) for v in values], dtype=np.int64)
        if self.encoding == "onehot":
            return np.eye(other + 1, dtype=np.float32)[codes]
        return codes.astype(np.float32)[:, None]

    def rows(self, rows: list[dict[str, Any]]) -> np.ndarray:
        """JSON rows (already checked against the contract by the Router)."""
        if not rows:
            return np.zeros((0, len(self.columns)), dtype=np.float32)
        return np.hstack([self.column_of(f, (r.get(f) for r in rows)) for f in self.features])

    def columns_of(self, data: dict[str, list[Any]]) -> np.ndarray:
        """A column-wise mapping (`pyarrow.Table.to_pydict()` of the watched features)."""
        return np.hstack([self.column_of(f, data[f]) for f in self.features])


def _category(value: Any) -> str:
    # JSON true/false and Arrow booleans both become the strings feature_info lists
    return str(value)
