"""What every stage executor is handed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ExitCode, LifecycleError
from ..plan import Plan
from ..store import Store
from .options import RunOptions


class StageFailed(LifecycleError):
    """A stage stopped the run; exit_code is chosen by the executor."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.RUNTIME,
                 hint: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code
        self.details = details or {}

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_stage_failed, (self.message, int(self.exit_code), self.hint,
                                        self.details))


def _rebuild_stage_failed(message: str, code: int, hint: str | None,
                          details: dict[str, Any]) -> StageFailed:
    return StageFailed(message, ExitCode(code), hint, details)


@dataclass
class StageContext:
    plan: Plan
    options: RunOptions
    store: Store
    run_id: str
    root: str
    upstream: dict[str, dict[str, Any]] = field(default_factory=dict)
    tracking: Any = None  # execute.tracking.Tracking
    ephemeral_ray: bool = False  # Ray started by this run ends with it (so must a rollout)
    emit: Callable[[str, dict[str, Any]], None] = field(default=lambda _e, _f: None)
    downloaded: dict[str, str] = field(default_factory=dict)  # store path -> local copy

    def producer(self) -> tuple[Any, dict[str, Any]]:
        """The stage that produced the candidate model (tune, else train) and its outputs."""
        for kind in ("tune", "train"):
            stage = next((s for s in self.plan.stages if s.kind == kind), None)
            if stage is not None and kind in self.upstream:
                return stage, self.upstream[kind]
        raise StageFailed("nothing produced a candidate model", ExitCode.RUNTIME)

    def artifacts_dir(self, stage: str) -> str:
        return self.store.uri_of("runs", self.run_id, "artifacts", stage)

    def local_checkpoint(self, path: str) -> str:
        """A checkpoint Ray Train wrote to the store, as a local folder: on a remote
        store, downloaded once per run (evaluate and register both read it)."""
        if self.store.is_local:
            return path
        if path not in self.downloaded:
            self.downloaded[path] = self.store.download(path)
        return self.downloaded[path]
