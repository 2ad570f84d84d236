"""Signed approvals: the statements approvers sign, the platform's approvers conf, and
which approvals count.

An approval is two files beside the spec, in `<spec>.approvals/` (committed and reviewed
with it): `ROLE--IDENTITY.json`, the statement (who, which role, which ticket, until
when, and the approval digest of the plan approved), and `ROLE--IDENTITY.json.sig`, its
SSH signature (namespace `lifecycle-approval`). The platform says who may approve in
`conf/approvers/`: `allowed_signers` (git's format: identities and their public keys,
with optional validity windows) and `roles.yaml` (which identities may sign for which
role). An approval counts when its signature verifies with one of its signer's keys,
the signer may sign for its role, it has not expired, it covers this plan's digest, and
no other counted approval was signed by the same key. Each refusal is an APR-* result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InputError, Location
from ..plan.approvals import ApprovalRecord, PlanApprovals, RefusedApproval
from ..plan.canonical import canonical_json
from ..plan.policy_report import RuleResult
from .sshsig import AllowedSigner, PublicKey, SignatureError, parse_allowed_signers

NAMESPACE = "lifecycle-approval"
STATEMENT_TYPE: Literal["lifecycle.approval/v1"] = "lifecycle.approval/v1"
FOLDER_SUFFIX = ".approvals"
ALLOW_UNSIGNED = "allow_unsigned_approvals"  # the bundle setting (default: false)

# rule id -> what it refuses (docs/approvals.md lists them; the messages say which
# approval, why, and how to get a fresh one)
RULES = {
    "APR-001": "an unsigned approval where the tier counts signed approvals only",
    "APR-002": "an approval file that is not a signed statement",
    "APR-003": "a signer the approvers conf does not know",
    "APR-004": "a signature that does not verify with the signer's keys",
    "APR-005": "a signer not allowed to approve for the role",
    "APR-006": "an expired approval",
    "APR-007": "an approval of another plan digest (the spec changed since)",
    "APR-008": "a second approval signed by the same key",
}


class Statement(BaseModel):
    """What an approver signs. Its canonical JSON (one line) is the signed message."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["lifecycle.approval/v1"] = STATEMENT_TYPE
    spec: str = Field(description="The approved spec's name.")
    digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$", description="Its approval digest.")
    by: str = Field(min_length=1, description="The signer's identity.")
    role: str = Field(min_length=1, description="The role approved for.")
    ticket: str | None = Field(None, min_length=1, description="Change or review ticket.")
    expires: dt.date | None = Field(None, description="Last day the approval holds.")

    def message(self) -> bytes:
        return (canonical_json(self.model_dump(mode="json", exclude_none=True)) + "\n").encode()

    def record(self, key: PublicKey | None, source: str) -> ApprovalRecord:
        return ApprovalRecord(by=self.by, role=self.role, ticket=self.ticket,
                              expires=self.expires, key=key.fingerprint if key else None,
                              digest=self.digest, source=source)


def approvals_folder(spec_path: Path) -> Path:
    """`specs/fraud.yaml` -> `specs/fraud.approvals`."""
    return spec_path.with_name(spec_path.stem + FOLDER_SUFFIX)


def folder_prefix(spec_file: str) -> str:
    """The repository path prefix of a spec's approvals (`specs/fraud.yaml` ->
    `specs/fraud.approvals/`): `lifecycle diff --git` reads them with the spec."""
    stem, _, _ = spec_file.rpartition(".")
    return (stem or spec_file) + FOLDER_SUFFIX + "/"


def statement_file(folder: Path, role: str, by: str) -> Path:
    name = f"{role}--{by}".replace("/", "_").replace("\\", "_")
    return folder / f"{name}.json"


# --- the platform's approvers ----------------------------------------------------------

class _RolesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    roles: dict[str, list[str]] = Field(description="role -> identities that may sign for it")


@dataclass(frozen=True)
class Approvers:
    """conf/approvers: who may sign (allowed_signers) and for which roles (roles.yaml)."""

    signers: tuple[AllowedSigner, ...]
    roles: dict[str, tuple[str, ...]]  # role (lower case) -> identities (lower case)
    folder: Path
    role_names: dict[str, str]  # role (lower case) -> as roles.yaml spells it

    def knows(self, identity: str) -> bool:
        return any(s.names(identity) for s in self.signers)

    def key_of(self, identity: str, key: PublicKey, moment: dt.datetime) -> str | None:
        """None when `key` is one of `identity`'s keys, valid now, for approvals; else why
        not."""
        lines = [s for s in self.signers if s.names(identity) and s.key.blob == key.blob]
        if not lines:
            return f"key {key.fingerprint} is not one of {identity}'s keys"
        if not any(s.allows_namespace(NAMESPACE) for s in lines):
            return f"key {key.fingerprint} of {identity} is not allowed to sign approvals " \
                   f"(namespaces=) in {self.folder / 'allowed_signers'}"
        if not any(s.valid_at(moment) for s in lines):
            return f"key {key.fingerprint} of {identity} is not valid now (valid-after/" \
                   f"valid-before in {self.folder / 'allowed_signers'}: rotated out?)"
        return None

    def identities_of(self, key: PublicKey) -> list[str]:
        """Identities (written without wildcards) that `key` belongs to."""
        return [p for s in self.signers if s.key.blob == key.blob for p in s.principals
                if not p.startswith("!") and "*" not in p and "?" not in p]

    def may_sign_for(self, identity: str, role: str) -> bool:
        return identity.lower() in self.roles.get(role.lower(), ())

    def roles_of(self, identity: str) -> list[str]:
        return sorted(r for r, who in self.roles.items() if identity.lower() in who)


