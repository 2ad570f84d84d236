"""Problems as one line each: `FILE:LINE:COL  CODE  key.path  message (hint)`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.markup import escape

from ..errors import Problem

_STYLE = {"error": "error", "warning": "warning", "info": "info"}


def render_problem(console: Console, p: Problem) -> None:
    style = _STYLE.get(p.severity, "error")
    line = f"[loc]{escape(str(p.location))}[/]  [{style}]{escape(p.code)}[/]"
    if p.key_path:
        line += f"  [key]{escape(p.key_path)}[/]"
    line += f"  {escape(p.message)}"
    if p.hint:
        line += f" [dim]({escape(p.hint)})[/]"
    console.print(line)


def render_problems(console: Console, problems: Iterable[Problem]) -> None:
    for p in problems:
        render_problem(console, p)


def summary_line(path: str, problems: list[Problem]) -> str:
    errors = sum(p.severity == "error" for p in problems)
    warnings = sum(p.severity == "warning" for p in problems)
    waived = sum(p.severity == "info" and p.message.startswith("waived") for p in problems)
    if not errors:
        parts = ["ok"] + ([f"{warnings} warning(s)"] if warnings else []) + \
            ([f"{waived} waived"] if waived else [])
        return f"[ok]✓[/] {escape(path)}: " + ", ".join(parts)
    parts = [f"{errors} error(s)"] + ([f"{warnings} warning(s)"] if warnings else []) + \
        ([f"{waived} waived"] if waived else [])
    return f"[error]✗[/] {escape(path)}: " + ", ".join(parts)


def problems_json(items: list[tuple[str, int, list[Problem]]]) -> str:
    out: list[dict[str, Any]] = []
    for path, code, problems in items:
        out.append({"spec": path, "exit_code": code, "problems": [
            {"code": p.code, "severity": p.severity, "key_path": p.key_path,
             "message": p.message, "hint": p.hint, "file": p.location.file,
             "line": p.location.line, "column": p.location.column,
             "origin": p.location.origin} for p in problems]})
    return json.dumps({"schema_version": 1, "results": out}, indent=2)
