"""Running a plan on Ray (driver side): connection, runner, journal, one executor per
stage kind. The only package that imports ray / mlflow / torch, and only lazily."""

from .options import RunOptions
from .result import RunResult, StageOutcome

__all__ = ["RunOptions", "RunResult", "StageOutcome"]
