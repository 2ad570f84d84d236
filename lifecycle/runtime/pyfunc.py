"""The MLflow pyfunc wrapper every registered lifecycle model uses: the checkpoint as an
artifact, scored with the entrypoint module's `predict(checkpoint_dir, table)`."""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc


class LifecycleModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    def load_context(self, context: Any) -> None:
        from .entrypoint import EntrypointError, resolve

        self.checkpoint = context.artifacts["checkpoint"]
        entrypoint = context.model_config["entrypoint"]
        try:  # optional `load(checkpoint_dir) -> scorer`: load once, score per call
            load: Any = resolve(entrypoint, "load")
        except EntrypointError:
            load = None
        if load is not None:
            self.score = load(self.checkpoint)
        else:
            predict = resolve(entrypoint, "predict")
            self.score = lambda table: predict(self.checkpoint, table)

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        import pyarrow as pa

        table = model_input if isinstance(model_input, pa.Table) else \
            pa.Table.from_pandas(model_input, preserve_index=False)
        return self.score(table)
