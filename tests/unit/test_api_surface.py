from __future__ import annotations

import lifecycle.api


def test_public_surface_is_exactly_all() -> None:
    assert sorted(lifecycle.api.__all__) == [
        "Platform", "RunOptions", "RunResult", "Signed", "Validation", "approve",
        "compile_spec", "diff_files", "diff_git", "diff_schema", "feedback_file",
        "grafana_dashboard", "load_plan", "monitor_report", "plan_from_json", "policy_dirs",
        "prediction_logs", "prometheus_rules", "retire", "rollout_command", "rollout_simulate",
        "run_log", "run_log_location", "run_plan", "run_spec", "run_status", "serve_status",
        "served_history", "spec_schema", "stop_run", "today", "validate", "validate_one"]
    for name in lifecycle.api.__all__:
        assert hasattr(lifecycle.api, name)


def test_run_options_and_result_are_the_runners_own_classes() -> None:
    from lifecycle.execute.options import RunOptions
    from lifecycle.execute.result import RunResult

    assert lifecycle.api.RunOptions is RunOptions and lifecycle.api.RunResult is RunResult


def test_errors_survive_pickling() -> None:
    import pickle

    from lifecycle.errors import Location, PolicyError, Problem

    p = Problem("HR-002", "m", "a.b", Location("f.yaml", 3, 4), "h")
    err = PolicyError("x", problems=(p,))
    again = pickle.loads(pickle.dumps(err))
    assert isinstance(again, PolicyError) and again.problems == (p,)
    assert again.exit_code == 1
