"""Approvals as a plan records them: the approval digest (what an approver's signature is
bound to), the approvals that count, and the check a promotion makes against a registered
version's tags.

The digest covers what a policy rule, a gate or a reviewer's judgement of risk depends on,
and nothing else, so that a cosmetic change (a comment, a description, the order of a
list, '10m' for '600s', a learning rate) keeps approvals valid and a risky one voids
them. What it covers is the table `COVERED` below (docs/approvals.md explains each
choice). Unknown stage kinds are covered whole: a new kind of stage voids approvals until
someone decides which of its fields matter.

Plain data and pure functions: the rollout controller (inside Ray) imports this module.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .canonical import canonical_json, content_hash

DIGEST_FORMAT = "lifecycle.approval-digest/v1"
DIGEST_TAG = "lifecycle.approved_digest"  # on the registered version: what its approvals cover
APPROVALS_TAG = "lifecycle.approvals"  # on runs and versions: the approvals that counted

# Which fields of each stage kind the digest covers (every covered stage's resources too).
# None: the stage kind is left out entirely (it changes nothing a policy judges).
_TRAIN = ("entrypoint", "framework", "num_workers", "use_gpu", "cpus_per_worker",
          "gpus_per_worker", "resources_per_worker")
COVERED: dict[str, tuple[str, ...] | None] = {
    "data": ("contract",),
    "train": ("train",),
    "tune": ("train", "num_samples", "max_concurrent_trials", "time_budget_s"),
    "evaluate": ("gates",),
    "register": ("model", "alias"),
    "monitor": ("monitors",),
    "deploy": ("model", "replicas", "autoscaling", "replica_resources", "shadow"),
    "rollout": ("strategy", "steps", "gate_interval_s", "on_failure", "sticky_key"),
    "retire": None,
}
# Spec keys covered that no stage carries: the tier and bundle the spec is judged by, the
# exceptions granted to it, and its service-level objectives.
SPEC_KEYS = ("risk_tier", "policy", "waivers", "slos")
# Never covered, even in a stage kind covered whole: what the approval itself adds.
_NOT_CONTENT = {"id", "kind", "depends_on", "content_hash", "approved_digest"}


class PlanModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApprovalRecord(PlanModel):
    """One approval as the plan, the registered version's tags and the model card list it."""

    by: str = Field(description="Who approved (the signer's identity in the approvers conf).")
    role: str = Field(description="The role approved for.")
    ticket: str | None = Field(None, description="Change or review ticket.")
    expires: dt.date | None = Field(None, description="Last day the approval holds.")
    key: str | None = Field(None, description="SHA256 fingerprint of the signing key "
                            "(None: an unsigned spec entry, where the tier allows those).")
    digest: str | None = Field(None, description="The approval digest the signature covers.")
    source: str = Field(description="The signed statement's file name, or the spec entry "
                        "(approvals[i]).")

    @property
    def signed(self) -> bool:
        return self.key is not None

    @property
    def label(self) -> str:
        return f"{self.role}: {self.by}"


class RefusedApproval(PlanModel):
    approval: ApprovalRecord
    rule: str = Field(description="The APR-* rule that refused it.")
    reason: str = Field(description="Why it does not count.")


class PlanApprovals(PlanModel):
    digest: str = Field(description="This plan's approval digest (sha256:...).")
    signed_only: bool = Field(description="The tier's bundle counts signed approvals only.")
    counted: list[ApprovalRecord] = Field(description="Approvals that policy rules count.")
    refused: list[RefusedApproval] = Field(default_factory=list,
                                           description="Approvals that do not count, and why.")

    @property
    def approved_digest(self) -> str | None:
        """The digest counted signed approvals cover (None: no signed approval counts)."""
        return self.digest if any(a.signed for a in self.counted) else None


def _narrow(kind: str, body: dict[str, Any]) -> dict[str, Any] | None:
    fields = COVERED.get(kind, tuple(k for k in body if k not in _NOT_CONTENT))
    if fields is None:
        return None
    out = {k: body.get(k) for k in fields}
    train = out.get("train")
    if isinstance(train, dict):
        out["train"] = {k: train.get(k) for k in _TRAIN}
    if kind == "monitor":  # the order monitors are written in means nothing
        out["monitors"] = sorted(out.get("monitors") or [], key=lambda m: str(m.get("name")))
    out["resources"] = body.get("resources")
    return out


