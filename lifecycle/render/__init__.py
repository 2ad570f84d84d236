"""Rendering for people and machines: problems, plans, diffs, runs (text, json, markdown,
sarif).

Lives here: one module per thing shown (problems, plan_text, diff_report, run_text,
serve_text, spec_docs for docs/spec.md) and the console set-up (console.py, rich).

May import: lifecycle.diff, lifecycle.plan, lifecycle.spec (spec_docs only),
lifecycle.errors. Never lifecycle.execute: run results arrive as data from the CLI.
"""

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from .console import make_console
    from .diff_report import diff_json, diff_markdown, diff_sarif, diff_text, render_diff
    from .plan_text import render_plan
    from .problems import problems_json, render_problem, render_problems, summary_line

__all__ = [
           "diff_json",
           "diff_markdown",
           "diff_sarif",
           "diff_text",
           "make_console",
           "problems_json",
           "render_diff",
           "render_plan",
           "render_problem",
           "render_problems",
           "summary_line",
]

__getattr__ = exports(__name__, {
    "make_console": ".console", "diff_json": ".diff_report", "diff_markdown": ".diff_report",
    "diff_sarif": ".diff_report", "diff_text": ".diff_report", "render_diff": ".diff_report",
    "render_plan": ".plan_text", "problems_json": ".problems", "render_problem": ".problems",
    "render_problems": ".problems", "summary_line": ".problems"})
