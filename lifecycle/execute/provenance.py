"""Where a run's code came from: the project's git commit and whether the working tree
differed from it, read where the run is started (the client of a Ray Job: the job's
working dir is an unpacked package with no .git)."""

from __future__ import annotations

import subprocess

from ..runtime.contract import Source


def _git(root: str, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def git_source(root: str) -> Source:
    """HEAD and the dirty state of tracked files (untracked files are not the code that
    ran unless imported, and data folders are usually untracked). Outside a repository
    (or without git) both are unknown: None."""
    head = _git(root, "rev-parse", "HEAD")
    if head is None:
        return Source()
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    dirty = None if status is None else bool(status.strip())
    return Source(git_commit=head.strip(), git_dirty=dirty)
