"""`lifecycle diff --git REV` on a real git repository in a temporary folder: spec edits,
a change made only in a conf/ preset, a policy bundle change, added and removed specs,
and the CLI's formats and exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lifecycle.api import diff_git
from lifecycle.render import diff_text

from ...conftest import ROOT

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]


def _git(repo: Path, *args: str) -> None:
    subprocess.run([*GIT, *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository holding the platform conf/ (LIFECYCLE_CONF points at it) and two specs,
    committed; cwd is its root."""
    r = tmp_path / "repo"
    shutil.copytree(ROOT / "conf", r / "conf")
    (r / "specs").mkdir()
    for name in ("fraud.yaml", "demand-batch.yaml"):
        shutil.copy(ROOT / "specs" / name, r / "specs" / name)
    (r / "README.md").write_text("not a spec\n")
    _git(r, "init", "-q", "-b", "main")
    _git(r, "add", "-A")
    _git(r, "commit", "-q", "-m", "base")
    monkeypatch.setenv("LIFECYCLE_CONF", str(r / "conf"))
    monkeypatch.chdir(r)
    return r


def _edit(path: Path, before: str, after: str) -> None:
    text = path.read_text()
    assert before in text, before
    path.write_text(text.replace(before, after, 1))


def test_nothing_changed_is_empty(repo: Path) -> None:
    (repo / "README.md").write_text("edited, still not a spec\n")
    d = diff_git("main")
    assert d.specs == [] and not d.loosened


def test_only_the_edited_spec_is_reported(repo: Path) -> None:
    _edit(repo / "specs" / "fraud.yaml", "{metric: auc, min: 0.85}", "{metric: auc, min: 0.8}")
    d = diff_git("main")
    assert [s.path for s in d.specs] == ["specs/fraud.yaml"]
    [c] = d.specs[0].changes
    assert c.path == "evaluate.gates[auc].min" and c.direction == "loosens"
    assert c.where is not None and (c.where.file, c.where.line) == ("specs/fraud.yaml", 44)


def test_a_change_only_in_a_preset_is_caught(repo: Path) -> None:
    _edit(repo / "conf" / "train" / "torch_ddp.yaml", "max_failures: 1", "max_failures: 0")
    _git(repo, "commit", "-qam", "preset change")
    _edit(repo / "conf" / "train" / "torch_ddp.yaml", "num_workers: 2", "num_workers: 4")
    d = diff_git("HEAD~1")
    assert [s.path for s in d.specs] == ["specs/fraud.yaml"]  # demand uses the sklearn preset
    changes = {c.path: c for c in d.specs[0].changes}
    assert set(changes) == {"train.scaling.num_workers", "train.scaling.max_failures"}
    where = changes["train.scaling.num_workers"].where
    assert where is not None and where.file == "conf/train/torch_ddp.yaml"
    assert [s.stage for s in d.specs[0].stages][0] == "tune"


def test_a_policy_bundle_change_is_caught(repo: Path) -> None:
    _edit(repo / "conf" / "policy" / "high.yaml", "max_first_step_weight: 10",
          "max_first_step_weight: 2")
    d = diff_git("main")
    assert [s.path for s in d.specs] == ["specs/fraud.yaml"]
    [r] = d.specs[0].rules
    assert (r.rule, r.old, r.new, r.direction) == ("HR-002", "pass", "fail", "loosens")


def test_added_and_removed_specs(repo: Path) -> None:
    text = (repo / "specs" / "fraud.yaml").read_text().replace("name: fraud-detector",
                                                              "name: fraud-two")
    (repo / "specs" / "fraud2.yaml").write_text(text)  # untracked
    (repo / "specs" / "demand-batch.yaml").unlink()
    d = diff_git("main")
    by_path = {s.path: s for s in d.specs}
    assert by_path["specs/fraud2.yaml"].status == "added"
    assert by_path["specs/demand-batch.yaml"].status == "removed"
    assert by_path["specs/demand-batch.yaml"].name == "demand-forecast"


def _cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lifecycle", "--no-color", "diff", *args],
                          cwd=repo, capture_output=True, text=True)


