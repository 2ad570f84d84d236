"""The pre-commit hooks this repository ships run real commands with the documented
exit codes."""

from __future__ import annotations

import shlex
import subprocess
import sys

import yaml

from ...conftest import ROOT


def test_pre_commit_hooks_run() -> None:
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"lifecycle-validate", "lifecycle-diff"}
    for hook in hooks.values():
        assert hook["language"] == "python" and hook["entry"].startswith("lifecycle ")
    validate = shlex.split(hooks["lifecycle-validate"]["entry"])[1:]
    r = subprocess.run([sys.executable, "-m", "lifecycle", *validate, "specs/fraud.yaml"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    diff = shlex.split(hooks["lifecycle-diff"]["entry"])[1:]
    r = subprocess.run([sys.executable, "-m", "lifecycle", *diff], cwd=ROOT,
                       capture_output=True, text=True)
    in_clone = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT,
                              capture_output=True).returncode == 0
    assert r.returncode == (0 if in_clone else 2), r.stdout + r.stderr
    assert "lifecycle diff" in r.stdout or not in_clone
    assert "Traceback" not in r.stderr
