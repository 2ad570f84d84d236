"""Reading the data stage's sources for the stages after it, in bounded memory: Ray Data
datasets for training and tuning, the contract counted by Ray Data tasks for sources
above the distributed threshold, and a seeded uniform sample of a stream (the monitors'
reference).

Sizes, in bytes of the source's files:
- up to `IN_MEMORY_BYTES` (64 MiB) a source is read by pyarrow on the driver and handed
  to Ray Data as Arrow: no read tasks to start (~20 s saved on a cold local cluster),
  and the driver holds at most this much of it;
- above, train and tune read it with Ray Data's parallel readers, streamed epoch by
  epoch (never materialized whole in the object store);
- above `distributed_bytes()` (default 2 GiB, `LIFECYCLE_DATA_DISTRIBUTED_BYTES`) the
  data stage counts the contract with Ray Data tasks across the cluster instead of one
  stream on the driver (Parquet and CSV; Arrow files are always streamed)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ..store.fs import SECRET_SCHEME, by_reference
from .contract import (
    ColumnTally,
    ContractTally,
    OpenedSource,
    open_source,
    read_table,
    recent_rows,
)

IN_MEMORY_BYTES = 64 * 1024 * 1024
DISTRIBUTED_BYTES = 2 * 1024 ** 3
DISTRIBUTED_ENV = "LIFECYCLE_DATA_DISTRIBUTED_BYTES"


def distributed_bytes() -> int:
    """The size above which the data stage counts with Ray Data tasks."""
    text = os.environ.get(DISTRIBUTED_ENV)
    return int(float(text)) if text else DISTRIBUTED_BYTES


def _ray_read(opened: OpenedSource, source: dict[str, Any], columns: list[str] | None) -> Any:
    """A lazy Ray Data dataset over the source's files (Parquet or CSV), the recent-data
    filter applied; None for formats Ray Data does not read (Arrow IPC)."""
    import ray.data

    paths = [f.path for f in opened.files]
    # Ray Data pickles the filesystem into every read task: a location with secret://
    # references travels as itself, each task resolving them (pyarrow's S3 filesystem
    # would carry the resolved keys); one without them carries no key to begin with
    location = str(source["path"])
    fs = by_reference(location) if SECRET_SCHEME in location else opened.fs
    recent = recent_rows(opened.dataset.schema, source)
    time_column = str(source.get("time_column"))
    read = columns
    if recent is not None and columns is not None and time_column not in columns:
        read = [*columns, time_column]
    if opened.format == "parquet":
        ds = ray.data.read_parquet(paths, filesystem=fs, columns=read)
    elif opened.format == "csv":
        import pyarrow.csv as pacsv

        ds = ray.data.read_csv(paths, filesystem=fs, parse_options=pacsv.ParseOptions(
            delimiter=str(source.get("csv_delimiter", ","))))
    else:
        return None
    if recent is not None:
        ds = ds.map_batches(_keep, fn_args=(recent,),  # type: ignore[arg-type]
                            batch_format="pyarrow")
    if columns is not None and read != columns:
        ds = ds.select_columns(columns)
    return ds


def _keep(batch: Any, recent: Any) -> Any:
    return batch.filter(recent)


def tally_with_ray_data(opened: OpenedSource, source: dict[str, Any],
                        tally: ContractTally) -> ContractTally | None:
    """The contract counted by Ray Data tasks, one partial tally per block, merged here
    as they arrive (the driver holds one partial at a time). None when Ray Data cannot
    read the format."""
    ds = _ray_read(opened, source, tally.checked)
    if ds is None:
        return None
    empty = json.dumps(ContractTally(tally.contract, columns={
        n: ColumnTally(values=None if t.values is None else set())
        for n, t in tally.columns.items()}).to_json())
    partials = ds.map_batches(_tally_block, fn_args=(tally.contract, empty),  # type: ignore[arg-type]
                              batch_format="pyarrow", batch_size=None)
    for row in partials.iter_rows():
        tally.merge_json(json.loads(row["tally"]))
    return tally


def _tally_block(batch: Any, contract: dict[str, Any], empty: str) -> Any:
    import pyarrow as pa

    tally = ContractTally(contract)
    tally.merge_json(json.loads(empty))
    tally.update(batch)
    return pa.table({"tally": [json.dumps(tally.to_json())]})


def ray_datasets(data_out: dict[str, Any], root: str) -> dict[str, Any]:
    """The training and evaluation sources as Ray Data datasets: small ones from Arrow
    read here, large ones read by Ray Data's parallel readers and streamed (every epoch
    and trial reads them again rather than holding them in the object store)."""
    import ray.data

    out: dict[str, Any] = {}
    for role in ("train", "eval"):
        source = data_out["sources"].get(role)
        if source is None:
            continue
        opened = open_source(source, root)
        if opened.bytes <= IN_MEMORY_BYTES:
            out[role] = ray.data.from_arrow(read_table(source, root))
            continue
        ds = _ray_read(opened, source, source.get("columns"))
        if ds is None:  # Arrow IPC: batches put in the object store one at a time
            from .contract import scan

            ds = ray.data.from_arrow_refs([
                ray.put(_table(batch)) for batch in scan(opened, source)])
        out[role] = ds
    if "eval" not in out:
        out["eval"] = out["train"]
    return out


def _table(batch: Any) -> Any:
    import pyarrow as pa

    return pa.Table.from_batches([batch])


class BottomK:
    """A seeded uniform sample of `k` rows from a stream of any length: every row gets a
    random key and the `k` smallest keys are kept (rows whose key cannot make it are
    dropped before they are encoded). Memory: `k` rows plus one batch; the sample keeps
    the stream's order."""

    def __init__(self, k: int, seed: int) -> None:
        self.k = k
        self.rng = np.random.default_rng(seed)
        self.seen = 0
        self.base = 0  # the stream position of the rows last offered
        self.keys = np.empty(0)
        self.order = np.empty(0, dtype=np.int64)
        self.rows: np.ndarray | None = None

    def threshold(self) -> float:
        """Keys at or above this cannot enter the sample."""
        return float(self.keys.max()) if len(self.keys) >= self.k else 1.0

    def offer(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Keys for the next `n` rows of the stream: the positions among them that may
        still enter the sample, and their keys."""
        keys = self.rng.random(n)
        chosen = np.flatnonzero(keys < self.threshold())
        self.base, self.seen = self.seen, self.seen + n
        return chosen, keys[chosen]

    def add(self, positions: np.ndarray, keys: np.ndarray, rows: np.ndarray) -> None:
        """Rows of the last `offer` (those of its positions that were complete)."""
        order = self.base + positions
        all_rows = rows if self.rows is None else np.concatenate([self.rows, rows])
        all_keys = np.concatenate([self.keys, keys])
        all_order = np.concatenate([self.order, order])
        if len(all_keys) > self.k:
            keep = np.argpartition(all_keys, self.k - 1)[: self.k]
            all_rows, all_keys, all_order = all_rows[keep], all_keys[keep], all_order[keep]
        self.rows, self.keys, self.order = all_rows, all_keys, all_order

    def sample(self, width: int) -> np.ndarray:
        if self.rows is None:
            return np.empty((0, width), dtype=np.float32)
        return self.rows[np.argsort(self.order, kind="stable")]
