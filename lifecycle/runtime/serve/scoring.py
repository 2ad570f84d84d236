"""Scoring request rows with a registered model: the entrypoint's own scorer on a pyarrow
Table built straight from the rows, typed by the data contract (NOTES: the MLflow pyfunc
path — rows -> pandas -> pyfunc schema checks -> pyarrow — cost 653 µs per 1-row call;
the scorer on an Arrow table 162 µs). Used by the model servers of the routed topology
and by the Router itself in the fused one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..contract import ARROW_TYPES, FeatureCheck, ModelConfig


class Scorer:
    """One model version, loaded from the MLflow registry by the version the deploy stage
    pinned (an alias can move; the version a replica serves cannot)."""

    def __init__(self, config: ModelConfig, features: dict[str, FeatureCheck]) -> None:
        import mlflow
        import pyarrow as pa

        if config.tracking_uri:
            mlflow.set_tracking_uri(config.tracking_uri)
        self.uri = config.model_uri
        self.version = config.version or "?"
        model = mlflow.pyfunc.load_model(config.model_uri)
        self.score_table = _table_scorer(model)
        # category and timestamp columns keep the type the rows give them
        self.types = {name: getattr(pa, ARROW_TYPES[f.type])() if f.type in ARROW_TYPES
                      else None for name, f in features.items()}

    def table(self, rows: list[dict[str, Any]]) -> Any:
        import pyarrow as pa

        return pa.table({name: pa.array([row[name] for row in rows], type=kind)
                         for name, kind in self.types.items()})

    def predict(self, rows: list[dict[str, Any]]) -> list[float]:
        import numpy as np

        scores = self.score_table(self.table(rows))
        return np.asarray(scores, dtype=float).ravel().tolist()  # type: ignore[no-any-return]


def _table_scorer(model: Any) -> Callable[[Any], Any]:
    """The entrypoint's scorer when the model is lifecycle's own pyfunc wrapper; any
    other MLflow model through its pyfunc interface (on pandas)."""
    from ..pyfunc import LifecycleModel

    try:
        wrapped = model.unwrap_python_model()
    except Exception:  # not a PythonModel (another MLflow flavour)
        wrapped = None
    if isinstance(wrapped, LifecycleModel):
        score: Callable[[Any], Any] = wrapped.score
        return score
    return lambda table: model.predict(table.to_pandas())