def digest_content(name: str, risk_tier: str, spec: Mapping[str, Any],
                   stages: Iterable[Any]) -> dict[str, Any]:
    """What the approval digest is computed over (shown by `lifecycle approve --show`)."""
    covered: dict[str, Any] = {"format": DIGEST_FORMAT, "name": name, "risk_tier": risk_tier,
                               "policy": spec.get("policy") or risk_tier}
    covered["waivers"] = sorted(spec.get("waivers") or [], key=canonical_json)
    if spec.get("slos") is not None:
        covered["slos"] = spec.get("slos")
    by_stage: dict[str, Any] = {}
    for stage in stages:
        body = stage.model_dump(mode="json")
        narrowed = _narrow(str(body.get("kind")), body)
        if narrowed is not None:
            by_stage[str(body.get("id"))] = narrowed
    covered["stages"] = by_stage
    return covered


def approval_digest(name: str, risk_tier: str, spec: Mapping[str, Any],
                    stages: Iterable[Any]) -> str:
    return "sha256:" + content_hash(digest_content(name, risk_tier, spec, stages))


def plan_digest(plan: Any) -> str:
    """The approval digest of a compiled plan (its spec, stages and tier)."""
    return approval_digest(plan.name, plan.risk_tier, plan.spec, plan.stages)


# --- the registered version's tags, and promotion --------------------------------------

def version_tags(approved_digest: str | None,
                 approvals: Sequence[ApprovalRecord]) -> dict[str, str]:
    """The tags a registered version carries: the digest its approvals cover, and who
    approved (signer, role, ticket, expiry, key fingerprint)."""
    tags = {APPROVALS_TAG: json.dumps([a.model_dump(mode="json", exclude={"source"})
                                       for a in approvals], sort_keys=True)}
    if approved_digest is not None:
        tags[DIGEST_TAG] = approved_digest
    return tags


def approval_tags(plan: Any) -> dict[str, str]:
    """The approval tags of a version this plan registers or deploys."""
    record = plan.approvals
    if record is None:
        return version_tags(None, [])
    return version_tags(record.approved_digest, record.counted)


def recorded_approvals(version_tags: Mapping[str, str]) -> list[ApprovalRecord]:
    """The approvals a version's tags list (those it was registered under)."""
    try:
        items = json.loads(version_tags.get(APPROVALS_TAG) or "[]")
        return [ApprovalRecord.model_validate({"source": "version tags", **a}) for a in items
                if isinstance(a, dict)]
    except (ValueError, TypeError):
        return []


def promotion_refusal(version_tags: Mapping[str, str], approved_digest: str | None,
                      approvals: Sequence[ApprovalRecord] = (), *, version: str = "",
                      today: dt.date | None = None) -> str | None:
    """Why a registered version may not be promoted, or None when it may.

    `approved_digest` is the digest the approvals of the plan being promoted cover (None:
    that plan has no signed approval, so there is nothing to hold the version to) and
    `approvals` those approvals, whose expiry is checked on `today`. The version must
    carry that digest in its tags: one registered by another plan, or before the
    approvals were given, is refused. Without the plan at hand (an application named on
    the command line), pass the version's own record: `recorded_digest(tags)` and
    `recorded_approvals(tags)`.
    """
    which = f"version {version}" if version else "the candidate version"
    if approved_digest is None:
        return None
    carried = version_tags.get(DIGEST_TAG)
    if carried is None:
        return (f"{which} carries no approved plan digest (tag {DIGEST_TAG}): it was not "
                "registered by the approved plan. Run the approved spec (`lifecycle run "
                "SPEC`) to register a version of it, then promote that one")
    if carried != approved_digest:
        return (f"{which} was registered from plan digest {carried[:19]}…, but the approvals "
                f"cover {approved_digest[:19]}…: the spec changed between registering this "
                "version and approving it. Run the approved spec to register a version of "
                "what was approved, or have the approvals renewed for this version's spec "
                "(`lifecycle approve`)")
    on = today or dt.date.today()
    expired = [a for a in approvals if a.expires is not None and a.expires < on]
    if expired:
        a = expired[0]
        return (f"the approval of {a.label} expired on {a.expires}: approvals must hold when "
                f"{which} is promoted. Have it renewed (`lifecycle approve SPEC --role "
                f"{a.role} ...`) and promote again")
    return None


def recorded_digest(version_tags: Mapping[str, str]) -> str | None:
    return version_tags.get(DIGEST_TAG)
