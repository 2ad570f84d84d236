"""Package attributes imported on first use (PEP 562), so that importing a package for one
light module (`lifecycle validate` answered from its cache needs the console and the
problem renderer, not the diff or the plan models) does not import all of its modules."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def exports(package: str, where: dict[str, str]) -> Callable[[str], object]:
    """A module __getattr__ for `package`: name -> the submodule ('.console') defining it."""

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, package), name)

    return __getattr__
