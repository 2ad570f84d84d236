"""Reading sources and checking the data contract in bounded memory: columns, types,
ranges, categories, null limits. Every violation names the column, the rule and exactly
how many rows break it.

A source is never read whole: `scan` yields record batches (pyarrow's dataset scanner,
little read-ahead), and a `ContractTally` counts each batch and merges with other
tallies, so counting a source in one stream on the driver or in many Ray Data tasks on a
cluster gives the same exact counts (the feature statistics are merged with the parallel
formula for means and variances). Types and presence are checked once, on the schema.
Pure pyarrow: no Ray here (the Ray Data path lives in `datasets`)."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from ..store import fs as locations

_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".arrow": "arrow",
            ".feather": "feather", ".ipc": "arrow"}
# rows per record batch: a batch of the fraud example's columns is ~3 MB decoded
BATCH_ROWS = 65_536
EXAMPLES = 5  # values outside a category list quoted in a violation


@dataclass(frozen=True)
class Violation:
    source: str
    column: str
    rule: str
    offending: int
    detail: str

    def format(self) -> str:
        return (f"{self.source}: column '{self.column}' breaks {self.rule}: "
                f"{self.offending:,} row(s) {self.detail}")


def source_filesystem(path: str, root: str) -> tuple[pafs.FileSystem, str]:
    """A source's filesystem and its path there: a URI as written (credentials from the
    environment or `secret://` references), else a path under the project root."""
    if "://" in path:
        return locations.filesystem(path)
    full = path if path.startswith("/") else f"{root.rstrip('/')}/{path}"
    return pafs.LocalFileSystem(), full


def source_format(source: dict[str, Any], fs: pafs.FileSystem, path: str) -> str:
    fmt = str(source.get("format", "auto"))
    if fmt != "auto":
        return "arrow" if fmt == "feather" else fmt
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.Directory:
        return "parquet"
    for ext, name in _FORMATS.items():
        if path.lower().endswith(ext):
            return "arrow" if name == "feather" else name
    return "parquet"


@dataclass(frozen=True)
class OpenedSource:
    """A source opened for reading: its dataset, where it lies and the files it reads."""

    dataset: pads.Dataset
    fs: pafs.FileSystem
    path: str  # the file or folder on `fs`
    format: str
    files: tuple[pafs.FileInfo, ...]  # sorted by path

    @property
    def bytes(self) -> int:
        return sum(f.size or 0 for f in self.files)

    def relative(self, file: str) -> str:
        """A file's name inside the source: '' for a one-file source, else its path under
        the folder. Never where the folder lies (a project moved, or unpacked by a Ray
        Job under a new name, holds the same data)."""
        base = self.path.rstrip("/")
        if file == base:
            return ""
        return file[len(base) + 1:] if file.startswith(base + "/") else file.rsplit("/", 1)[-1]


def open_source(source: dict[str, Any], root: str) -> OpenedSource:
    """A pyarrow Dataset over a file or folder (metadata only: nothing read yet)."""
    fs, path = source_filesystem(str(source["path"]), root)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(source["path"])
    fmt = source_format(source, fs, path)
    file_format: Any = fmt
    if fmt == "csv":
        file_format = pads.CsvFileFormat(
            parse_options=pa.csv.ParseOptions(delimiter=str(source.get("csv_delimiter", ","))))
    elif fmt == "arrow":
        file_format = "ipc"
    dataset = pads.dataset(path, filesystem=fs, format=file_format)
    files = tuple(sorted(fs.get_file_info(list(dataset.files)), key=lambda f: f.path))
    return OpenedSource(dataset, fs, path, fmt, files)


class NotATimeColumn(ValueError):
    """`data.time_column` is missing from the source or holds no times."""


def recent_rows(schema: pa.Schema, source: dict[str, Any]) -> pc.Expression | None:
    """The filter a retrain with `recent_data` puts on the training source: rows whose
    `time_column` is at or after `since` (epoch seconds). A timestamp column of any unit
    and zone, a date, or a number of epoch seconds."""
    since, column = source.get("since"), source.get("time_column")
    if since is None or column is None:
        return None
    if column not in schema.names:
        raise NotATimeColumn(f"data.time_column '{column}' is not a column of "
                             f"{source['path']} (columns: {', '.join(schema.names)})")
    kind = schema.field(column).type
    if pa.types.is_timestamp(kind):
        value = pa.scalar(int(float(since) * 1_000_000), pa.timestamp("us", tz="UTC"))
        return pc.field(column) >= pc.cast(value, kind, safe=False)  # to the unit: truncated
    if pa.types.is_date(kind):
        day = datetime.datetime.fromtimestamp(float(since), datetime.UTC).date()
        return pc.field(column) >= pa.scalar(day, kind)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return pc.field(column) >= float(since)
    raise NotATimeColumn(f"data.time_column '{column}' has type {kind}: expected a "
                         "timestamp, a date or epoch seconds")


def scan(opened: OpenedSource, source: dict[str, Any], columns: list[str] | None = None,
         batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """The source's rows in record batches: at most a batch or two (and the Parquet row
    group being decoded) in memory at once. `columns` default to the source's `columns`
    (all when it has none); a retrain's recent_data filter applies."""
    wanted = columns if columns is not None else source.get("columns")
    # Measured on a 1.2 GB file: Parquet's pre-buffering reads every row group of a file
    # ahead (the file held whole), and with decoding on pyarrow's threads the decoded
    # batches pile up ahead of a slower consumer (a third of the file). Both off, memory
    # stays flat (one row group's columns and a batch) at the same speed.
    options = pads.ParquetFragmentScanOptions(pre_buffer=False) \
        if opened.format == "parquet" else None
    scanner = opened.dataset.scanner(
        columns=wanted, filter=recent_rows(opened.dataset.schema, source),
        batch_size=batch_rows, batch_readahead=1, fragment_readahead=1,
        fragment_scan_options=options, use_threads=False)
    yield from scanner.to_batches()


