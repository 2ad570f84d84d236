"""A run as the person at the terminal sees it: a line per stage as it ends, and while a
stage runs, its spinner and elapsed time and — for tune and train — a bar of trials or
epochs (`progress` events). On a console that is not a terminal (CI, a log file) the
same as plain lines, progress only when a trial or epoch completes.

A Ray Job's `run-plan` prints its events as JSON lines (`EVENT_PREFIX`); the client that
submitted it feeds the job's log lines back here, so `run --address` shows the same view.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, TextIO

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from .run_text import render_event, render_run_summary

EVENT_PREFIX = "@lifecycle-event "
ENDS = ("stage_succeeded", "stage_failed", "stage_skipped", "stage_not_run",
        "stage_scheduled", "stage_interrupted", "stage_stopped")


class _Counted(ProgressColumn):
    """A column shown only for a stage that counts something (trials, epochs)."""

    def __init__(self, inner: ProgressColumn) -> None:
        super().__init__()
        self.inner = inner

    def render(self, task: Task) -> RenderableType:
        return self.inner.render(task) if task.total is not None else ""


class RunProgress:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.bars: Progress | None = None
        if console.is_terminal:
            self.bars = Progress(
                SpinnerColumn(), TextColumn("[stage]{task.fields[stage]}[/]"),
                _Counted(BarColumn(bar_width=30)), _Counted(MofNCompleteColumn()),
                TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                transient=True, redirect_stdout=False, redirect_stderr=False)  # a print
            # goes to the run's log, never through the live display
        self.tasks: dict[str, TaskID] = {}
        self.shown: dict[str, Any] = {}  # plain consoles: the last progress printed

    def __enter__(self) -> RunProgress:
        if self.bars is not None:
            self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bars is not None:
            self.bars.stop()

    def event(self, event: str, fields: dict[str, Any]) -> None:
        if event == "line" and str(fields.get("line", "")).startswith(EVENT_PREFIX):
            data = json.loads(str(fields["line"])[len(EVENT_PREFIX):])
            event, fields = data.pop("event"), data
        stage = str(fields.get("stage", ""))
        if event == "stage_started":
            if self.bars is None:
                render_event(self.console, event, fields)
            else:
                self.tasks[stage] = self.bars.add_task("running", total=None, stage=stage)
        elif event == "progress":
            self._progress(stage, fields)
        elif event in ENDS:
            if self.bars is not None and stage in self.tasks:
                self.bars.remove_task(self.tasks.pop(stage))
            render_event(self.console, event, fields)
        elif event == "run_summary":  # a Ray Job's result, as JSON
            stages = [SimpleNamespace(**s) for s in fields.get("stages", [])]
            render_run_summary(self.console, SimpleNamespace(**{**fields, "stages": stages}))
        else:
            render_event(self.console, event, fields)

    def _progress(self, stage: str, fields: dict[str, Any]) -> None:
        done, total = int(fields.get("done", 0)), fields.get("total")
        text = f"{fields.get('unit', '')}" + (f" · {fields['detail']}"
                                               if fields.get("detail") else "")
        if self.bars is not None:
            if stage in self.tasks:
                self.bars.update(self.tasks[stage], completed=done, total=total,
                                 description=escape(text))
            return
        if self.shown.get(stage) != done:  # plain: once per completed trial or epoch
            self.shown[stage] = done
            of = f"/{total}" if total else ""
            self.console.print(f"  [dim]{escape(stage)}: {done}{of} {escape(text)}[/]")


class JsonEvents:
    """`run-plan` inside a Ray Job: events as JSON lines for the client to show."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def event(self, event: str, fields: dict[str, Any]) -> None:
        self.out.write(EVENT_PREFIX + json.dumps({"event": event, **fields}, default=str)
                       + "\n")
        self.out.flush()
