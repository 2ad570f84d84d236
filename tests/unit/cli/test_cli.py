"""The CLI end to end, in a subprocess where it matters (exit codes, imports, output)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lifecycle.cli.main import main

from ...conftest import ROOT, Approved

FRAUD = "specs/fraud.yaml"
CHURN = "specs/churn-service.yaml"


def _cli(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ, NO_COLOR="1", LIFECYCLE_TODAY="2026-11-22", COLUMNS="200")
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "lifecycle", *args], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=120)


def test_validate_all_examples_exits_0() -> None:
    r = _cli("validate", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "specs").glob("*.yaml")))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("✓") == 3


def test_policy_failure_exits_1_with_file_line_rule_and_message(approved: Approved) -> None:
    wide = "serve.rollout.steps.0.weight=50"  # approved as it is: only the rule fails
    r = _cli("validate", str(approved(ROOT / FRAUD, [wide])), wide)
    assert r.returncode == 1
    line = r.stdout.splitlines()[0]
    assert line == ("command-line override 'serve.rollout.steps.0.weight=50'  HR-002  "
                    "serve.rollout.steps[0].weight  high-risk models start their canary at 10% "
                    "or less (set this step's weight to 10 or less)")


@pytest.mark.parametrize("content, code", [
    ("name: [unclosed\n", "yaml.syntax"),
    ("name: a\nname: b\n", "yaml.duplicate-key"),
    ("- a\n", "yaml.not-a-mapping"),
    ("defaults:\n  - /train: nope\nname: a\n", "load.unknown-preset"),
    ("name: ${missing}\n", "load.interpolation"),
    ("name: ${owner}\nowner: ${name}\n", "load.interpolation"),
    ("name: a\nowner: a@b.co\nrisk_tier: low\ndata: 3\n", "schema.wrong-type"),
    ("name: a\nownr: a@b.co\n", "schema.unknown-key"),
])
def test_bad_input_exits_2_with_a_located_one_line_message(
        tmp_path: Path, content: str, code: str) -> None:
    (tmp_path / "s.yaml").write_text(content)
    r = _cli("validate", "s.yaml", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert all(line.startswith(("s.yaml:", "✗")) for line in lines), lines
    assert any(f"  {code}  " in line for line in lines), lines
    assert len(r.stdout.splitlines()) <= 24  # one screen


def test_missing_spec_file_exits_2(tmp_path: Path) -> None:
    r = _cli("validate", "nope.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "load.missing-file" in r.stdout


def test_yaml_bomb_exits_2(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + [
        f"a{i}: &a{i} [{', '.join([f'*a{i-1}'] * 10)}]" for i in range(1, 10)]
    (tmp_path / "s.yaml").write_text("\n".join(lines) + "\n")
    r = _cli("validate", "s.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "yaml.too-large" in r.stdout


def test_bad_override_exits_2() -> None:
    r = _cli("validate", FRAUD, "train.framework=pytorch")
    assert r.returncode == 2
    assert "did you mean 'torch'?" in r.stdout
    assert r.stdout.startswith("command-line override 'train.framework=pytorch'")


def test_validate_json_output(approved: Approved) -> None:
    wide = "serve.rollout.steps.0.weight=50"
    r = _cli("validate", str(approved(ROOT / FRAUD, [wide])), wide, "--format", "json")
    data = json.loads(r.stdout)
    [res] = data["results"]
    assert res["exit_code"] == 1 and res["problems"][0]["code"] == "HR-002"


def test_compile_writes_identical_bytes_twice(tmp_path: Path) -> None:
    for name in ("a.json", "b.json"):
        r = _cli("compile", FRAUD, "-o", str(tmp_path / name))
        assert r.returncode == 0, r.stderr
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_compile_from_another_folder_gives_the_same_plan(tmp_path: Path) -> None:
    here = _cli("compile", FRAUD).stdout
    there = _cli("compile", str(ROOT / FRAUD), cwd=tmp_path).stdout
    assert here == there


def test_plan_shows_stages_rollout_and_policy() -> None:
    r = _cli("plan", FRAUD)
    assert r.returncode == 0
    for text in ("tune", "4 trials", "step 1: 5% for 10m", "input-drift: tabular",
                 "HR-002", "24 passed", "training run", "slos"):
        assert text in r.stdout, text


def test_plan_of_a_failing_spec_shows_the_failure_and_exits_1() -> None:
    r = _cli("plan", FRAUD, "serve.rollout.steps.0.weight=50")
    assert r.returncode == 1 and "HR-002" in r.stdout and "fail" in r.stdout


def test_full_error_env_adds_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("name: [\n")
    r = _cli("compile", "s.yaml", cwd=tmp_path, env={"LIFECYCLE_FULL_ERROR": "1"})
    assert r.returncode == 2 and "Traceback" in r.stderr


def test_schema_command_prints_json_schema() -> None:
    r = _cli("schema")
    schema = json.loads(r.stdout)
    assert "defaults" in schema["properties"] and schema["additionalProperties"] is False


def test_usage_error_exits_2() -> None:
    r = _cli("plan", FRAUD, "specs/churn-service.yaml")
    assert r.returncode == 2 and "exactly one spec" in r.stderr


def test_compiler_commands_never_import_the_runtime() -> None:
    code = (
        "import sys\n"
        "from lifecycle.cli.main import main\n"
        "for argv in (['validate', 'specs/fraud.yaml'], ['plan', 'specs/fraud.yaml'],"
        " ['compile', 'specs/fraud.yaml', '-o', '/dev/null'], ['schema', '-o', '/dev/null'],"
        " ['diff', 'specs/fraud.yaml', 'specs/fraud.yaml'], ['diff', '--git', 'HEAD']):\n"
        "    main(argv)\n"
        "heavy = sorted(m for m in ('ray', 'mlflow', 'torch', 'alibi_detect')\n"
        "               if m in sys.modules)\n"
        "print('HEAVY', heavy)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, NO_COLOR="1"), timeout=120)
    assert r.stdout.strip().splitlines()[-1] == "HEAVY []", r.stdout + r.stderr


def test_main_returns_exit_codes_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(ROOT / FRAUD)]) == 0
    assert main(["validate", str(ROOT / FRAUD), "serve.rollout.steps.0.weight=50"]) == 1


def test_operating_commands_without_a_cluster_say_how_to_attach() -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_ADDRESS", "LIFECYCLE_RAY_ATTACH")}
    r = subprocess.run([sys.executable, "-m", "lifecycle", "--no-color", "status", FRAUD],
                       cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 3 and "serving.no-cluster" in r.stderr and "RAY_ADDRESS" in r.stderr
    r = subprocess.run([sys.executable, "-m", "lifecycle", "--no-color", "promote",
                        "specs/demand-batch.yaml"], cwd=ROOT, capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 2 and "plan.not-served" in r.stderr
    r = subprocess.run([sys.executable, "-m", "lifecycle", "--no-color", "rollback", FRAUD,
                        "--address", "http://head:8265"], cwd=ROOT, capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 3 and "dashboard" in r.stderr


def test_monitor_report_without_runs_says_so(tmp_path: Path) -> None:
    r = _cli("monitor", "report", FRAUD, "--store", str(tmp_path / "empty"))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "monitor.no-runs" in r.stderr and "run the spec first" in r.stderr


def test_run_refuses_an_override_of_a_protected_key_before_starting_anything(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["run", FRAUD, "risk_tier=low", "--store", "/nonexistent/store"]) == 1
    err = capsys.readouterr().err
    assert "command-line override 'risk_tier=low'  override.protected  risk_tier" in err
    assert not Path("/nonexistent/store").exists()  # refused before the run began


def test_validate_with_the_opt_in_warns_and_passes(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["validate", CHURN, "approvals=[]", "--allow-protected-overrides"]) == 1
    out = capsys.readouterr().out  # approvals=[] still fails the approval rules
    assert "override.protected  approvals  'approvals' is protected by policy bundle " \
        "'medium' and was changed on the command line (allowed)" in out
    assert "MR-002  approvals  models at medium risk or above need at least one approval" in out
    assert main(["validate", CHURN, "approvals=[{by: dave@example.com, role: model-risk, "
                 "ticket: MRM-9}]", "--allow-protected-overrides"]) == 0


def test_allowed_override_of_a_covered_key_still_voids_the_signed_approvals(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["validate", FRAUD, "risk_tier=medium", "--allow-protected-overrides",
                 "--no-cache"]) == 1
    out = capsys.readouterr().out  # the approval digest covers the risk tier
    assert out.count("APR-007") == 2 and "MR-002" in out
