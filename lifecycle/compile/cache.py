"""The content-hash cache of `lifecycle validate` (like ruff's): a spec whose inputs are
unchanged is answered with the problems found last time, without composing it again.

A key is the sha256 of everything the outcome depends on besides the platform's files:
the spec's bytes and path, the overrides and opt-ins, the date waivers and approvals are
checked against, the working directory (locations are shown relative to it) and Python's
module search path (names are followed through modules found on it), the platform's
folders, and lifecycle itself (its version and the stamps of its source files and of the
installed libraries it validates with). An entry also lists the files that took part —
presets, policy bundles, the price table, the modules entrypoints and `_target_` names
were followed through — with their sha256, and the paths earlier on the search path that
would shadow each one; and the folders read whole — the signed approvals beside the spec
and the approvers conf — with a digest of what they hold (absent counts too). It is used
only while all of them still hold.

Only outcomes whose composition and bundle loading succeeded are stored (a missing
preset or bundle may appear at any time). Everything here is stdlib: answering from the
cache imports neither Hydra nor the spec models.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import Location, Problem
from ..load.platform import Platform

CACHE_FORMAT = 2


def cache_dir() -> Path:
    """LIFECYCLE_CACHE_DIR, else .lifecycle/cache/validate under the working directory."""
    env = os.environ.get("LIFECYCLE_CACHE_DIR")
    return Path(env) if env else Path.cwd() / ".lifecycle" / "cache" / "validate"


@functools.cache
def _code_stamp() -> str:
    """lifecycle's own source files and the libraries validation depends on: an edit or
    an upgrade of either is a new cache."""
    h = hashlib.sha256(f"{__version__} {sys.version}".encode())
    package = Path(__file__).resolve().parent.parent
    for path in sorted(package.rglob("*.py")):
        st = path.stat()
        h.update(f"{path.relative_to(package)} {st.st_mtime_ns} {st.st_size}\n".encode())
    for name in ("pydantic", "pydantic_core", "hydra", "omegaconf", "yaml", "cel"):
        found = importlib.util.find_spec(name)
        origin = found.origin if found is not None else None
        if origin:
            h.update(f"{name} {os.stat(os.path.dirname(origin)).st_mtime_ns}\n".encode())
    return h.hexdigest()


@functools.cache
def _file_sha(path: str, mtime_ns: int, size: int) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def file_sha(path: Path) -> str | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return _file_sha(str(path), st.st_mtime_ns, st.st_size)


def folder_digest(path: Path) -> str:
    """What a folder read whole holds: each entry's name and (for files) sha256. An absent
    folder has a digest too, so one that appears is a change."""
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError:
        return "absent"
    h = hashlib.sha256()
    for entry in entries:
        sha = file_sha(Path(entry.path)) if entry.is_file() else "folder"
        h.update(f"{entry.name}\0{sha}\n".encode())
    return h.hexdigest()


def _search_path(spec: Path, platform: Platform) -> list[Path]:
    """The folders presets are looked up in, in the loader's order."""
    return [spec.parent, spec.parent / "conf", platform.conf]


def _shadows(source: Path, folders: list[Path]) -> list[str]:
    """Paths that would take `source`'s place if they appeared: the same relative path in
    a folder searched before the one holding it."""
    for i, folder in enumerate(folders):
        try:
            rel = source.relative_to(folder)
        except ValueError:
            continue
        return [str(f / rel) for f in folders[:i]]
    return []


class ValidateCache:
    """One `lifecycle validate` invocation's view of the cache: the settings shared by
    every spec are hashed once."""

    def __init__(self, folder: Path, overrides: tuple[str, ...], on: str,
                 allow_protected_overrides: bool, platform: Platform) -> None:
        self.folder = folder
        self.platform = platform
        self.shared = json.dumps({
            "format": CACHE_FORMAT, "code": _code_stamp(), "cwd": os.getcwd(),
            "overrides": list(overrides), "on": on, "allow": allow_protected_overrides,
            "conf": str(platform.conf), "policy": [str(p) for p in platform.policy_path],
            "cost": [str(p) for p in platform.cost_path], "sys_path": sys.path,
            "max_yaml": os.environ.get("LIFECYCLE_MAX_YAML_BYTES", ""),
        }, sort_keys=True)

    def key(self, spec: str | Path) -> str | None:
        path = Path(spec).resolve()
        sha = file_sha(path)
        if sha is None:
            return None
        return hashlib.sha256(f"{self.shared}\n{path}\n{sha}".encode()).hexdigest()

    def _entry(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> list[Problem] | None:
        try:
            entry = json.loads(self._entry(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        for dep in entry.get("depends_on", []):
            if file_sha(Path(dep["path"])) != dep["sha256"]:
                return None
            if any(os.path.exists(s) for s in dep["shadowed_by"]):
                return None
        for folder in entry.get("folders", []):
            if folder_digest(Path(folder["path"])) != folder["digest"]:
                return None
        return [_problem(p) for p in entry["problems"]]

    def put(self, key: str, spec: str | Path, problems: list[Problem],
            sources: tuple[Path, ...], folders: tuple[Path, ...] = ()) -> None:
        """Store an outcome; a cache that cannot be written is no cache (never an error)."""
        search = _search_path(Path(spec).resolve(), self.platform)
        policy = [p.resolve() for p in self.platform.policy_dirs]
        cost = [p.resolve() for p in self.platform.cost_dirs]
        depends: list[dict[str, Any]] = []
        for source in dict.fromkeys(s.resolve() for s in sources):
            sha = file_sha(source)
            if sha is None:
                return
            shadows = (_shadows(source, search) + _shadows(source, policy)
                       + _shadows(source, cost))
            depends.append({"path": str(source), "sha256": sha, "shadowed_by": shadows})
        read_whole = [{"path": str(f), "digest": folder_digest(f)}
                      for f in dict.fromkeys(f.resolve() for f in folders)]
        body = json.dumps({"depends_on": depends, "folders": read_whole,
                           "problems": [asdict(p) for p in problems]}, sort_keys=True)
        target = self._entry(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(body)
            os.replace(tmp, target)
        except OSError:
            pass


def _problem(data: dict[str, Any]) -> Problem:
    return Problem(**{**data, "location": Location(**data["location"])})
