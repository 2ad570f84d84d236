"""`lifecycle diff --git REV`: every spec of the working tree against the same path at
REV, both sides composed with their own revision's presets and policy bundles.

A spec is compared when its file changed, when its signed approvals (the files beside it
in SPEC.approvals/) or the approvers conf changed, or when a preset, bundle or price table
it is composed, checked or priced with changed. REV's copies of those files are written
into a temporary folder so the old side composes exactly as the new one does; git is
asked a few times in all (lifecycle.load.git), whatever the number of specs.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import replace
from pathlib import Path

from ..compile.batch import in_workers
from ..compile.validate import Platform, validate_one
from ..errors import InputError, Location, Problem
from ..load import git
from ..policy.approvals import folder_prefix
from ..policy.prices import DEFAULT_TABLE
from .compare import compare
from .files import Side, rule_reads, side
from .model import DiffReport, SpecDiff, report


def diff_git(rev: str, paths: list[str] | tuple[str, ...] = (), on: dt.date | None = None,
             cwd: str | Path | None = None) -> DiffReport:
    """Each spec in the working tree against the same path at `rev`: the specs whose file
    or signed approvals changed, and (when a preset, policy bundle, price table or the
    approvers conf changed) every spec composed, checked or approved with it."""
    here = Path(cwd or os.getcwd()).resolve()
    root = git.repo_root(here)
    commit = git.resolve(root, rev)
    changed = git.changed_since(root, commit)
    old_files = git.files_at(root, commit)
    platform = Platform.current()

    candidates = (_named(paths, here, root) if paths
                  else _specs_in(root, commit, git.working_files(root), old_files))
    shared = [r for d in (platform.conf, *platform.policy_path, *platform.cost_path)
              if (r := _rel(d, root)) is not None]

    def in_conf(f: str) -> bool:
        return "conf" in f.split("/")[:-1] or any(
            f == s or f.startswith(s + "/") for s in shared)

    conf_changed = sorted(f for f in changed if in_conf(f))
    specs = sorted(set(candidates))
    # a spec's signed approvals are files beside it: read and compared with it
    signed = {f: folder_prefix(f) for f in specs}
    approvers_changed = any("approvers" in f.split("/")[:-1] for f in conf_changed)
    affected = [f for f in specs if f in changed
                or any(c.startswith(signed[f]) for c in changed)
                or (approvers_changed and (root / signed[f]).is_dir())
                or (conf_changed and _composed_from(root / f, conf_changed, root, platform, on))]
    old_set = set(old_files)
    with tempfile.TemporaryDirectory(prefix="lifecycle-diff-") as tmp:
        old_root = Path(tmp)
        wanted = set(affected)
        approvals_of = tuple(signed[f] for f in affected)
        git.write_tree(git.read_at(root, commit, [
            f for f in old_files if f in wanted or in_conf(f) or f.startswith(approvals_of)]),
            old_root)
        old_platform = Platform(
            conf=_mapped(platform.conf, root, old_root),
            policy_path=tuple(_mapped(p, root, old_root) for p in platform.policy_path),
            cost_path=tuple(_mapped(p, root, old_root) for p in platform.cost_path))
        if not any((d / f"{DEFAULT_TABLE}.yaml").is_file() for d in old_platform.cost_dirs):
            # a revision from before price tables: price its side with today's table
            old_platform = replace(old_platform, cost_path=tuple(platform.cost_dirs))
        compared = in_workers(_compare_one, [
            (f, root, old_root, f in old_set, platform, old_platform, on) for f in affected],
            min_per_worker=MIN_SPECS_PER_WORKER)
    return report(f"{rev} ({commit[:10]})", "working tree",
                  [d for d in compared if d is not None])


MIN_SPECS_PER_WORKER = 4  # each is composed and compiled twice (both sides)
Comparison = tuple[str, Path, Path, bool, Platform, Platform, dt.date | None]


def _compare_one(args: Comparison) -> SpecDiff | None:
    """One spec at both revisions (module-level: it runs in worker processes)."""
    f, root, old_root, existed, platform, old_platform, on = args
    new_path, old_path = root / f, old_root / f
    b = side(new_path, on, platform, root) if new_path.exists() else None
    a: Side | None = None
    if existed:
        try:
            a = side(old_path, on, old_platform)
        except InputError:
            a = None  # it did not compile at `rev`: shown as added
    if a is None and b is None:
        return None
    either = b if b is not None else a
    assert either is not None
    return compare(a[0] if a else None, b[0] if b else None, path=f,
                   old_path=f if a else None, rule_reads=rule_reads(either[0], platform),
                   locate_new=b[1] if b else None)


def _rel(p: Path, root: Path) -> str | None:
    try:
        return p.resolve().relative_to(root).as_posix()
    except ValueError:
        return None  # outside the repository: the same on both sides


def _named(paths: list[str] | tuple[str, ...], here: Path, root: Path) -> list[str]:
    """The repository paths of the specs named on the command line."""
    wanted = [_rel(here / p, root) for p in paths]
    missing = [p for p, r in zip(paths, wanted) if r is None]
    if missing:
        raise InputError(f"{missing[0]} is outside the repository", problems=(Problem(
            "diff.git", f"{missing[0]} is outside the repository {root}", "",
            Location(file=str(missing[0])), "name specs inside the repository"),))
    return [w for w in wanted if w is not None]


def _specs_in(root: Path, commit: str, now_files: list[str], old_files: list[str]) -> list[str]:
    """Every spec of the working tree, and every spec of `commit` deleted since."""
    yaml_now = [f for f in now_files if f.endswith(".yaml") and (root / f).is_file()]
    specs = [f for f in yaml_now if git.looks_like_spec(f, (root / f).read_bytes())]
    gone = [f for f in old_files if f.endswith(".yaml") and not (root / f).is_file()]
    specs += [f for f, data in git.read_at(root, commit, gone).items()
              if git.looks_like_spec(f, data)]
    return specs


def _mapped(path: Path, root: Path, old_root: Path) -> Path:
    try:
        return old_root / path.resolve().relative_to(root)
    except ValueError:
        return path


def _composed_from(spec: Path, changed: list[str], root: Path, platform: Platform,
                   on: dt.date | None) -> bool:
    """Whether a spec whose file did not change is touched by a changed preset, bundle or
    price table (the files its validation read: Validation.sources)."""
    if not spec.exists():
        return False
    result = validate_one(spec, (), on, platform, build_plan=False)
    if result.loaded is None:
        return True
    used = {str(p.resolve()) for p in result.sources}
    return any(str((root / f).resolve()) in used for f in changed)