def _conf_error(path: Path, message: str, hint: str) -> InputError:
    return InputError.one("load.approvers", message, Location(file=str(path)), "", hint)


_APPROVERS: dict[tuple[Any, ...], Approvers | None] = {}


def approvers_folder(conf: Path) -> Path:
    """The platform's approvers conf: `allowed_signers` and `roles.yaml`."""
    return conf / "approvers"


def load_approvers(conf: Path) -> Approvers | None:
    """The approvers conf under `conf/approvers` (None when the platform has none).
    Memoised on the files' mtimes (validate runs it for every spec)."""
    folder = approvers_folder(conf)
    signers_path, roles_path = folder / "allowed_signers", folder / "roles.yaml"
    stamp: list[Any] = [str(folder)]
    for p in (signers_path, roles_path):
        st = p.stat() if p.is_file() else None
        stamp.append(None if st is None else (st.st_mtime_ns, st.st_size))
    key = tuple(stamp)
    if key not in _APPROVERS:
        _APPROVERS[key] = _load_approvers(folder, signers_path, roles_path)
    return _APPROVERS[key]


def _load_approvers(folder: Path, signers_path: Path, roles_path: Path) -> Approvers | None:
    if not signers_path.is_file() and not roles_path.is_file():
        return None
    if not signers_path.is_file() or not roles_path.is_file():
        missing = signers_path if not signers_path.is_file() else roles_path
        raise _conf_error(missing, f"the approvers conf needs {missing.name} beside "
                          f"{(roles_path if missing == signers_path else signers_path).name}",
                          "see docs/approvals.md: setting up approvers")
    try:
        signers = parse_allowed_signers(signers_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise _conf_error(signers_path, f"invalid allowed_signers: {exc}",
                          "the format is git's: PRINCIPALS [namespaces=\"...\"] ssh-ed25519 "
                          "KEY [comment]") from None
    try:
        data = yaml.safe_load(roles_path.read_text(encoding="utf-8")) or {}
        roles = _RolesFile.model_validate(data).roles
    except (yaml.YAMLError, ValidationError) as exc:
        first = str(exc).splitlines()[0] if isinstance(exc, yaml.YAMLError) else \
            ".".join(str(p) for p in exc.errors()[0]["loc"]) + ": " + exc.errors()[0]["msg"]
        raise _conf_error(roles_path, f"invalid roles file: {first}",
                          "expected roles: {ROLE: [identity, ...]}") from None
    return Approvers(tuple(signers), {r.lower(): tuple(i.lower() for i in who)
                                      for r, who in roles.items()}, folder,
                     {r.lower(): r for r in roles})


# --- which approvals count ---------------------------------------------------------------

@dataclass(frozen=True)
class _Signed:
    statement: Statement | None
    key: PublicKey | None
    refusal: tuple[str, str] | None  # (rule, reason)


def _read_signed(path: Path, approvers: Approvers | None, moment: dt.datetime,
                 broken: str | None = None) -> _Signed:
    sig_path = path.with_name(path.name + ".sig")
    try:
        message = path.read_bytes()
        statement = Statement.model_validate_json(message)
    except (OSError, ValidationError, ValueError) as exc:
        what = exc.strerror if isinstance(exc, OSError) else "not an approval statement"
        return _Signed(None, None, ("APR-002", f"{what}"))
    if not sig_path.is_file():
        return _Signed(statement, None, ("APR-002", f"no signature: {sig_path.name} is "
                                                          "missing"))
    try:
        from .sshsig import verify

        key = verify(message, sig_path.read_text(encoding="utf-8", errors="replace"),
                     NAMESPACE)
    except SignatureError as exc:
        return _Signed(statement, None, ("APR-004", f"{exc} (was it edited after "
                                                          "it was signed?)"))
    if approvers is None:
        return _Signed(statement, key, ("APR-003", broken or "the platform has no "
                                                         "approvers conf (conf/approvers)"))
    if not approvers.knows(statement.by):
        return _Signed(statement, key, ("APR-003", f"{statement.by} is not in "
                                                         f"{approvers.folder / 'allowed_signers'}"))
    wrong_key = approvers.key_of(statement.by, key, moment)
    if wrong_key is not None:
        return _Signed(statement, key, ("APR-004", wrong_key))
    if not approvers.may_sign_for(statement.by, statement.role):
        may = ", ".join(approvers.roles_of(statement.by)) or "no role"
        return _Signed(statement, key, (
            "APR-005", f"{statement.by} may not approve as {statement.role} (roles.yaml "
                       f"lets them sign for: {may})"))
    return _Signed(statement, key, None)


def review(spec_name: str, spec_approvals: Sequence[dict[str, Any]], folder: Path,
           conf: Path, digest: str, allow_unsigned: bool, today: dt.date) -> PlanApprovals:
    """Which approvals count for a plan with `digest`, and why the others do not."""
    counted: list[ApprovalRecord] = []
    refused: list[RefusedApproval] = []
    broken: str | None = None
    for i, entry in enumerate(spec_approvals):
        record = ApprovalRecord(by=entry["by"], role=entry["role"], ticket=entry.get("ticket"),
                                source=f"approvals[{i}]")
        if allow_unsigned:
            counted.append(record)
        else:
            refused.append(RefusedApproval(approval=record, rule="APR-001", reason=(
                "an unsigned approval does not count in this tier: the bundle counts signed "
                "approvals only")))
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if files:
        try:
            approvers = load_approvers(conf)
        except InputError as exc:  # a broken conf verifies nobody: every approval says why
            approvers = None
            broken = exc.message
        moment = dt.datetime.combine(today, dt.datetime.now(dt.UTC).timetz())
        by_key: dict[str, ApprovalRecord] = {}
        for path in files:
            signed = _read_signed(path, approvers, moment, broken)
            s = signed.statement
            record = s.record(signed.key, path.name) if s is not None else ApprovalRecord(
                by="?", role="?", source=path.name)
            refusal = signed.refusal
            if refusal is None and s is not None:
                refusal = _still_holds(s, spec_name, digest, today)
            if refusal is None and signed.key is not None:
                first = by_key.get(signed.key.fingerprint)
                if first is not None:
                    refusal = ("APR-008", f"signed by the same key ({signed.key.fingerprint}) "
                               f"as {first.source}: one person's approval counts once")
                else:
                    by_key[signed.key.fingerprint] = record
            if refusal is None:
                counted.append(record)
            else:
                refused.append(RefusedApproval(approval=record, rule=refusal[0],
                                               reason=refusal[1]))
    return PlanApprovals(digest=digest, signed_only=not allow_unsigned, counted=counted,
                         refused=refused)


def _still_holds(s: Statement, spec_name: str, digest: str,
                 today: dt.date) -> tuple[str, str] | None:
    if s.expires is not None and s.expires < today:
        return "APR-006", f"expired on {s.expires.isoformat()}"
    if s.spec != spec_name:
        return "APR-007", f"it approves spec '{s.spec}', not '{spec_name}'"
    if s.digest != digest:
        return "APR-007", (f"it covers plan digest {s.digest[7:19]}…, and this spec's is now "
                           f"{digest[7:19]}…: the spec changed after it was signed")
    return None


def policy_view(resolved: dict[str, Any], record: PlanApprovals) -> dict[str, Any]:
    """The spec as policy rules see it: `approvals` holds the approvals that count (each
    with `signed`, and `key` and `expires` when signed), so rules such as HR-001 count
    only those."""
    view = [{k: v for k, v in {"by": a.by, "role": a.role, "ticket": a.ticket,
                               "key": a.key, "signed": a.signed,
                               "expires": a.expires.isoformat() if a.expires else None}.items()
             if v is not None} for a in record.counted]
    return {**resolved, "approvals": view}


def results(record: PlanApprovals, spec_path: str) -> list[RuleResult]:
    """One failed APR-* result per refused approval: which approval, why, and how to get
    a fresh one."""
    out: list[RuleResult] = []
    for r in record.refused:
        a = r.approval
        unsigned = a.source.startswith("approvals[")
        where = a.source if unsigned else f"{approvals_folder(Path(spec_path))}/{a.source}"
        sign = (f"lifecycle approve {spec_path} --role {a.role if a.role != '?' else 'ROLE'}"
                f"{' --ticket ' + a.ticket if a.ticket else ''} --key KEYFILE")
        hint = {
            "APR-001": f"have {a.by} sign it: {sign} (then remove {a.source})",
            "APR-002": f"remove it, or have it signed again: {sign}",
            "APR-003": "add the signer to conf/approvers (docs/approvals.md), or remove it",
            "APR-004": f"remove it and have {a.by} sign again with a key of theirs in "
                       f"conf/approvers: {sign}",
            "APR-005": "have someone who holds that role sign, or fix roles.yaml in "
                       "conf/approvers",
            "APR-006": f"have {a.by} review the spec and sign again: {sign} --expires DATE",
            "APR-007": f"have {a.by} review the change (lifecycle diff) and sign again: {sign}",
            "APR-008": "remove one of them: a second approval must come from someone else",
        }[r.rule]
        who = f"approval of {a.label}" if a.by != "?" else "approval"
        message = f"{who} does not count: {r.reason}"
        out.append(RuleResult(rule=r.rule, severity="error", status="fail",
                              key_path=a.source if unsigned else "approvals",
                              message=message if unsigned else f"{where}: {message}",
                              hint=hint))
    return out
