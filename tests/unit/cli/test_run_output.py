"""`lifecycle run` shows lifecycle's progress and summary; Ray's and Tune's output goes
to the run's log in the store, and `--verbose` streams it (issue 18, item 14: the
README's run printed 325 lines, about ten of them lifecycle's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lifecycle.execute.runlog import captured
from lifecycle.render import make_console
from lifecycle.render.progress import EVENT_PREFIX, JsonEvents, RunProgress
from lifecycle.store import Store

from ...conftest import ROOT


def test_everything_the_process_writes_goes_to_the_run_log(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    store = Store(str(tmp_path / "store"))
    with captured(store, "r1") as log:
        print("a Python print", flush=True)
        os.write(2, b"a C++ line on stderr\n")
        subprocess.run(["echo", "a child process"], check=True)
        log.terminal.write("lifecycle's own line\n")
    out = capfd.readouterr()
    assert (out.out, out.err) == ("lifecycle's own line\n", "")
    text = Path(store.path("runs", "r1", "run.log")).read_text()
    assert text.splitlines() == ["a Python print", "a C++ line on stderr", "a child process"]
    assert log.location == str(tmp_path / "store" / "runs" / "r1" / "run.log")


def test_verbose_streams_the_log_as_it_grows(tmp_path: Path) -> None:
    seen: list[str] = []
    with captured(Store(str(tmp_path)), "r1", seen.append):
        os.write(1, b"tune trial table\nraylet warning\n")
    assert seen == ["tune trial table", "raylet warning"]


def test_a_jobs_json_events_show_as_the_same_progress(tmp_path: Path) -> None:
    """run --address: the job prints events as JSON lines; the client shows them."""
    lines: list[str] = []

    class Out:
        def write(self, text: str) -> None:
            lines.append(text)

        def flush(self) -> None:
            pass

    job = JsonEvents(Out())  # type: ignore[arg-type]
    job.event("stage_succeeded", {"stage": "train", "seconds": 3.0, "outputs": {}})
    job.event("progress", {"stage": "tune", "unit": "trials", "done": 2, "total": 8})
    assert all(line.startswith(EVENT_PREFIX) for line in lines)
    with open(tmp_path / "out", "w") as f:
        display = RunProgress(make_console(no_color=True, file=f))
        with display:
            for line in lines:
                display.event("line", {"line": line.rstrip("\n")})
            display.event("line", {"line": "a plain line from the job"})
    shown = (tmp_path / "out").read_text().splitlines()
    assert shown == ["✓ train 3.0s", "  tune: 2/8 trials", "a plain line from the job"]


FAKE_RUN = """
import os, sys
from pathlib import Path
import lifecycle.execute.connection as connection
import lifecycle.execute.executors as executors
import lifecycle.execute.tracking as tracking
from lifecycle.cli.main import main
from tests.conftest import approved_copy
from tests.unit.execute.test_run_endings import FakeTracking, TRAIN_ONLY

def tune(stage, ctx):  # what Ray and Tune print during a real tune stage
    for i in range(100):
        print(f"(raylet) [2026-11-22] worker line {i}", flush=True)
        os.write(2, b"== Status == Current time: trial table row\\n")
        ctx.emit("progress", {"stage": "tune", "unit": "trials", "done": i // 25,
                              "total": 4})
    return {"checkpoint": "c"}

connection.start_local = lambda plan, options: ""
tracking.Tracking = FakeTracking
outputs = {"data": {"digest": "d", "rows": {"train": 4000}}, "evaluate": {},
           "register": {}, "monitor": {}}
executors.registry = lambda: {"tune": tune, **{k: (lambda v: lambda s, c: v)(v)
                                               for k, v in outputs.items()}}
spec = approved_copy(Path("specs/fraud.yaml"), Path(sys.argv[1]).parent, TRAIN_ONLY)
sys.exit(main(["--no-color", "run", str(spec), *TRAIN_ONLY, "--store", sys.argv[1],
               *sys.argv[2:]]))
"""


def _fake_run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", FAKE_RUN, str(tmp_path / "store"), *args],
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT),
                                             COLUMNS="200"),
                          capture_output=True, text=True, timeout=120)


def test_run_prints_lifecycles_progress_and_keeps_rays_output_in_the_log(
        tmp_path: Path) -> None:
    r = _fake_run(tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "worker line" not in r.stdout + r.stderr and "== Status ==" not in r.stdout
    assert "✓ tune" in r.stdout and "  tune: 3/4 trials" in r.stdout
    assert len(r.stdout.splitlines()) < 40, r.stdout
    [run_id] = os.listdir(tmp_path / "store" / "runs")
    log = tmp_path / "store" / "runs" / run_id / "run.log"
    assert f"Ray's and Tune's output: {log} (--verbose streams it)" in r.stdout
    text = log.read_text()
    assert text.count("worker line") == 100 and text.count("== Status ==") == 100


def test_verbose_also_streams_rays_output(tmp_path: Path) -> None:
    r = _fake_run(tmp_path, "--verbose")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("worker line") == 100 and "✓ tune" in r.stdout


def test_the_live_display_never_takes_over_pythons_stdout() -> None:
    """rich's Live redirects sys.stdout through the display by default: on a terminal,
    every print of Ray's would have bypassed the run's log."""
    import io

    from rich.console import Console

    before = sys.stdout, sys.stderr
    with RunProgress(Console(file=io.StringIO(), force_terminal=True)) as display:
        assert display.bars is not None and (sys.stdout, sys.stderr) == before
