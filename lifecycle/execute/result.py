"""What a run produced: one outcome per stage, and the run's exit code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ExitCode
from ..runtime.contract import RunStatus


@dataclass
class StageOutcome:
    stage: str
    status: str  # succeeded | skipped | failed | not_run | scheduled | interrupted | stopped
    outputs: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    message: str = ""


@dataclass
class RunResult:
    run_id: str
    plan_hash: str
    stages: list[StageOutcome] = field(default_factory=list)
    exit_code: ExitCode = ExitCode.OK
    status: RunStatus = RunStatus.RUNNING
    mlflow_run_id: str | None = None
    tracking_uri: str | None = None
    message: str = ""

    def outcome(self, stage: str) -> StageOutcome | None:
        return next((s for s in self.stages if s.stage == stage), None)
