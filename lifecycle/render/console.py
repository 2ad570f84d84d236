"""One place that makes the rich Console (colour follows NO_COLOR / FORCE_COLOR / tty)."""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.theme import Theme

THEME = Theme({"error": "bold red", "warning": "yellow", "info": "cyan", "ok": "green",
               "code": "magenta", "loc": "bold", "key": "blue", "dim": "dim",
               "stage": "bold cyan"})


def make_console(stderr: bool = False, no_color: bool = False, wrap: bool = False,
                 file: TextIO | None = None) -> Console:
    return Console(file=file or (sys.stderr if stderr else sys.stdout), theme=THEME,
                   highlight=False, no_color=no_color or None, soft_wrap=not wrap)
