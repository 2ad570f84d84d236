"""The fraud example as a logistic regression trained by streaming SGD in plain numpy:
for training data of any size. Each pass reads the worker's shard a batch at a time
(nothing but the batch and the weights in memory), so a source far larger than a worker
trains as well as a small one. Runs with `framework: sklearn` (one Ray Train worker, no
torch); the checkpoint is a small JSON file.

    train.entrypoint: examples.fraud.linear:train_loop
    train.framework: sklearn
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .model import _auc

CHECKPOINT = "linear.json"


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def _x(table: Any, info: dict[str, Any]) -> np.ndarray:
    """A pyarrow table's features, encoded as model.py encodes them (numbers scaled,
    categories one-hot) without turning strings into Python objects; a missing value
    counts as the feature's mean (0 once scaled)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = []
    for name, ftype in info["features"].items():
        column = table.column(name)
        if ftype == "category":
            categories = info["categories"][name]
            codes = pc.fill_null(pc.index_in(pc.cast(column, pa.string()),
                                              value_set=pa.array(categories)), -1)
            index = codes.to_numpy(zero_copy_only=False)
            onehot = np.zeros((len(index), len(categories)))
            known = np.flatnonzero(index >= 0)
            onehot[known, index[known]] = 1.0
            parts.append(onehot)
        else:
            stats = info["stats"][name]
            values = column.to_numpy(zero_copy_only=False).astype(np.float64)
            parts.append(((values - stats["mean"]) / (stats["std"] or 1.0))[:, None])
    return np.nan_to_num(np.concatenate(parts, axis=1))


def train_loop(config: dict[str, Any]) -> None:
    import ray.train

    info = config["lifecycle"]
    label = info["label"]
    n_in = sum(len(info["categories"][f]) if t == "category" else 1
               for f, t in info["features"].items())
    w, b = np.zeros(n_in), 0.0
    lr = float(config.get("lr", 0.1))
    batch_size = int(config.get("batch_size", 65_536))
    start = 0
    resumed = ray.train.get_checkpoint()
    if resumed is not None:
        with resumed.as_directory() as d:
            saved = json.loads((Path(d) / CHECKPOINT).read_text())
            w, b, start = np.asarray(saved["w"]), float(saved["b"]), saved["epoch"] + 1
    train = ray.train.get_dataset_shard("train")
    evaluation = ray.train.get_dataset_shard("eval")
    for epoch in range(start, int(config.get("epochs", 1))):
        rows, loss = 0, 0.0
        for batch in train.iter_batches(batch_size=batch_size, batch_format="pyarrow"):
            x = _x(batch, info)
            y = batch.column(label).to_numpy(zero_copy_only=False).astype(np.float64)
            p = _sigmoid(x @ w + b)
            w -= lr * (x.T @ (p - y)) / len(y)
            b -= lr * float(np.mean(p - y))
            loss += float(-np.sum(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)))
            rows += len(y)
        scores, labels = [], []
        for batch in evaluation.iter_batches(batch_size=batch_size, batch_format="pyarrow"):
            scores.append(_sigmoid(_x(batch, info) @ w + b))
            labels.append(batch.column(label).to_numpy(zero_copy_only=False))
        metrics = {"epoch": epoch, "rows": rows, "loss": loss / max(rows, 1),
                   "val_auc": _auc(np.concatenate(labels), np.concatenate(scores))
                   if scores else 0.5}
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / CHECKPOINT).write_text(json.dumps(
                {"w": w.tolist(), "b": b, "epoch": epoch, "info": info}))
            checkpoint = ray.train.Checkpoint.from_directory(d) \
                if ray.train.get_context().get_world_rank() == 0 else None
            ray.train.report(metrics, checkpoint=checkpoint)


def load(checkpoint_dir: str) -> Any:
    saved = json.loads((Path(checkpoint_dir) / CHECKPOINT).read_text())
    w, b, info = np.asarray(saved["w"]), float(saved["b"]), saved["info"]

    def score(table: Any) -> np.ndarray:
        if not hasattr(table, "column"):  # a dict of columns
            import pyarrow as pa

            table = pa.table({name: table[name] for name in info["features"]})
        return _sigmoid(_x(table, info) @ w + b)

    return score


def predict(checkpoint_dir: str, table: Any) -> np.ndarray:
    """Fraud probability for every row of a pyarrow Table (or a dict of columns)."""
    return load(checkpoint_dir)(table)  # type: ignore[no-any-return]
