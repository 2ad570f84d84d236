"""The run journal: append-only, one JSON record per event, durable before the run goes
on. Locally it is a JSON-lines file appended and fsynced per record; on object stores
(which cannot append) each record is its own object, named by sequence number and writer
(the runner, and on the cluster the rollout controller and the monitor, write to the same
run: a writer's name keeps their objects apart) and read back in time order."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections.abc import Iterator
from typing import Any

from .store import Store


def new_run_id() -> str:
    """A run's id: its start time (UTC, sortable) and a random suffix."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class Journal:
    def __init__(self, store: Store, run_id: str, writer: str = "") -> None:
        self.store = store
        self.run_id = run_id
        self.writer = writer
        self.seq = 0
        self.rel = f"runs/{run_id}"

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        record = {"seq": self.seq, "time": _now(), "run_id": self.run_id, "event": event,
                  **fields}
        line = json.dumps(record, sort_keys=True, default=str)
        if self.store.is_local:
            path = self.store.path(self.rel, "journal.jsonl")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (line + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        else:
            suffix = f"-{self.writer}" if self.writer else ""
            self.store.write_json(f"{self.rel}/journal/{self.seq:08d}{suffix}.json", record)
        return record


def read_journal(store: Store, run_id: str) -> Iterator[dict[str, Any]]:
    rel = f"runs/{run_id}"
    if store.is_local:
        path = store.path(rel, "journal.jsonl")
        if not os.path.exists(path):
            return
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        return  # a torn last line from a hard kill: ignore it
    else:
        records = [store.read_json(f"{rel}/journal/{name}")
                   for name in store.list_dir(f"{rel}/journal")]
        yield from sorted((r for r in records if r is not None),
                          key=lambda r: (r["time"], r["seq"]))


def list_runs(store: Store) -> list[str]:
    return store.list_dir("runs")
