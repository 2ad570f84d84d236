"""Reading sources with pyarrow and checking the data contract: columns, types, ranges,
categories, null limits. Every violation names the column, the rule and how many rows
break it. Pure pyarrow: no Ray here."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv
import pyarrow.dataset as pads
import pyarrow.fs as pafs

_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".arrow": "arrow",
            ".feather": "feather", ".ipc": "arrow"}


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


def _filesystem(path: str, root: str) -> tuple[pafs.FileSystem, str]:
    if "://" in path:
        return pafs.FileSystem.from_uri(path)
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


def open_dataset(source: dict[str, Any], root: str) -> tuple[pads.Dataset, list[str]]:
    """A pyarrow Dataset over a file or folder, and the files it reads (for the digest)."""
    fs, path = _filesystem(str(source["path"]), root)
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
    return dataset, sorted(dataset.files)


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
        import datetime

        day = datetime.datetime.fromtimestamp(float(since), datetime.UTC).date()
        return pc.field(column) >= pa.scalar(day, kind)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return pc.field(column) >= float(since)
    raise NotATimeColumn(f"data.time_column '{column}' has type {kind}: expected a "
                         "timestamp, a date or epoch seconds")


def read_table(source: dict[str, Any], root: str) -> pa.Table:
    dataset, _ = open_dataset(source, root)
    return dataset.to_table(columns=source.get("columns"),
                            filter=recent_rows(dataset.schema, source))


def digest_files(source: dict[str, Any], root: str) -> str:
    """sha256 over every byte of every file (mlflow.data digests sample; this does not)."""
    fs, _ = _filesystem(str(source["path"]), root)
    _, files = open_dataset(source, root)
    h = hashlib.sha256()
    for f in files:
        h.update(f.encode())
        with fs.open_input_stream(f) as stream:
            while chunk := stream.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


_TYPE_OK = {
    "float": lambda t: pa.types.is_floating(t) or pa.types.is_integer(t),
    "int": pa.types.is_integer,
    "bool": lambda t: pa.types.is_boolean(t) or pa.types.is_integer(t),
    "category": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)
    or pa.types.is_dictionary(t) or pa.types.is_integer(t) or pa.types.is_boolean(t),
    "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    "timestamp": lambda t: pa.types.is_timestamp(t) or pa.types.is_date(t),
}


def check_contract(table: pa.Table, contract: dict[str, Any], source: str) -> list[Violation]:
    out: list[Violation] = []
    rows = table.num_rows
    if rows < int(contract.get("min_rows", 1)):
        out.append(Violation(source, "*", "min_rows", rows,
                             f"present, at least {contract.get('min_rows', 1)} needed"))
    columns: dict[str, dict[str, Any]] = dict(contract["features"])
    columns[contract["label"]] = {"type": contract.get("label_type", "int"),
                                  "max_null_fraction": 0.0}
    for name, rule in columns.items():
        if name not in table.column_names:
            out.append(Violation(source, name, "presence", rows, "have no such column"))
            continue
        col = table.column(name)
        ftype = rule["type"]
        if not _TYPE_OK[ftype](col.type):
            out.append(Violation(source, name, f"type {ftype}", rows,
                                 f"are of type {col.type}"))
            continue
        nulls = col.null_count
        limit = float(rule.get("max_null_fraction", 0.0))
        if rows and nulls / rows > limit:
            out.append(Violation(source, name, f"max_null_fraction {limit:g}", nulls,
                                 f"are null ({nulls / rows:.1%})"))
        if rule.get("min") is not None:
            bad = pc.sum(pc.less(col, rule["min"])).as_py() or 0
            if bad:
                out.append(Violation(source, name, f"min {rule['min']:g}", bad,
                                     f"are below {rule['min']:g}"))
        if rule.get("max") is not None:
            bad = pc.sum(pc.greater(col, rule["max"])).as_py() or 0
            if bad:
                out.append(Violation(source, name, f"max {rule['max']:g}", bad,
                                     f"are above {rule['max']:g}"))
        if rule.get("categories") is not None:
            allowed = pa.array([str(c) for c in rule["categories"]])
            as_text = pc.cast(col, pa.string()) if not pa.types.is_dictionary(col.type) \
                else pc.cast(col.combine_chunks().dictionary_decode(), pa.string())
            unknown = pc.invert(pc.is_in(as_text, value_set=allowed))
            bad = pc.sum(pc.and_(unknown, pc.is_valid(as_text))).as_py() or 0
            if bad:
                seen = pc.unique(pc.filter(as_text, unknown)).to_pylist()[:5]
                out.append(Violation(source, name, "categories", bad,
                                     f"hold values outside the list (e.g. {seen})"))
    return out


def feature_info(table: pa.Table, contract: dict[str, Any]) -> dict[str, Any]:
    """What training code needs to encode features the same way everywhere."""
    stats: dict[str, dict[str, float]] = {}
    categories: dict[str, list[Any]] = {}
    for name, rule in contract["features"].items():
        col = table.column(name)
        if rule["type"] in ("float", "int"):
            values = pc.cast(col, pa.float64())
            stats[name] = {"mean": float(pc.mean(values).as_py() or 0.0),
                           "std": float(pc.stddev(values).as_py() or 0.0)}
        elif rule["type"] in ("category", "bool"):
            if rule.get("categories") is not None:
                categories[name] = [str(c) for c in rule["categories"]]
            else:
                categories[name] = sorted(str(v) for v in pc.unique(col).to_pylist()
                                          if v is not None)
    return {"label": contract["label"],
            "features": {n: ("category" if r["type"] == "bool" else r["type"])
                         for n, r in contract["features"].items()},
            "categories": categories, "stats": stats}
