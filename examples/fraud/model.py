"""The fraud example's model: a small MLP trained with DDP on Ray Train.

lifecycle calls `train_loop(config)` on every Ray Train worker. `config` holds the
spec's `train.config` (with a tuning trial's values merged in) and, under `lifecycle`,
what the data stage learned: feature names and types, category values and numeric
statistics. The loop reads its shards with `ray.train.get_dataset_shard` and reports
metrics and checkpoints with `ray.train.report`, like any Ray Train loop.

`predict(checkpoint_dir, table)` scores a pyarrow Table with a saved checkpoint; the
evaluate stage and the served model use it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def _encode(columns: dict[str, Any], info: dict[str, Any]) -> np.ndarray:
    """Numeric features standardised, categories one-hot, in the contract's order."""
    parts = []
    for name, ftype in info["features"].items():
        values = np.asarray(columns[name])
        if ftype == "category":
            cats = info["categories"][name]
            parts.append(np.stack([(values == c).astype(np.float32) for c in cats], axis=1))
        else:
            stats = info["stats"][name]
            std = stats["std"] or 1.0
            parts.append(((values.astype(np.float64) - stats["mean"]) / std)
                         .astype(np.float32)[:, None])
    return np.concatenate(parts, axis=1)


def _model(n_in: int, hidden: int) -> Any:
    import torch

    return torch.nn.Sequential(torch.nn.Linear(n_in, hidden), torch.nn.ReLU(),
                               torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
                               torch.nn.Linear(hidden, 1))


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    if n_pos == 0 or n_neg == 0:
        return 0.5
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def train_loop(config: dict[str, Any]) -> None:
    import ray.train
    import ray.train.torch
    import torch

    info = config["lifecycle"]
    label = info["label"]
    torch.manual_seed(int(config.get("seed", 0)))
    n_in = sum(len(info["categories"][f]) if t == "category" else 1
               for f, t in info["features"].items())
    # prepare_model puts the model on the worker's device (a GPU with use_gpu: true);
    # every batch goes to the same device
    device = ray.train.torch.get_device()
    model = ray.train.torch.prepare_model(_model(n_in, int(config.get("hidden", 32))))
    optimiser = torch.optim.Adam(model.parameters(), lr=float(config.get("lr", 1e-3)))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    train_shard = ray.train.get_dataset_shard("train")
    eval_shard = ray.train.get_dataset_shard("eval")
    batch_size = int(config.get("batch_size", 256))
    context = ray.train.get_context()
    start = 0
    resumed = ray.train.get_checkpoint()
    if resumed is not None:
        with resumed.as_directory() as d:
            state = torch.load(Path(d) / "model.pt", weights_only=True, map_location=device)
            (model.module if hasattr(model, "module") else model).load_state_dict(state)
            start = json.loads((Path(d) / "meta.json").read_text())["epoch"] + 1
    for epoch in range(start, int(config.get("epochs", 3))):
        model.train()
        losses = []
        for batch in train_shard.iter_batches(batch_size=batch_size, batch_format="numpy"):
            x = torch.from_numpy(_encode(batch, info)).to(device)
            y = torch.from_numpy(batch[label].astype(np.float32))[:, None].to(device)
            optimiser.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimiser.step()
            losses.append(float(loss))
        model.eval()
        scores, labels = [], []
        with torch.no_grad():
            for batch in eval_shard.iter_batches(batch_size=4096, batch_format="numpy"):
                x = torch.from_numpy(_encode(batch, info)).to(device)
                scores.append(model(x).cpu().numpy().ravel())
                labels.append(batch[label])
        metrics = {"epoch": epoch, "started_at_epoch": start,  # > 0: resumed
                   "loss": float(np.mean(losses)) if losses else 0.0,
                   "val_auc": _auc(np.concatenate(labels), np.concatenate(scores))
                   if scores else 0.5}
        fault = config.get("fault_injection") or {}  # tests: kill one worker once
        with tempfile.TemporaryDirectory() as d:
            checkpoint = None
            if context.get_world_rank() == 0:
                inner = model.module if hasattr(model, "module") else model
                torch.save(inner.state_dict(), Path(d) / "model.pt")
                (Path(d) / "meta.json").write_text(json.dumps(
                    {"epoch": epoch, "n_in": n_in, "hidden": int(config.get("hidden", 32)),
                     "info": info, "serve_fault": config.get("serve_fault"),
                     "trained_on": device.type}))
                checkpoint = ray.train.Checkpoint.from_directory(d)
            ray.train.report(metrics, checkpoint=checkpoint)
        if fault and epoch == int(fault["epoch"]) and context.get_world_rank() == 1:
            marker = Path(fault["marker"])
            if not marker.exists():  # crash once: the restarted attempt must succeed
                marker.write_text("crashed")
                os._exit(1)


def load(checkpoint_dir: str, serving: bool = True) -> Any:
    """The scorer for a checkpoint, loaded once (a served model calls it per request).

    `serve_fault` in train.config makes a deliberately bad *served* model for rollout
    tests: {"error_rate": 0.5} fails that share of calls, {"latency_ms": 300} slows each
    one. Evaluation (`predict`) scores it faithfully."""
    import random
    import time

    import torch

    meta = json.loads((Path(checkpoint_dir) / "meta.json").read_text())
    info = meta["info"]
    fault = (meta.get("serve_fault") or {}) if serving else {}
    # a GPU when the process has one (a Serve replica with num_gpus), else the CPU; a
    # checkpoint written on a GPU loads on a CPU-only machine too
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = _model(meta["n_in"], meta["hidden"])
    model.load_state_dict(torch.load(Path(checkpoint_dir) / "model.pt", weights_only=True,
                                     map_location="cpu"))
    model.to(device).eval()

    def score(table: Any) -> np.ndarray:
        if fault.get("latency_ms"):
            time.sleep(float(fault["latency_ms"]) / 1000)
        if fault.get("error_rate") and random.random() < float(fault["error_rate"]):
            raise RuntimeError("serve_fault: injected model error")
        columns = {name: (table.column(name).to_numpy(zero_copy_only=False)
                          if hasattr(table, "column") else np.asarray(table[name]))
                   for name in info["features"]}
        with torch.no_grad():
            x = torch.from_numpy(_encode(columns, info)).to(device)
            logits = model(x).cpu().numpy().ravel()
        return 1.0 / (1.0 + np.exp(-logits))

    return score


def predict(checkpoint_dir: str, table: Any) -> np.ndarray:
    """Fraud probability for every row of a pyarrow Table (or a dict of columns)."""
    return load(checkpoint_dir, serving=False)(table)  # type: ignore[no-any-return]
