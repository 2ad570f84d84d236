"""The platform's price table (`conf/cost/<name>.yaml`), read like the policy bundles:
from the platform's folders only (LIFECYCLE_COST_PATH entries first, then conf/cost),
never from a spec's own conf/, so a spec cannot price itself cheaper. Cost rules
(`max_training_cost`, `max_monthly_serving_cost`) read the figures priced with it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import InputError, Location
from ..plan import PriceTable

DEFAULT_TABLE = "default"


@dataclass(frozen=True)
class LoadedPriceTable:
    table: PriceTable
    path: Path


def _error(path: Path | None, code: str, message: str, hint: str) -> InputError:
    loc = Location(file=str(path) if path else None, origin=None if path else "price table")
    return InputError.one(code, message, loc, "", hint)


_TABLES: dict[tuple[Any, ...], LoadedPriceTable] = {}


def load_price_table(dirs: list[Path], name: str = DEFAULT_TABLE) -> LoadedPriceTable:
    """The first `<name>.yaml` in `dirs`. Memoised on the file's mtime and size
    (validate prices every spec)."""
    path = next((d / f"{name}.yaml" for d in dirs if (d / f"{name}.yaml").is_file()), None)
    if path is None:
        raise _error(None, "policy.price-table", f"no price table '{name}.yaml' in "
                     + (", ".join(str(d) for d in dirs) or "(no folders)"),
                     "the platform's conf/cost/ ships default.yaml; restore it, or point "
                     "LIFECYCLE_COST_PATH at a folder holding your own (docs/cost.md)")
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    cached = _TABLES.get(key)
    if cached is None:
        cached = LoadedPriceTable(_read(path, name), path)
        _TABLES[key] = cached
    return cached


def _read(path: Path, name: str) -> PriceTable:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"),
                         Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except yaml.YAMLError as exc:
        raise _error(path, "policy.price-table-yaml", f"invalid YAML in price table: {exc}",
                     "fix the file (docs/cost.md shows the format)") from None
    if isinstance(data, dict):
        data.setdefault("name", name)
    try:
        return PriceTable.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise _error(path, "policy.price-table-schema", f"invalid price table: {where}: "
                     f"{err['msg'].removeprefix('Value error, ')}",
                     "see docs/cost.md for the price table's format") from None
