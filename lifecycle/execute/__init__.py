"""Running a plan on Ray, driver side: the connection (a local Ray or a Ray Job on a
cluster), the runner that walks the plan's stages and journals each, one executor per
stage kind, MLflow tracking, and the operating commands (`serving`).

Executors read the plan (never the spec) and build the runtime's configs as
`lifecycle.runtime.contract` models; nothing they hand the cluster is an untyped dict.
May import: `lifecycle.runtime`, `lifecycle.store`, `lifecycle.plan`, `lifecycle.errors`;
ray, mlflow and torch only lazily, inside the functions that need them."""

from .options import RunOptions
from .result import RunResult, StageOutcome

__all__ = ["RunOptions", "RunResult", "StageOutcome"]
