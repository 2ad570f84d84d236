"""Approvals, waivers and retirement: the governance part of a spec."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from .base import Duration, Email, Identifier, SpecModel


class Approval(SpecModel):
    by: Email = Field(description="Who approved.")
    role: Identifier = Field(description="The approver's role (e.g. model-risk, product).")
    ticket: str | None = Field(None, min_length=1, description="Change or review ticket.")


class Waiver(SpecModel):
    rule: str = Field(min_length=1, description="Id of the policy rule waived.")
    reason: str = Field(min_length=10, description="Why the rule does not apply here.")
    approved_by: Email = Field(description="Who approved the waiver.")
    expires: dt.date = Field(description="Last day the waiver applies (YYYY-MM-DD); the "
                             "policy limits how far ahead (max_waiver_days).")


class Retirement(SpecModel):
    after: dt.date | None = Field(None, description="Retire the deployment after this date.")
    drain: Duration = Field(300.0, description="Time given to in-flight traffic.")
    archive: bool = Field(True, description="Archive versions and model cards on retirement.")
    replaced_by: Identifier | None = Field(None, description="Spec that takes over.")
