"""The approvals step of validation: the plan's approval digest, which approvals count
(lifecycle.policy.approvals), and the policy rules run over the approvals that count.
One call from the validate pipeline: `evaluate_with_approvals`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, Location
from ..plan import Plan, PlanApprovals, PolicyReport
from ..plan.approvals import approval_digest, plan_digest
from ..policy import Bundle, evaluate
from ..policy import approvals as signed
from ..spec import Spec
from .compiler import build_stages


def spec_digest(spec: Spec, resolved: dict[str, Any]) -> str:
    """The approval digest of the plan this spec compiles to."""
    return approval_digest(spec.name, spec.risk_tier, resolved, build_stages(spec))


def evaluate_with_approvals(spec: Spec, resolved: dict[str, Any], bundle: Bundle,
                            spec_path: Path, conf: Path, today: dt.date,
                            shown_path: str | None = None,
                            cost: Mapping[str, float] | None = None
                            ) -> tuple[PolicyReport, PlanApprovals | None]:
    """The bundle's rules over the spec with only the approvals that count, plus an APR-*
    result for each approval that does not; and the plan's approvals record (None when
    the spec has no approvals at all: nothing is read, nothing is imported). `cost`: the
    spec priced, for the rules' `cost.*` (policy.evaluate)."""
    folder = signed.approvals_folder(spec_path)
    has_signed = folder.is_dir() and any(folder.glob("*.json"))
    if not has_signed and not spec.approvals:
        return evaluate(resolved, bundle, today, cost), None
    record = signed.review(
        spec.name, resolved.get("approvals", []), folder, conf, spec_digest(spec, resolved),
        # every layer must allow unsigned approvals (a named bundle can only add rules)
        all(bool(layer.settings.get(signed.ALLOW_UNSIGNED, False))
            for layer in bundle.layers), today)
    report = evaluate(signed.policy_view(resolved, record), bundle, today, cost)
    findings = signed.results(record, shown_path or str(spec_path))
    return report.model_copy(update={"results": [*report.results, *findings]}), record


# --- signing (lifecycle approve) ---------------------------------------------------------

@dataclass(frozen=True)
class Signed:
    """An approval just signed: where its statement and signature were written."""

    statement_path: Path
    signature_path: Path
    statement: signed.Statement
    key: str  # the signing key's fingerprint
    failing: tuple[str, ...]  # rules the approved plan fails, besides wanting approvals


def _refuse(code: str, message: str, hint: str, where: Path | None = None) -> InputError:
    return InputError.one(code, message, Location(file=str(where) if where else None,
                                                  origin=None if where else "lifecycle approve"),
                          "", hint)


def sign_approval(plan: Plan, spec_path: Path, conf: Path, role: str, key_path: Path,
                  ticket: str | None, expires: dt.date | None, by: str | None,
                  today: dt.date, passphrase: Callable[[], bytes] | None = None) -> Signed:
    """Sign an approval of `plan` as the owner of the key in `key_path` (read from that
    path only, never copied or shown) and write it beside the spec."""
    from ..policy.sshsig import KeyFileError, load_signing_key, sign

    approvers = signed.load_approvers(conf)
    if approvers is None:
        raise _refuse("approve.no-approvers", f"the platform has no approvers conf "
                      f"({conf / 'approvers'})", "see docs/approvals.md: setting up approvers")
    try:
        key, public = load_signing_key(key_path)
    except KeyFileError as exc:
        if passphrase is None or "passphrase" not in str(exc):
            raise _refuse("approve.key", str(exc), "pass the private half of an ed25519 key "
                          "(ssh-keygen -t ed25519)", key_path) from None
        try:
            key, public = load_signing_key(key_path, passphrase())
        except KeyFileError as again:
            raise _refuse("approve.key", str(again), "try again", key_path) from None
    conf_file = approvers.folder / "allowed_signers"
    identities = approvers.identities_of(public)
    if by is not None:
        identities = [i for i in identities if i.lower() == by.lower()]
    if not identities:
        whose = f"{by}'s" if by else "anyone's"
        raise _refuse("approve.unknown-key", f"key {public.fingerprint} is not {whose} in "
                      f"{conf_file}",
                      "send the public half (KEYFILE.pub) to the platform team to be added "
                      "to conf/approvers (docs/approvals.md)", key_path)
    allowed = [i for i in identities if approvers.may_sign_for(i, role)]
    if not allowed:
        may = ", ".join(r for i in identities for r in approvers.roles_of(i)) or "no role"
        raise _refuse("approve.role", f"{identities[0]} may not approve as {role} (they may "
                      f"sign for: {may})", f"use --role with one of their roles, or ask the "
                      f"platform team to change {approvers.folder / 'roles.yaml'}")
    if len(allowed) > 1:
        raise _refuse("approve.ambiguous", f"key {public.fingerprint} belongs to "
                      f"{', '.join(allowed)}", "say which one with --by")
    identity = allowed[0]
    moment = dt.datetime.combine(today, dt.datetime.now(dt.UTC).timetz())
    invalid = approvers.key_of(identity, public, moment)
    if invalid is not None:
        raise _refuse("approve.key", invalid, "sign with a current key of yours", conf_file)
    if expires is not None and expires < today:
        raise _refuse("approve.expires", f"--expires {expires.isoformat()} is in the past",
                      "give the last day the approval should hold (YYYY-MM-DD)")
    statement = signed.Statement(spec=plan.name, digest=plan_digest(plan), by=identity,
                                 role=approvers.role_names.get(role.lower(), role),
                                 ticket=ticket, expires=expires)
    folder = signed.approvals_folder(spec_path)
    target = signed.statement_file(folder, statement.role, identity)
    folder.mkdir(parents=True, exist_ok=True)
    message = statement.message()
    signature = sign(message, key, public, signed.NAMESPACE)
    target.write_bytes(message)
    sig_path = target.with_name(target.name + ".sig")
    sig_path.write_text(signature, encoding="ascii")
    failing = tuple(dict.fromkeys(
        r.rule for r in plan.policy.failures
        if not r.rule.startswith("APR-") and not r.key_path.startswith("approvals")))
    return Signed(target, sig_path, statement, public.fingerprint, failing)
