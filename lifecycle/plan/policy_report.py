"""Policy results as they are recorded in a plan (no file positions: a plan is the same
bytes wherever it is compiled)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class WaiverRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    reason: str = Field(description="Why the rule was waived.")
    approved_by: str = Field(description="Who approved the waiver.")
    expires: dt.date = Field(description="Last day the waiver applies.")


class RuleResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    rule: str = Field(description="Rule id (or POL-* for findings of the engine itself).")
    severity: Literal["error", "warning", "info"] = Field(description="Rule severity.")
    status: Literal["pass", "fail", "waived", "not_applicable"] = Field(
        description="Outcome for this spec.")
    message: str = Field(description="The rule's message.")
    key_path: str = Field("", description="Key path the result is about.")
    hint: str | None = Field(None, description="How to fix a failure.")
    waiver: WaiverRecord | None = Field(None, description="The waiver that applied.")


class PolicyReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    bundle: str = Field(description="Name of the policy bundle applied.")
    bundle_hash: str = Field(description="sha256 of the bundle's rules and settings.")
    results: list[RuleResult] = Field(description="One result per rule (and engine finding).")

    @property
    def failures(self) -> list[RuleResult]:
        return [r for r in self.results if r.status == "fail" and r.severity == "error"]

    @property
    def passed(self) -> bool:
        return not self.failures
