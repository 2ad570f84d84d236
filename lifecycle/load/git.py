"""What `lifecycle diff --git REV` needs from git: the repository, the files changed since
REV (committed, staged, unstaged and untracked), and REV's copies of some files written
into a folder so the old side composes exactly as the new one does. A few git processes
in all, whatever the number of specs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from ..errors import InputError, Location, Problem

_SPEC_MARK = re.compile(rb"(?m)^risk_tier\s*:")


def _fail(code: str, message: str, hint: str) -> InputError:
    loc = Location(origin="--git")
    return InputError(message, location=loc, hint=hint,
                      problems=(Problem(code, message, "", loc, hint),))


def _git(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=root, input=stdin, capture_output=True,
                              check=False)
    except FileNotFoundError:
        raise _fail("diff.git", "git is not installed", "install git, or compare two files: "
                    "lifecycle diff OLD.yaml NEW.yaml") from None
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        raise _fail("diff.git", f"git {args[0]} failed: {err[-1] if err else done.returncode}",
                    "run lifecycle diff --git inside a git repository")
    return done.stdout


def repo_root(cwd: Path) -> Path:
    if shutil.which("git") is None:
        raise _fail("diff.git", "git is not installed", "install git, or compare two files")
    try:
        out = _git(cwd, "rev-parse", "--show-toplevel")
    except InputError:
        raise _fail("diff.git", f"{cwd} is not inside a git repository",
                    "run lifecycle diff --git from a clone of the repository") from None
    return Path(out.decode().strip()).resolve()


def resolve(root: Path, rev: str) -> str:
    if rev.startswith("-"):
        raise _fail("diff.bad-revision", f"'{rev}' is not a revision",
                    "name a commit, branch or tag, e.g. --git origin/main")
    try:
        return _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
    except InputError:
        raise _fail("diff.bad-revision", f"unknown revision '{rev}'",
                    "name a commit, branch or tag that exists here (git fetch first?)") from None


def _z(out: bytes) -> list[str]:
    return [p.decode() for p in out.split(b"\0") if p]


def changed_since(root: Path, commit: str) -> set[str]:
    """Repository-relative paths that differ between `commit` and the working tree."""
    tracked = _z(_git(root, "diff", "--name-only", "-z", "--no-renames", commit, "--"))
    untracked = _z(_git(root, "ls-files", "--others", "--exclude-standard", "-z"))
    return set(tracked) | set(untracked)


def files_at(root: Path, commit: str) -> list[str]:
    return _z(_git(root, "ls-tree", "-r", "-z", "--name-only", commit))


def working_files(root: Path) -> list[str]:
    return _z(_git(root, "ls-files", "--cached", "--others", "--exclude-standard", "-z"))


def read_at(root: Path, commit: str, paths: list[str]) -> dict[str, bytes]:
    """The contents of `paths` at `commit` (one `git cat-file --batch`)."""
    if not paths:
        return {}
    request = "".join(f"{commit}:{p}\n" for p in paths).encode()
    out = _git(root, "cat-file", "--batch", stdin=request)
    result: dict[str, bytes] = {}
    pos = 0
    for p in paths:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if len(header) == 2 and header[1] == b"missing":
            continue
        size = int(header[2])
        result[p] = out[pos:pos + size]
        pos += size + 1
    return result


def write_tree(files: dict[str, bytes], dest: Path) -> None:
    for rel, data in files.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def looks_like_spec(rel: str, data: bytes) -> bool:
    """A YAML file outside every conf/ folder with a top-level `risk_tier:`."""
    parts = rel.split("/")
    return (rel.endswith(".yaml") and "conf" not in parts[:-1]
            and _SPEC_MARK.search(data) is not None)