def test_cli_exit_codes_and_formats(repo: Path) -> None:
    quiet = _cli(repo, "--git", "main")
    assert quiet.returncode == 0, quiet.stderr
    assert "no change" in quiet.stdout
    _edit(repo / "specs" / "fraud.yaml", "      - weight: 5\n", "      - weight: 8\n")
    text = _cli(repo, "--git", "main")
    assert text.returncode == 1, text.stderr
    assert "canary step widened" in text.stdout and "serve.rollout.steps[0].weight" in text.stdout
    md = _cli(repo, "--git", "main", "--format", "markdown")
    assert md.returncode == 1 and md.stdout.startswith("**lifecycle diff**")
    assert "1 loosened · 0 tightened" in md.stdout
    assert len(md.stdout.splitlines()) <= 30  # one screen for a typical change
    js = json.loads(_cli(repo, "--git", "main", "--format", "json").stdout)
    assert js["schema_version"] == 1 and js["counts"]["loosens"] == 1
    assert _cli(repo, "--git", "main", "--fail-on", "never").returncode == 0


def test_cli_bad_revision_and_bad_arguments(repo: Path) -> None:
    bad = _cli(repo, "--git", "no-such-branch")
    assert bad.returncode == 2 and "diff.bad-revision" in bad.stderr
    assert "Traceback" not in bad.stderr
    one = _cli(repo, "specs/fraud.yaml")
    assert one.returncode == 2 and "two files" in one.stderr


def test_a_spec_that_no_longer_validates_is_an_input_error(repo: Path) -> None:
    _edit(repo / "specs" / "fraud.yaml", "num_samples: 4", "num_sample: 4")
    r = _cli(repo, "--git", "main")
    assert r.returncode == 2 and "schema.unknown-key" in r.stderr and "Traceback" not in r.stderr


def test_approvals_beside_a_spec_are_read_at_the_revision(repo: Path) -> None:
    shutil.copytree(ROOT / "specs" / "fraud.approvals", repo / "specs" / "fraud.approvals")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "approved")
    _edit(repo / "specs" / "fraud.yaml", "{metric: auc, min: 0.85}", "{metric: auc, min: 0.8}")
    [spec] = diff_git("HEAD").specs
    [stale] = [c for c in spec.changes if c.path == "approvals (signed)"]
    assert stale.reason.startswith("2 approvals no longer cover this spec")


def test_a_change_only_to_the_approvals_is_caught(repo: Path) -> None:
    shutil.copytree(ROOT / "specs" / "fraud.approvals", repo / "specs" / "fraud.approvals")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "approved")
    for name in ("product--bob@example.com.json", "product--bob@example.com.json.sig"):
        (repo / "specs" / "fraud.approvals" / name).unlink()
    d = diff_git("HEAD")
    assert [s.path for s in d.specs] == ["specs/fraud.yaml"]
    [c] = [c for c in d.specs[0].changes if c.path.startswith("approvals")]
    assert (c.path, c.direction, c.reason) == (
        "approvals[product: bob@example.com]", "loosens", "approval removed")
    assert d.loosened


def test_a_changed_price_table_reprices_every_spec_under_git(repo: Path) -> None:
    _edit(repo / "conf" / "cost" / "default.yaml", "cpu_hour: 0.04", "cpu_hour: 0.08")
    d = diff_git("main")
    assert sorted(s.path for s in d.specs) == ["specs/demand-batch.yaml", "specs/fraud.yaml"]
    demand = next(s for s in d.specs if s.path == "specs/demand-batch.yaml")
    assert demand.changes == [] and demand.cost is not None and demand.cost.repriced
    # one 1-CPU worker for 1 h: 0.04 + 4 GB × 0.005 = 0.06 -> 0.08 + 0.02 = 0.10
    assert (demand.cost.training.old, demand.cost.training.new) == (0.06, 0.1)
    assert "price table changed" in diff_text(d) and not d.loosened


def test_a_revision_from_before_price_tables_is_priced_with_todays(repo: Path) -> None:
    _git(repo, "rm", "-rq", "conf/cost")
    _git(repo, "commit", "-qm", "no price table yet")
    _git(repo, "checkout", "-q", "main~1", "--", "conf/cost")
    _edit(repo / "specs" / "fraud.yaml", "{metric: auc, min: 0.85}", "{metric: auc, min: 0.8}")
    d = diff_git("HEAD")
    assert [(s.path, s.status) for s in d.specs] == [("specs/fraud.yaml", "changed")]
    assert d.specs[0].cost is None  # the same prices on both sides
