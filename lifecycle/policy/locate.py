"""Where a dotted name really comes from, read from source without running it.

The allow-lists for `_target_` and `train.entrypoint` are about which code runs, and a
name's prefix does not say that: `sklearn.utils.os.system` starts with `sklearn.` and is
`os.system`, reached through a module that sklearn imports. Asking Python
(`obj.__module__`) would import the module, running the user's and the libraries' code
at validate time, which must stay fast and free of side effects. So modules are found
with the import system's finders (which read no module code; a dotted module is looked
up in its parent's folders, never by importing the parent) and each module's top-level
names are read from its source with `ast`: a `def` or `class` is defined there, an
import or a `name = other.name` alias is followed to where it leads. What cannot be
followed without running code (a module `__getattr__`, a compiled module that is not
the end of the name, a name no statement binds) is reported as unresolved, so callers
can refuse it.
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_MAX_DEPTH = 64  # alias chains longer than this are cycles


class Unresolved(Exception):
    """The name's real origin cannot be read from source."""


class _Undefined(Unresolved):
    """Nothing binds the name (so a `from m import *` source may still)."""


@dataclass(frozen=True)
class _Module:
    name: str
    source: str | None  # the .py file, None for compiled, built-in and namespace modules
    search: tuple[str, ...] | None  # a package's folders, None for a plain module


@dataclass(frozen=True)
class _Binding:
    """How a module binds a top-level name: `defined` there, an `alias` of an absolute
    dotted name (an import), or a `reference` to a dotted name in the same module."""

    kind: str
    target: str = ""


@dataclass(frozen=True)
class _Bindings:
    names: dict[str, tuple[_Binding, ...]]
    star: tuple[str, ...]  # modules imported with `from m import *`, in order
    dynamic: bool  # the module defines __getattr__


def _module(spec: importlib.machinery.ModuleSpec | None, name: str) -> _Module | None:
    if spec is None:
        return None
    search = tuple(spec.submodule_search_locations or ()) or None
    origin = spec.origin if spec.has_location and spec.origin else None
    source = origin if origin is not None and origin.endswith(".py") else None
    return _Module(name, source, search)


@lru_cache(maxsize=1024)
def _find(name: str, root: str) -> _Module | None:
    """The module `name` as `import name` would find it from the project root `root`,
    without importing it or its parents."""
    head, _, rest = name.rpartition(".")
    if not head:
        found = importlib.machinery.PathFinder.find_spec(rest, [root, *sys.path])
        if found is None:
            try:
                found = importlib.util.find_spec(rest)  # built-in, frozen, installed finders
            except (ImportError, ValueError):
                found = None
        return _module(found, name)
    parent = _find(head, root)
    if parent is None or parent.search is None:
        return None
    return _module(importlib.machinery.PathFinder.find_spec(name, list(parent.search)), name)


def find_module(name: str, root: Path | None = None) -> bool:
    """Whether `import name` would find a module, from the project root (default: cwd)."""
    return _find(name, str(root or Path.cwd())) is not None


