"""How a run's stage outcomes read in the terminal (pure rendering)."""

from __future__ import annotations

from lifecycle.render.run_text import _short


def test_stage_summaries_name_what_each_stage_produced() -> None:
    assert "fraud-detector v3 @challenger" in _short(
        {"model": "fraud-detector", "version": "3", "alias": "challenger"})
    monitor = _short({"monitors": {
        "input-drift": {"detector": "tabular", "reference_rows": 1000},
        "outliers": {"detector": "iforest", "reference_rows": 800}}})
    assert "input-drift (tabular, 1000 reference rows)" in monitor
    assert "outliers (iforest, 800 reference rows)" in monitor
    assert _short({}) == ""


def test_a_quality_monitor_has_no_reference_rows_to_show() -> None:
    text = _short({"monitors": {"live-quality": {"detector": "quality"}}})
    assert "live-quality (quality)" in text and "None" not in text


def test_a_failed_register_stage_is_summarised_without_a_version() -> None:
    """A failed stage keeps its failure's details as outputs: the summary must not read a
    model version from them."""
    import io

    from rich.console import Console

    from lifecycle.errors import ExitCode
    from lifecycle.execute.result import RunResult, StageOutcome
    from lifecycle.render.run_text import render_run_summary

    result = RunResult(run_id="r1", plan_hash="h", exit_code=ExitCode.RUNTIME, stages=[
        StageOutcome("register", "failed", outputs={"error": "RestException"},
                     message="registration failed")])
    out = io.StringIO()
    render_run_summary(Console(file=out, width=120), result)
    assert "registration failed" in out.getvalue() and "registered" not in out.getvalue()