def read_table(source: dict[str, Any], root: str) -> pa.Table:
    """A source whole, as one table: only for sources known to be small (the training
    data handed to Ray Data under `datasets.IN_MEMORY_BYTES`, tests)."""
    opened = open_source(source, root)
    return opened.dataset.to_table(columns=source.get("columns"),
                                   filter=recent_rows(opened.dataset.schema, source))


# --- the contract, counted batch by batch ----------------------------------------------

_TYPE_OK = {
    "float": lambda t: pa.types.is_floating(t) or pa.types.is_integer(t),
    "int": pa.types.is_integer,
    "bool": lambda t: pa.types.is_boolean(t) or pa.types.is_integer(t),
    "category": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)
    or pa.types.is_dictionary(t) or pa.types.is_integer(t) or pa.types.is_boolean(t),
    "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    "timestamp": lambda t: pa.types.is_timestamp(t) or pa.types.is_date(t),
}


def contract_rules(contract: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Column -> rule, the features in the contract's order and then the label."""
    rules: dict[str, dict[str, Any]] = dict(contract["features"])
    rules[contract["label"]] = {"type": contract.get("label_type", "int"),
                                "max_null_fraction": 0.0}
    return rules


@dataclass
class ColumnTally:
    """Exact counts for one column, and its statistics: count, mean and sum of squared
    deviations (numeric features), distinct values (categories without a list)."""

    nulls: int = 0
    below: int = 0
    above: int = 0
    outside: int = 0
    outside_examples: list[str] = field(default_factory=list)
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    values: set[str] | None = None

    def add_moments(self, n: int, mean: float, m2: float) -> None:
        """Chan, Golub and LeVeque's pairwise update: exact in exact arithmetic, stable
        in floating point, and independent of how the rows were split up."""
        if n == 0:
            return
        if self.n == 0:
            self.n, self.mean, self.m2 = n, mean, m2
            return
        total = self.n + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.n * n / total
        self.n = total

    def merge(self, other: ColumnTally) -> None:
        self.nulls += other.nulls
        self.below += other.below
        self.above += other.above
        self.outside += other.outside
        self.outside_examples = sorted(set(self.outside_examples)
                                       | set(other.outside_examples))[:EXAMPLES]
        self.add_moments(other.n, other.mean, other.m2)
        if other.values is not None:
            self.values = (self.values or set()) | other.values


def _count(mask: Any) -> int:
    return int(pc.sum(mask).as_py() or 0)


def _as_text(col: Any) -> Any:
    if pa.types.is_dictionary(col.type):
        col = pc.cast(col, col.type.value_type)
    return pc.cast(col, pa.string())


@dataclass
class ContractTally:
    """What a source holds against the contract, counted a batch at a time. `start`
    checks presence and types on the schema; `update` counts a batch; `merge` adds a
    tally counted elsewhere (another Ray Data task)."""

    contract: dict[str, Any]
    rows: int = 0
    columns: dict[str, ColumnTally] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    mistyped: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, contract: dict[str, Any], schema: pa.Schema,
              readable: list[str] | None = None) -> ContractTally:
        """`readable`: the source's `columns`, when it reads only those."""
        tally = cls(contract)
        present = set(schema.names) if readable is None else set(schema.names) & set(readable)
        for name, rule in contract_rules(contract).items():
            if name not in present:
                tally.missing.append(name)
            elif not _TYPE_OK[rule["type"]](schema.field(name).type):
                tally.mistyped[name] = str(schema.field(name).type)
            else:
                tally.columns[name] = ColumnTally(
                    values=set() if _distinct(rule, name == contract["label"]) else None)
        return tally

    @property
    def checked(self) -> list[str]:
        """The columns to read: present and of an acceptable type."""
        return list(self.columns)

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        self.rows += batch.num_rows
        rules = contract_rules(self.contract)
        for name, tally in self.columns.items():
            rule, col = rules[name], batch.column(name)
            tally.nulls += col.null_count
            if rule.get("min") is not None:
                tally.below += _count(pc.less(col, rule["min"]))
            if rule.get("max") is not None:
                tally.above += _count(pc.greater(col, rule["max"]))
            if rule.get("categories") is not None:
                text = _as_text(col)
                unknown = pc.and_(pc.invert(pc.is_in(
                    text, value_set=pa.array([str(c) for c in rule["categories"]]))),
                    pc.is_valid(text))
                bad = _count(unknown)
                if bad:
                    tally.outside += bad
                    seen = pc.unique(pc.filter(text, unknown)).to_pylist()
                    tally.outside_examples = sorted(set(tally.outside_examples)
                                                    | set(seen))[:EXAMPLES]
            if rule["type"] in ("float", "int") and name != self.contract["label"]:
                values = pc.cast(col, pa.float64())
                n = int(pc.count(values).as_py() or 0)
                if n:
                    tally.add_moments(n, float(pc.mean(values).as_py()),
                                      float(pc.variance(values, ddof=0).as_py()) * n)
            if tally.values is not None:
                tally.values.update(str(v) for v in pc.unique(col).to_pylist()
                                    if v is not None)

    def merge(self, other: ContractTally) -> None:
        self.rows += other.rows
        for name, tally in other.columns.items():
            self.columns.setdefault(name, ColumnTally(
                values=None if tally.values is None else set())).merge(tally)

    def violations(self, source: str) -> list[Violation]:
        out: list[Violation] = []
        rows = self.rows
        min_rows = int(self.contract.get("min_rows", 1))
        if rows < min_rows:
            out.append(Violation(source, "*", "min_rows", rows,
                                 f"present, at least {min_rows} needed"))
        for name, rule in contract_rules(self.contract).items():
            ftype = rule["type"]
            if name in self.missing:
                out.append(Violation(source, name, "presence", rows, "have no such column"))
                continue
            if name in self.mistyped:
                out.append(Violation(source, name, f"type {ftype}", rows,
                                     f"are of type {self.mistyped[name]}"))
                continue
            t = self.columns[name]
            limit = float(rule.get("max_null_fraction", 0.0))
            if rows and t.nulls / rows > limit:
                out.append(Violation(source, name, f"max_null_fraction {limit:g}", t.nulls,
                                     f"are null ({t.nulls / rows:.1%})"))
            if t.below:
                out.append(Violation(source, name, f"min {rule['min']:g}", t.below,
                                     f"are below {rule['min']:g}"))
            if t.above:
                out.append(Violation(source, name, f"max {rule['max']:g}", t.above,
                                     f"are above {rule['max']:g}"))
            if t.outside:
                out.append(Violation(source, name, "categories", t.outside,
                                     f"hold values outside the list (e.g. "
                                     f"{t.outside_examples})"))
        return out

    def feature_info(self) -> dict[str, Any]:
        """What training code needs to encode features the same way everywhere."""
        stats: dict[str, dict[str, float]] = {}
        categories: dict[str, list[Any]] = {}
        for name, rule in self.contract["features"].items():
            t = self.columns.get(name, ColumnTally())
            if rule["type"] in ("float", "int"):
                stats[name] = {"mean": t.mean if t.n else 0.0,
                               "std": math.sqrt(t.m2 / t.n) if t.n else 0.0}
            elif rule["type"] in ("category", "bool"):
                categories[name] = ([str(c) for c in rule["categories"]]
                                    if rule.get("categories") is not None
                                    else sorted(t.values or []))
        return {"label": self.contract["label"],
                "features": {n: ("category" if r["type"] == "bool" else r["type"])
                             for n, r in self.contract["features"].items()},
                "categories": categories, "stats": stats}

    def counts(self) -> dict[str, Any]:
        """The exact counts as plain data: the data stage journals them per source."""
        return {"rows": self.rows, "columns": {
            name: {k: v for k, v in (("nulls", t.nulls), ("below_min", t.below),
                                     ("above_max", t.above), ("outside_categories",
                                                              t.outside)) if v}
            for name, t in self.columns.items()}}

    def to_json(self) -> dict[str, Any]:
        """A partial tally as it travels back from a Ray Data task (plain JSON, never a
        pickle of ours read back)."""
        return {"rows": self.rows, "columns": {
            n: {**t.__dict__, "values": None if t.values is None else sorted(t.values)}
            for n, t in self.columns.items()}}

    def merge_json(self, partial: dict[str, Any]) -> None:
        other = ContractTally(self.contract, rows=int(partial["rows"]))
        other.columns = {n: ColumnTally(**{**t, "values": None if t["values"] is None
                                            else set(t["values"])})
                         for n, t in partial["columns"].items()}
        self.merge(other)


def _distinct(rule: dict[str, Any], is_label: bool) -> bool:
    """Whether the column's distinct values are collected: a category or bool feature
    without a list (the categories training encodes)."""
    return not is_label and rule["type"] in ("category", "bool") \
        and rule.get("categories") is None


def tally_source(opened: OpenedSource, source: dict[str, Any], contract: dict[str, Any],
                 batch_rows: int = BATCH_ROWS) -> ContractTally:
    """The contract counted over the whole source in one stream."""
    tally = ContractTally.start(contract, opened.dataset.schema, source.get("columns"))
    for batch in scan(opened, source, tally.checked, batch_rows):
        tally.update(batch)
    return tally


def check_contract(table: pa.Table, contract: dict[str, Any], source: str) -> list[Violation]:
    """The contract's violations in a table already in memory."""
    tally = ContractTally.start(contract, table.schema)
    tally.update(table.select(tally.checked))
    return tally.violations(source)


def feature_info(table: pa.Table, contract: dict[str, Any]) -> dict[str, Any]:
    tally = ContractTally.start(contract, table.schema)
    tally.update(table.select(tally.checked))
    return tally.feature_info()
