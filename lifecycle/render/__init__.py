"""Rendering for people and machines: problems, plans (text, json)."""

from .console import make_console
from .plan_text import render_plan
from .problems import problems_json, render_problem, render_problems, summary_line

__all__ = ["make_console", "problems_json", "render_plan", "render_problem",
           "render_problems", "summary_line"]
