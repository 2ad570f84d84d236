"""The model card (markdown) logged with every registered version: what the model is,
what it was trained on, how it scored, which gates and rules it passed, who approved."""

from __future__ import annotations

from typing import Any

from ..plan import Plan


def model_card(plan: Plan, outputs: dict[str, dict[str, Any]], lineage: dict[str, str]) -> str:
    spec: dict[str, Any] = dict(plan.spec)
    lines = [f"# Model card: {plan.name}", "",
             f"{spec.get('description', '')}".strip() or "_no description_", "",
             "| | |", "| --- | --- |",
             f"| owner | {spec.get('owner', '')} |",
             f"| risk tier | {plan.risk_tier} |",
             f"| policy bundle | {plan.policy.bundle} ({plan.policy.bundle_hash[:12]}) |",
             f"| plan | {plan.plan_hash[:12]} |"]
    for key in ("spec_path", "git_commit", "dataset_digest"):
        if lineage.get(key):
            dirty = " (with uncommitted changes)" if key == "git_commit" and lineage.get(
                "git_dirty") == "true" else ""
            lines.append(f"| {key.replace('_', ' ')} | `{lineage[key]}`{dirty} |")
    if plan.overrides:
        lines.append("| command-line overrides | "
                     + " ".join(f"`{o.replace('|', '/')}`" for o in plan.overrides) + " |")
    data = outputs.get("data", {})
    lines += ["", "## Data", ""]
    for role, src in data.get("sources", {}).items():
        lines.append(f"- {role}: `{src['path']}` ({data.get('rows', {}).get(role, '?')} rows, "
                     f"sha256 `{data.get('digests', {}).get(role, '')[:16]}`)")
    contract = spec.get("data", {}).get("contract", {})
    if contract:
        lines.append(f"- label `{contract.get('label')}`; features: "
                     + ", ".join(f"`{n}` ({f.get('type')})"
                                 for n, f in contract.get("features", {}).items()))
    producer = outputs.get("tune") or outputs.get("train") or {}
    lines += ["", "## Training", ""]
    train = spec.get("train", {})
    lines.append(f"- `{train.get('entrypoint')}` ({train.get('framework')}, "
                 f"{train.get('scaling', {}).get('num_workers')} worker(s))")
    if "tune" in outputs:
        t = outputs["tune"]
        lines.append(f"- tuned: {t.get('trials')} trials; best config "
                     + ", ".join(f"`{k}={v}`" for k, v in sorted(t.get("best_config", {}).items())))
    for k, v in sorted(producer.get("metrics", {}).items()):
        lines.append(f"- {k}: {v:.4g}" if isinstance(v, float) else f"- {k}: {v}")
    ev = outputs.get("evaluate", {})
    if ev:
        lines += ["", "## Evaluation", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {v:.4f} |" for k, v in sorted(ev.get("metrics", {}).items())]
        lines += ["", "| gate | value | bound | result |", "| --- | --- | --- | --- |"]
        for g in ev.get("gates", []):
            bound = "—" if g.get("bound") is None else f"{g['bound']:.4f}"
            note = f" ({g['note']})" if g.get("note") else ""
            lines.append(f"| {g['gate']} | {g['value']:.4f} | {bound} | "
                         f"{'pass' if g['passed'] else 'FAIL'}{note} |")
    lines += ["", "## Governance", ""]
    lines += _approvals(plan, spec)
    waived = [r for r in plan.policy.results if r.status == "waived"]
    passed = sum(r.status == "pass" for r in plan.policy.results)
    if plan.protected_overrides:
        lines.append("- **protected keys changed on the command line** (allowed by "
                     "--allow-protected-overrides): "
                     + ", ".join(f"`{k}`" for k in plan.protected_overrides))
    lines.append(f"- policy: {passed} rule(s) passed, {len(waived)} waived")
    for r in waived:
        assert r.waiver is not None
        lines.append(f"  - {r.rule} waived by {r.waiver.approved_by} until "
                     f"{r.waiver.expires.isoformat()}: {r.waiver.reason}")
    return "\n".join(lines) + "\n"


def _approvals(plan: Plan, spec: dict[str, Any]) -> list[str]:
    """Who approved: signer, role, ticket, expiry and key fingerprint of each approval
    that counted, and the plan digest they cover."""
    if plan.approvals is None:
        return [f"- approved by {a['by']} ({a['role']}"
                + (f", {a['ticket']}" if a.get("ticket") else "") + ")"
                for a in spec.get("approvals", [])]
    lines = []
    for a in plan.approvals.counted:
        detail = [a.role] + ([a.ticket] if a.ticket else [])
        detail.append(f"until {a.expires.isoformat()}" if a.expires else "no expiry")
        detail.append(f"signed with key `{a.key}`" if a.key else "unsigned")
        lines.append(f"- approved by {a.by} ({', '.join(detail)})")
    approved = plan.approvals.approved_digest
    if approved is not None:
        lines.append(f"- the approvals cover plan approval digest `{approved}`")
    return lines
