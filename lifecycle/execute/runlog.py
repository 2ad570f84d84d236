"""The run's log: everything the process and its children write to stdout and stderr
while a run runs — Ray's notices, Tune's trial tables, raylet warnings, worker output —
goes to `runs/RUN_ID/run.log` in the store, and the terminal keeps lifecycle's own
progress. The capture is at the file-descriptor level, so output from C++, from child
processes and from libraries that cached `sys.stderr` is caught too. `--verbose`
streams the log to the terminal as well.

A remote store (s3://, gs://) cannot be appended to: the log is written to a local file
and copied into the store when the run ends."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

from ..store import Store

LOG = "run.log"


def run_log_of(store: str, run_id: str | None) -> str:
    """Where a run's log is in the store."""
    return Store(store).uri_of("runs", run_id or "RUN_ID", LOG)


@dataclass
class RunLog:
    terminal: TextIO  # where lifecycle's own output goes (the original stdout)
    path: str  # the log file as this machine sees it (a local copy for remote stores)
    location: str  # the log in the store
    tail: _Tail | None = None

    def drain(self) -> None:
        """Stream what the log holds so far and stop streaming (--verbose): call it
        before what `on_output` writes to goes away."""
        sys.stdout.flush()
        sys.stderr.flush()
        if self.tail is not None:
            self.tail.stop()


class _Tail(threading.Thread):
    """Copies what the log receives to `on_output`, line by line (--verbose)."""

    def __init__(self, path: str, on_output: Callable[[str], None]) -> None:
        super().__init__(name="run-log-tail", daemon=True)
        self.file = open(path, encoding="utf-8", errors="replace")
        self.file.seek(0, os.SEEK_END)
        self.on_output = on_output
        self.done = threading.Event()

    def run(self) -> None:
        pending = ""
        while True:
            finishing = self.done.is_set()
            chunk = self.file.read()
            if chunk:
                pending += chunk
                *lines, pending = pending.split("\n")
                for line in lines:
                    self.on_output(line)
            elif finishing:
                break
            else:
                self.done.wait(0.2)
        if pending:
            self.on_output(pending)
        self.file.close()

    def stop(self) -> None:
        if self.is_alive():
            self.done.set()
            self.join(timeout=5)


@contextmanager
def captured(store: Store, run_id: str,
             on_output: Callable[[str], None] | None = None) -> Iterator[RunLog]:
    """While active, fds 1 and 2 write to the run's log; `RunLog.terminal` writes where
    stdout went before. `on_output` (--verbose) gets every line the log receives."""
    location = run_log_of(store.uri, run_id)
    if store.is_local:
        path = store.path("runs", run_id, LOG)
        os.makedirs(os.path.dirname(path), exist_ok=True)
    else:
        fd, path = tempfile.mkstemp(prefix=f"lifecycle-{run_id}-", suffix=".log")
        os.close(fd)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    terminal = os.fdopen(os.dup(saved_out), "w", buffering=1, encoding="utf-8")
    tail = _Tail(path, on_output) if on_output is not None else None
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    # Python's own streams may not be fds 1 and 2 (a wrapper, a test's capture): while the
    # run runs they are
    streams = sys.stdout, sys.stderr
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)
    if tail is not None:
        tail.start()
    try:
        yield RunLog(terminal=terminal, path=path, location=location, tail=tail)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = streams
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        if tail is not None:
            tail.stop()
        terminal.close()
        if not store.is_local:
            _upload(store, path, f"runs/{run_id}/{LOG}")


def _upload(store: Store, local: str, rel: str) -> None:
    fs, _ = store.fs_and_base
    with open(local, "rb") as f, fs.open_output_stream(store.path(rel)) as out:
        out.write(f.read())
    os.unlink(local)
