"""The CEL engine (common-expression-language, Rust). Its package __init__ also imports
its interactive shell (prompt_toolkit), which costs ~250 ms at every `lifecycle validate`:
load the compiled extension module on its own instead, falling back to the package."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def _load() -> ModuleType:
    existing = sys.modules.get("cel.cel")
    if existing is not None:
        return existing
    spec = importlib.util.find_spec("cel")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = Path(folder) / f"cel{suffix}"
            if path.is_file():
                loader = importlib.machinery.ExtensionFileLoader("cel.cel", str(path))
                mspec = importlib.util.spec_from_file_location("cel.cel", path, loader=loader)
                if mspec is None:
                    continue
                module = importlib.util.module_from_spec(mspec)
                loader.exec_module(module)
                sys.modules["cel.cel"] = module
                return module
    import cel  # pragma: no cover - layout changed upstream; slower but correct

    return cel


cel = _load()
Context = cel.Context
compile = cel.compile
