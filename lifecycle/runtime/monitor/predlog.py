"""The prediction log and the label log: records buffered in memory and written as
Parquet to the run store (any pyarrow.fs location), partitioned Hive-style by date and
model version (`predictions/APP/date=2026-11-29/version=3/*.parquet`), so pyarrow,
`lifecycle logs` and Ray Data read them directly.

Off the request path and bounded: a record is only appended to a buffer; a writer thread
flushes by size and by time; when the buffer is full or the store fails, records are
dropped and counted — never a delayed or failed request. Old date partitions are removed
after the retention."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..contract import ARROW_TYPES, FeatureCheck

# the columns every prediction record has (besides its features), and the label log's
PREDICTION_COLUMNS = {"time": "timestamp", "request_id": "string", "row": "int64",
                      "slot": "string", "latency_ms": "float64", "prediction": "float64"}
LABEL_COLUMNS = {"time": "timestamp", "request_id": "string", "row": "int64",
                 "label": "float64"}


def prediction_columns(features: dict[str, FeatureCheck], redact: Sequence[str],
                       redaction: str) -> dict[str, str]:
    """The prediction log's columns and their types: a feature keeps its contract type
    (text for categories and timestamps); a hashed feature is text; a dropped one is
    not a column."""
    out = dict(PREDICTION_COLUMNS)
    for name, check in features.items():
        if name in redact:
            if redaction == "hash":
                out[name] = "string"
        else:
            out[name] = ARROW_TYPES.get(check.type, "string")
    return out


def redacted(value: Any, how: str) -> str | None:
    """A redacted input: a sha256 of its text (joins and counts still work), or dropped."""
    if how == "drop" or value is None:
        return None
    return hashlib.sha256(str(value).encode()).hexdigest()[:32]


@dataclass
class LogStats:
    written: int = 0
    dropped: int = 0  # full buffer, or a failed write
    failed_writes: int = 0
    files: int = 0
    last_error: str | None = None


@dataclass
class ParquetLog:
    """One log (predictions or labels) of one writer (a Monitor replica)."""

    store: str
    folder: str  # e.g. predictions/fraud-detector
    writer: str
    flush_rows: int = 1000
    flush_interval_s: float = 10.0
    max_buffered: int = 20_000
    retention_s: float | None = None
    partition_by_version: bool = True
    columns: dict[str, str] = field(default_factory=dict)  # name -> pyarrow type name
    buffer: list[dict[str, Any]] = field(default_factory=list)
    stats: LogStats = field(default_factory=LogStats)
    lock: threading.Lock = field(default_factory=threading.Lock)
    flushed_at: float = 0.0
    seq: int = 0
    expired_at: float = 0.0

    def add(self, records: Sequence[dict[str, Any]]) -> None:
        with self.lock:
            room = self.max_buffered - len(self.buffer)
            if room < len(records):
                self.stats.dropped += len(records) - max(room, 0)
                records = records[:max(room, 0)]
            self.buffer.extend(records)

    def due(self, now: float) -> bool:
        with self.lock:
            if not self.buffer:
                return False
            return len(self.buffer) >= self.flush_rows or \
                now - self.flushed_at >= self.flush_interval_s

    def flush(self, now: float) -> None:
        """Write what is buffered (blocking: call it from a thread). A failed write drops
        and counts its records."""
        with self.lock:
            batch, self.buffer = self.buffer, []
            self.flushed_at = now
        if not batch:
            return
        try:
            written = self._write(batch, now)
            self.stats.written += len(batch)
            self.stats.files += written
        except Exception as exc:
            self.stats.dropped += len(batch)
            self.stats.failed_writes += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
        if self.retention_s is not None and now - self.expired_at > 3600:
            self.expired_at = now
            try:
                self.expire(now)
            except Exception as exc:  # retention is best effort; the next hour retries
                self.stats.last_error = f"retention: {type(exc).__name__}: {exc}"

    def _write(self, batch: list[dict[str, Any]], now: float) -> int:
        import pyarrow.parquet as pq

        from ...store import Store

        fs, _ = Store(self.store).fs_and_base
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in batch:
            day = dt.datetime.fromtimestamp(float(r["time"]), dt.UTC).date().isoformat()
            version = str(r.get("version", "")) if self.partition_by_version else ""
            groups.setdefault((day, version), []).append(r)
        files = 0
        for (day, version), records in groups.items():
            self.seq += 1
            parts = [self.folder, f"date={day}"]
            if self.partition_by_version:
                parts.append(f"version={version}")
            rel = "/".join(parts)
            target = Store(self.store).path(rel, f"{self.writer}-{int(now)}-{self.seq:06d}"
                                            ".parquet")
            fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
            pq.write_table(self.table(records), target, filesystem=fs)
            files += 1
        return files

    def table(self, records: list[dict[str, Any]]) -> Any:
        """The records as one Arrow table of the log's columns, typed the same in every
        file (so a dataset of many files reads as one table)."""
        import pyarrow as pa

        arrays, fields = [], []
        for name, kind in self.columns.items():
            values = [r.get(name) for r in records]
            if kind == "timestamp":
                kind_t = pa.timestamp("ms", tz="UTC")
                values = [None if v is None else int(float(v) * 1000) for v in values]
            else:
                kind_t = getattr(pa, kind)()
                if kind == "string":
                    values = [None if v is None else str(v) for v in values]
            arrays.append(pa.array(values, kind_t))
            fields.append(pa.field(name, kind_t))
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))

    def expire(self, now: float) -> None:
        """Remove date partitions older than the retention."""
        import pyarrow.fs as pafs

        from ...store import Store

        assert self.retention_s is not None
        store = Store(self.store)
        fs, _ = store.fs_and_base
        oldest = dt.datetime.fromtimestamp(now - self.retention_s, dt.UTC).date()
        for name in store.list_dir(self.folder):
            if not name.startswith("date="):
                continue
            try:
                day = dt.date.fromisoformat(name[len("date="):])
            except ValueError:
                continue
            if day < oldest:
                info = fs.get_file_info(store.path(self.folder, name))
                if info.type == pafs.FileType.Directory:
                    fs.delete_dir(store.path(self.folder, name))
