"""The demand example's model: a scikit-learn random forest, trained on one Ray Train
worker (lifecycle's path for framework: sklearn)."""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def _matrix(columns: Any, features: list[str]) -> np.ndarray:
    return np.column_stack([np.asarray(columns[f], dtype=float) for f in features])


def fit(config: dict[str, Any]) -> None:
    import pandas as pd
    import ray.train
    from sklearn.ensemble import RandomForestRegressor

    info = config["lifecycle"]
    features = list(info["features"])

    def frame(name: str) -> Any:
        shard = ray.train.get_dataset_shard(name)
        return pd.concat(list(shard.iter_batches(batch_size=None, batch_format="pandas")))

    train, evaluation = frame("train"), frame("eval")
    model = RandomForestRegressor(n_estimators=int(config.get("n_estimators", 100)),
                                  max_depth=int(config.get("max_depth", 8)), random_state=0)
    model.fit(_matrix(train, features), train[info["label"]].to_numpy())
    pred = model.predict(_matrix(evaluation, features))
    rmse = float(np.sqrt(np.mean((pred - evaluation[info["label"]].to_numpy()) ** 2)))
    with tempfile.TemporaryDirectory() as d:
        with open(Path(d) / "model.pkl", "wb") as f:
            pickle.dump({"model": model, "features": features}, f)
        ray.train.report({"val_rmse": rmse}, checkpoint=ray.train.Checkpoint.from_directory(d))


def predict(checkpoint_dir: str, table: Any) -> np.ndarray:
    with open(Path(checkpoint_dir) / "model.pkl", "rb") as f:
        saved = pickle.load(f)  # our own checkpoint, written by fit() above
    columns = {n: (table.column(n).to_numpy(zero_copy_only=False) if hasattr(table, "column")
                   else np.asarray(table[n])) for n in saved["features"]}
    return saved["model"].predict(_matrix(columns, saved["features"]))
