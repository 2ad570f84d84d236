"""Rendering for people and machines: problems, plans (text, json)."""

from .console import make_console
from .diff_text import diff_json, diff_markdown, diff_sarif, diff_text, render_diff
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