def _is_special(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (_dotted(test) or "").endswith("TYPE_CHECKING")


def _statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Top-level statements, including those under if/try/with (any branch may run),
    but not the `if TYPE_CHECKING:` branch, which never does."""
    out: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                out.extend(_statements(node.body))
            out.extend(_statements(node.orelse))
        elif isinstance(node, ast.Try | ast.TryStar):
            out.extend(_statements(node.body))
            for handler in node.handlers:
                out.extend(_statements(handler.body))
            out.extend(_statements(node.orelse) + _statements(node.finalbody))
        elif isinstance(node, ast.With):
            out.extend(_statements(node.body))
        else:
            out.append(node)
    return out


def _package_of(module: _Module, level: int) -> str:
    parts = module.name.split(".")
    if module.search is None:  # a plain module's relative imports start at its package
        parts = parts[:-1]
    return ".".join(parts[:len(parts) - (level - 1)] if level > 1 else parts)


@lru_cache(maxsize=1024)
def _bindings(module: _Module, stamp: int) -> _Bindings:
    del stamp  # part of the cache key: a changed file is read again
    assert module.source is not None
    tree = ast.parse(Path(module.source).read_bytes(), module.source)
    names: dict[str, list[_Binding]] = {}
    star: list[str] = []

    def bind(name: str, binding: _Binding) -> None:
        names.setdefault(name, []).append(binding)

    for node in _statements(tree.body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bind(node.name, _Binding("defined"))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bind(alias.asname, _Binding("alias", alias.name))
                else:
                    top = alias.name.split(".")[0]
                    bind(top, _Binding("alias", top))
        elif isinstance(node, ast.ImportFrom):
            base = (_package_of(module, node.level) if node.level else "")
            source = ".".join(p for p in (base, node.module or "") if p)
            for alias in node.names:
                if alias.name == "*":
                    star.append(source)
                else:
                    bind(alias.asname or alias.name, _Binding("alias", f"{source}.{alias.name}"))
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            ref = _dotted(node.value) if node.value is not None else None
            for target in targets:
                if isinstance(target, ast.Name):
                    bind(target.id, _Binding("reference", ref) if ref else _Binding("defined"))
                elif isinstance(target, ast.Tuple | ast.List):
                    for elt in target.elts:
                        if isinstance(elt, ast.Name):
                            bind(elt.id, _Binding("defined"))
    return _Bindings({k: tuple(v) for k, v in names.items()}, tuple(star),
                     "__getattr__" in names)


_RECORDERS: list[set[Path]] = []


@contextmanager
def sources_read() -> Iterator[set[Path]]:
    """The module source files read to resolve names inside the block: an outcome that
    depends on where a name leads depends on them (the validate cache checks them)."""
    read: set[Path] = set()
    _RECORDERS.append(read)
    try:
        yield read
    finally:
        _RECORDERS.pop()  # blocks nest, so the last recorder is this block's


def _read(module: _Module) -> _Bindings:
    assert module.source is not None
    for read in _RECORDERS:
        read.add(Path(module.source))
    try:
        return _bindings(module, Path(module.source).stat().st_mtime_ns)
    except (OSError, SyntaxError, ValueError) as exc:
        raise Unresolved(f"cannot read {module.source}: {exc}") from None


class _Resolver:
    def __init__(self, root: str) -> None:
        self.root = root

    def absolute(self, dotted: str, depth: int = 0) -> set[str]:
        parts = dotted.split(".")
        top = _find(parts[0], self.root)
        if top is None:
            raise _Undefined(f"module '{parts[0]}' is not installed here")
        return self.within(top, parts[1:], depth)

    def within(self, module: _Module, parts: list[str], depth: int = 0) -> set[str]:
        """Real dotted names of `module.<parts>`, reached as Hydra's locate does: an
        attribute of the module first, else a submodule."""
        if depth > _MAX_DEPTH:
            raise Unresolved(f"'{module.name}' re-exports in a cycle")
        if not parts:
            return {module.name}
        head, tail = parts[0], parts[1:]
        if _is_special(head):  # __builtins__, __loader__, ...: set at import, read by nothing
            raise Unresolved(f"'{head}' is a special attribute of '{module.name}'")
        bindings = _read(module) if module.source is not None else None
        if bindings is not None and head in bindings.names:
            out: set[str] = set()
            for binding in bindings.names[head]:
                out |= self.follow(module, head, binding, tail, depth + 1)
            return out
        sub = self.submodule(module, head)
        if sub is not None:
            return self.within(sub, tail, depth + 1)
        if bindings is None:
            if module.source is None and module.search is not None:
                raise _Undefined(f"namespace package '{module.name}' has no module '{head}'")
            return {".".join([module.name, *parts])}  # defined by compiled code
        for source in bindings.star:
            try:
                return self.absolute(".".join([source, *parts]), depth + 1)
            except _Undefined:
                continue
        if bindings.dynamic:
            raise Unresolved(f"'{module.name}.{head}' is computed by the module's __getattr__")
        raise _Undefined(f"'{module.name}' does not define '{head}'")

    def submodule(self, module: _Module, head: str) -> _Module | None:
        return None if module.search is None else _find(f"{module.name}.{head}", self.root)

    def follow(self, module: _Module, head: str, binding: _Binding, tail: list[str],
               depth: int) -> set[str]:
        if binding.kind == "alias":
            if binding.target == f"{module.name}.{head}":  # `from . import sub` in a package
                sub = self.submodule(module, head)
                if sub is None:
                    raise Unresolved(f"'{module.name}' imports '{head}' from itself")
                return self.within(sub, tail, depth)
            return self.absolute(".".join([binding.target, *tail]), depth)
        if binding.kind == "reference":
            ref = binding.target.split(".")
            if ref == [head]:  # x = x
                return {".".join([module.name, head, *tail])}
            return self.within(module, ref + tail, depth)
        special = [p for p in tail if _is_special(p)]
        if special:
            raise Unresolved(f"'{special[0]}' reaches past the object defined in "
                             f"'{module.name}'")
        return {".".join([module.name, head, *tail])}


def real_names(dotted: str, root: Path | None = None) -> set[str]:
    """Where each object `dotted` may name is defined ('module.qualname'); several when
    a module binds the name in more than one branch. Raises Unresolved."""
    return _Resolver(str(root or Path.cwd())).absolute(dotted)


def real_names_in(module: str, name: str, root: Path | None = None) -> set[str] | None:
    """Like real_names for `getattr(import_module(module), name)` (an entrypoint's
    'module:function'); None when the module is not found from here."""
    resolver = _Resolver(str(root or Path.cwd()))
    found = _find(module, resolver.root)
    if found is None:
        return None
    return resolver.within(found, [name])
