"""The data stage's sources as Ray Data datasets (read by Ray, in parallel, from the
same files the data stage checked)."""

from __future__ import annotations

from typing import Any

from .contract import _filesystem, source_format

IN_MEMORY_BYTES = 256 * 1024 * 1024


def _size(fs: Any, files: list[str]) -> int:
    return sum(info.size or 0 for info in fs.get_file_info(files))


def ray_datasets(data_out: dict[str, Any], root: str) -> dict[str, Any]:
    """Small sources are read by pyarrow here and handed to Ray Data as Arrow (no read
    tasks to start: ~20 s saved on a cold local cluster); large ones are read by Ray
    Data's parallel readers."""
    import ray.data

    from .contract import open_dataset, read_table, recent_rows

    out: dict[str, Any] = {}
    for role in ("train", "eval"):
        source = data_out["sources"].get(role)
        if source is None:
            continue
        fs, path = _filesystem(str(source["path"]), root)
        fmt = source_format(source, fs, path)
        columns = source.get("columns")
        dataset, files = open_dataset(source, root)
        recent = recent_rows(dataset.schema, source)  # a retrain's recent_data
        if _size(fs, files) <= IN_MEMORY_BYTES:
            out[role] = ray.data.from_arrow(read_table(source, root))
            continue
        if fmt == "parquet":
            time_column = source.get("time_column")
            ds = ray.data.read_parquet(path, filesystem=fs, columns=(
                columns + [time_column] if recent is not None and columns is not None
                and time_column not in columns else columns))
        elif fmt == "csv":
            import pyarrow.csv as pacsv

            ds = ray.data.read_csv(path, filesystem=fs, parse_options=pacsv.ParseOptions(
                delimiter=str(source.get("csv_delimiter", ","))))
        else:
            ds = ray.data.from_arrow(read_table(source, root))
            recent = None
        if recent is not None:
            ds = ds.map_batches(_keep, fn_args=(recent,),  # type: ignore[arg-type]
                                batch_format="pyarrow")
            if columns is not None:
                ds = ds.select_columns(columns)
        # read once, keep the blocks in the object store: every trial and epoch reuses them
        out[role] = ds.materialize()
    if "eval" not in out:
        out["eval"] = out["train"]
    return out


def _keep(batch: Any, recent: Any) -> Any:
    return batch.filter(recent)
