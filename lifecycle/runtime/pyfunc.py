"""The MLflow pyfunc wrapper every registered lifecycle model uses: the checkpoint as an
artifact, scored with the entrypoint module's `predict(checkpoint_dir, table)`."""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc


class LifecycleModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    def load_context(self, context: Any) -> None:
        from .entrypoint import resolve

        self.checkpoint = context.artifacts["checkpoint"]
        self.predict_fn = resolve(context.model_config["entrypoint"], "predict")

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        import pyarrow as pa

        table = model_input if isinstance(model_input, pa.Table) else \
            pa.Table.from_pandas(model_input, preserve_index=False)
        return self.predict_fn(self.checkpoint, table)
