"""Signed approvals with real ed25519 keys made here: each way an approval fails to count
fails with its rule named; what the approval digest covers; HR-001 counting people and
roles; `lifecycle approve`; a run that never starts; promotion's check."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lifecycle import api
from lifecycle.compile.served import promotion_approval
from lifecycle.errors import InputError, PolicyError
from lifecycle.plan import plan_digest
from lifecycle.plan.approvals import (
    APPROVALS_TAG,
    DIGEST_TAG,
    ApprovalRecord,
    promotion_refusal,
    recorded_approvals,
    recorded_digest,
    version_tags,
)
from lifecycle.policy import sshsig
from lifecycle.policy.approvals import NAMESPACE, Statement
from lifecycle.policy.functions import independent_approvals

from ...conftest import ROOT, TODAY

FRAUD = ROOT / "specs" / "fraud.yaml"
ROLES = {"alice@example.com": ["model-risk"], "bob@example.com": ["product"],
         "carol@example.com": ["model-risk", "product"]}


@dataclass
class Platform:
    root: Path  # the project: specs/fraud.yaml, keys/
    conf: Path
    keys: dict[str, Path]

    @property
    def spec(self) -> Path:
        return self.root / "specs" / "fraud.yaml"

    @property
    def folder(self) -> Path:
        return self.root / "specs" / "fraud.approvals"

    def approve(self, who: str, role: str, **kw: object) -> Path:
        return api.approve(self.spec, role=role, key=self.keys[who], **kw).statement_path  # type: ignore[arg-type]

    def codes(self, *overrides: str) -> list[str]:
        """Error codes with `overrides`; those of protected keys (approvals, policy) opted
        in: these tests change them on purpose (test_protected_overrides.py tests that)."""
        return sorted(p.code for p in api.validate_one(
            self.spec, list(overrides), allow_protected_overrides=True).errors)

    def write_signed(self, statement: Statement, signer: str, name: str) -> Path:
        """A statement signed by `signer`'s key whatever it says (a forger's view)."""
        key, public = sshsig.load_signing_key(self.keys[signer])
        self.folder.mkdir(exist_ok=True)
        path = self.folder / name
        path.write_bytes(statement.message())
        path.with_name(name + ".sig").write_text(
            sshsig.sign(statement.message(), key, public, NAMESPACE))
        return path


def _key(path: Path) -> str:
    key = Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.OpenSSH,
                                       serialization.NoEncryption()))
    os.chmod(path, 0o600)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()


def _approvers(conf: Path, lines: list[str], roles: dict[str, list[str]]) -> None:
    folder = conf / "approvers"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "allowed_signers").write_text("\n".join(lines) + "\n")
    (folder / "roles.yaml").write_text(json.dumps({"roles": {
        role: [who for who, rs in roles.items() if role in rs]
        for role in sorted({r for rs in roles.values() for r in rs})}}))


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Platform:
    """The repository's conf with approvers whose keys are made here (and mallory, whose
    key no one lists), and a copy of the example high-risk spec without approvals."""
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf, ignore=shutil.ignore_patterns("approvers"))
    keys = {}
    lines = []
    for who in [*ROLES, "mallory@example.com"]:
        keys[who] = tmp_path / "keys" / who.split("@")[0]
        keys[who].parent.mkdir(exist_ok=True)
        public = _key(keys[who])
        if who in ROLES:
            lines.append(f'{who} namespaces="{NAMESPACE}" {public}')
    _approvers(conf, lines, ROLES)
    monkeypatch.setenv("LIFECYCLE_CONF", str(conf))
    (tmp_path / "specs").mkdir()
    shutil.copy(FRAUD, tmp_path / "specs" / "fraud.yaml")
    return Platform(tmp_path, conf, keys)


@pytest.fixture
def signed(platform: Platform) -> Platform:
    """The spec approved by alice (model-risk) and bob (product)."""
    platform.approve("alice@example.com", "model-risk", ticket="MRM-1", expires="2027-06-30")
    platform.approve("bob@example.com", "product")
    return platform


def _statement(p: Platform, **changes: object) -> Statement:
    plan = api.validate_one(p.spec).plan
    assert plan is not None
    fields: dict[str, object] = {"spec": "fraud-detector", "digest": plan_digest(plan),
                                 "by": "bob@example.com", "role": "product"}
    return Statement.model_validate({**fields, **changes})


# --- each way to fail, with its rule -------------------------------------------------

def test_valid_approvals_pass_and_are_recorded_in_the_plan(signed: Platform) -> None:
    r = api.validate_one(signed.spec)
    assert r.errors == [] and r.plan is not None and r.plan.approvals is not None
    record = r.plan.approvals
    assert [(a.by, a.role, a.ticket) for a in record.counted] == [
        ("alice@example.com", "model-risk", "MRM-1"), ("bob@example.com", "product", None)]
    assert all(a.key and a.key.startswith("SHA256:") for a in record.counted)
    assert record.digest == plan_digest(r.plan) == r.plan.stage("rollout").approved_digest


def test_a_spec_without_its_approvals_fails_hr_001(platform: Platform) -> None:
    assert platform.codes() == ["HR-001", "MR-002"]


def test_forged_approval_signed_with_another_key_fails_apr_004(signed: Platform) -> None:
    (signed.folder / "product--bob@example.com.json").unlink()
    signed.write_signed(_statement(signed), "mallory@example.com", "product--bob.json")
    assert signed.codes() == ["APR-004", "HR-001"]
    [p] = [p for p in api.validate_one(signed.spec).errors if p.code == "APR-004"]
    assert "is not one of bob@example.com's keys" in p.message
    assert "specs/fraud.approvals/product--bob.json" in p.message


def test_statement_edited_after_signing_fails_apr_004(signed: Platform) -> None:
    path = signed.folder / "product--bob@example.com.json"
    path.write_text(path.read_text().replace('"product"', '"model-risk"'))
    [p] = [p for p in api.validate_one(signed.spec).errors if p.code == "APR-004"]
    assert "does not match the statement" in p.message


def test_approval_of_another_digest_fails_apr_007(signed: Platform) -> None:
    (signed.folder / "product--bob@example.com.json").unlink()
    signed.write_signed(_statement(signed, digest="sha256:" + "0" * 64), "bob@example.com",
                        "product--bob@example.com.json")
    assert signed.codes() == ["APR-007", "HR-001"]


def test_expired_approval_fails_apr_006(signed: Platform) -> None:
    (signed.folder / "product--bob@example.com.json").unlink()
    signed.write_signed(_statement(signed, expires="2026-11-21"), "bob@example.com",
                        "product--bob@example.com.json")
    assert signed.codes() == ["APR-006", "HR-001"]


def test_approval_holds_through_its_expiry_day(signed: Platform) -> None:
    (signed.folder / "product--bob@example.com.json").unlink()
    signed.write_signed(_statement(signed, expires=TODAY.isoformat()), "bob@example.com",
                        "product--bob@example.com.json")
    assert signed.codes() == []


def test_signer_not_allowed_for_the_role_fails_apr_005(signed: Platform) -> None:
    (signed.folder / "product--bob@example.com.json").unlink()
    signed.write_signed(_statement(signed, by="alice@example.com"), "alice@example.com",
                        "product--alice.json")
    [p] = [p for p in api.validate_one(signed.spec).errors if p.code == "APR-005"]
    assert "alice@example.com may not approve as product" in p.message


def test_signer_unknown_to_the_platform_fails_apr_003(signed: Platform) -> None:
    signed.write_signed(_statement(signed, by="mallory@example.com"), "mallory@example.com",
                        "product--mallory.json")
    assert signed.codes() == ["APR-003"]


def test_two_approvals_by_the_same_key_fail_apr_008_and_hr_001(platform: Platform) -> None:
    platform.approve("carol@example.com", "model-risk")
    platform.approve("carol@example.com", "product")
    assert platform.codes() == ["APR-008", "HR-001"]
    [p] = [p for p in api.validate_one(platform.spec).errors if p.code == "APR-008"]
    assert "signed by the same key" in p.message


def test_a_rotated_out_key_no_longer_signs(signed: Platform) -> None:
    path = signed.conf / "approvers" / "allowed_signers"
    path.write_text(path.read_text().replace(
        "bob@example.com ", 'bob@example.com valid-before="20261101Z",', 1))
    [p] = [p for p in api.validate_one(signed.spec).errors if p.code == "APR-004"]
    assert "not valid now" in p.message


def test_unsigned_entries_do_not_count_where_the_tier_says_so(signed: Platform) -> None:
    entry = "+approvals=[{by: dave@example.com, role: risk}]"
    assert signed.codes(entry) == ["APR-001"]


def test_unsigned_entries_count_in_a_tier_that_allows_them() -> None:
    r = api.validate_one(ROOT / "specs" / "churn-service.yaml")  # medium: unsigned allowed
    assert r.errors == [] and r.plan is not None and r.plan.approvals is not None
    assert [a.signed for a in r.plan.approvals.counted] == [False]


def test_a_broken_approvers_conf_is_reported_on_each_approval(signed: Platform) -> None:
    (signed.conf / "approvers" / "roles.yaml").write_text("roles: [oops]\n")
    errors = api.validate_one(signed.spec).errors
    assert sorted({p.code for p in errors}) == ["APR-003", "HR-001", "MR-002"]
    assert all("invalid roles file" in p.message for p in errors if p.code == "APR-003")


# --- what the digest covers --------------------------------------------------------------

@pytest.mark.parametrize("override", [
    "train.config.lr=0.01", "description=other", "+labels.team=fraud",
    "tune.search_space.hidden.choice=[16,32]", "retirement.drain=10m",
    "data.train.path=examples/fraud/data/other.parquet", "serve.batching=null",
    "+policy=high",  # the bundle the tier names anyway
])
def test_cosmetic_and_non_policy_changes_keep_the_approvals(signed: Platform,
                                                            override: str) -> None:
    assert signed.codes(override) == []


@pytest.mark.parametrize("override", [
    "evaluate.gates.0.min=0.8", "serve.rollout.steps.0.weight=8",
    "serve.rollout.steps.1.hold=1h", "monitors.0.p_val=0.005",
    "data.contract.features.amount.min=-1", "train.entrypoint=examples.fraud.model:other",
    "train.scaling.num_workers=3", "serve.resources.num_cpus=1",
    "+waivers=[{rule: HR-002, reason: 'pilot with one merchant', approved_by: "
    "cro@example.com, expires: 2027-01-01}]", "serve.shadow.fraction=0.5",
    "register.model=fraud-v2",
])
def test_policy_relevant_changes_void_the_approvals(signed: Platform, override: str) -> None:
    assert "APR-007" in signed.codes(override)


def test_another_bundle_voids_the_approvals(signed: Platform) -> None:
    (signed.conf / "policy" / "strict.yaml").write_text("tier: high\nextends: [high]\n")
    assert "APR-007" in signed.codes("+policy=strict")


def test_a_comment_only_change_keeps_the_approvals(signed: Platform) -> None:
    text = signed.spec.read_text()
    signed.spec.write_text("# reviewed on Monday\n" + text.replace(
        "  gates:\n", "  gates:  # the bar agreed with model risk\n", 1)
        .replace("{metric: auc, min: 0.85}", "{min: 0.850, metric: auc}"))
    assert signed.codes() == []


def test_loosening_a_gate_makes_them_stale_and_diff_says_so(signed: Platform) -> None:
    old = signed.root / "old"
    shutil.copytree(signed.root / "specs", old)
    text = signed.spec.read_text().replace("{metric: auc, min: 0.85}", "{metric: auc, "
                                           "min: 0.7}")
    signed.spec.write_text(text)
    [p, *_] = [p for p in api.validate_one(signed.spec).errors if p.code == "APR-007"]
    assert "the spec changed after it was signed" in p.message
    assert "lifecycle approve" in (p.hint or "")
    d = api.diff_files(old / "fraud.yaml", signed.spec)
    [stale] = [c for c in d.specs[0].changes if c.path == "approvals (signed)"]
    assert stale.reason.startswith("2 approvals no longer cover this spec: gate minimum "
                                   "lowered")
    assert d.loosened


# --- HR-001: people and roles (issue 18, item 18) ------------------------------------------

def test_one_person_in_two_spellings_of_a_role_is_one_approval() -> None:
    assert independent_approvals([{"by": "a@x.io", "role": "model-risk"},
                                  {"by": "A@X.io", "role": "Model-Risk"}]) == 1


@pytest.mark.parametrize("approvals, expected", [
    ([{"by": "a@x.io", "role": "risk"}, {"by": "b@x.io", "role": "RISK"}], 1),  # one role
    ([{"by": "a@x.io", "role": "risk"}, {"by": "A@x.io", "role": "product"}], 1),  # one person
    ([{"by": "a@x.io", "role": "risk", "key": "K"}, {"by": "b@x.io", "role": "product",
                                                     "key": "K"}], 1),  # one key
    ([{"by": "a@x.io", "role": "risk"}, {"by": "b@x.io", "role": "risk"},
      {"by": "a@x.io", "role": "product"}], 2),  # b for risk, a for product
    ([{"by": "a@x.io", "role": "risk"}, {"by": "b@x.io", "role": "product"}], 2),
])
def test_independent_approvals_need_different_people_and_roles(
        approvals: list[dict[str, str]], expected: int) -> None:
    assert independent_approvals(approvals) == expected


def test_two_people_signing_one_role_in_two_spellings_fail_hr_001(platform: Platform) -> None:
    (platform.conf / "approvers" / "roles.yaml").write_text(
        "roles:\n  model-risk: [alice@example.com, bob@example.com]\n"
        "  Model-Risk: [alice@example.com, bob@example.com]\n")
    platform.approve("alice@example.com", "model-risk")
    platform.write_signed(_statement(platform, role="Model-Risk"), "bob@example.com",
                          "Model-Risk--bob@example.com.json")
    assert platform.codes() == ["HR-001"]


# --- lifecycle approve ---------------------------------------------------------------------

def test_approve_says_which_rules_the_approved_plan_fails(platform: Platform) -> None:
    done = api.approve(platform.spec, "product", platform.keys["bob@example.com"],
                       overrides=["serve.rollout.steps.0.weight=50"])
    assert done.failing == ("HR-002",)


def test_approve_refuses_a_key_the_platform_does_not_list(platform: Platform) -> None:
    with pytest.raises(InputError) as info:
        platform.approve("mallory@example.com", "product")
    [p] = info.value.problems
    assert p.code == "approve.unknown-key" and "docs/approvals.md" in (p.hint or "")


def test_approve_refuses_a_role_the_signer_does_not_hold(platform: Platform) -> None:
    with pytest.raises(InputError) as info:
        platform.approve("alice@example.com", "product")
    assert info.value.problems[0].code == "approve.role"
    assert not platform.folder.exists()


def _protected(platform: Platform) -> Path:
    key = serialization.load_ssh_private_key(platform.keys["bob@example.com"].read_bytes(),
                                             password=None)
    protected = platform.root / "keys" / "bob-protected"
    protected.write_bytes(key.private_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.BestAvailableEncryption(b"correct horse")))
    return protected


def test_approve_asks_for_the_passphrase_of_a_protected_key(platform: Platform) -> None:
    pytest.importorskip("bcrypt")  # cryptography needs it for protected OpenSSH keys
    protected = _protected(platform)
    with pytest.raises(InputError) as info:
        api.approve(platform.spec, "product", protected)
    assert "protected by a passphrase" in info.value.problems[0].message
    done = api.approve(platform.spec, "product", protected, passphrase=lambda: b"correct horse")
    assert done.statement.by == "bob@example.com"


def test_a_protected_key_without_bcrypt_says_what_to_install(
        platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        protected = _protected(platform)
    except Exception:  # no bcrypt here either: make the file with ssh-keygen instead
        if shutil.which("ssh-keygen") is None:
            pytest.skip("needs bcrypt or ssh-keygen to make a protected key")
        protected = platform.root / "keys" / "bob-protected"
        shutil.copy(platform.keys["bob@example.com"], protected)
        subprocess.run(["ssh-keygen", "-q", "-p", "-N", "correct horse", "-f", str(protected)],
                       check=True, capture_output=True, timeout=30)
    # a fresh interpreter where bcrypt cannot be imported, as on a machine without it
    # (here cryptography may already hold the bcrypt this process imported)
    code = ("import sys; sys.modules['bcrypt'] = None\n"
            "from lifecycle import api\nfrom lifecycle.errors import InputError\n"
            "try:\n"
            f"    api.approve({str(platform.spec)!r}, 'product', {str(protected)!r},\n"
            "                passphrase=lambda: b'correct horse')\n"
            "except InputError as exc:\n"
            "    [p] = exc.problems\n    print(p.code, '|', p.message)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT, env={**os.environ})
    code_, _, message = out.stdout.strip().partition(" | ")
    assert code_ == "approve.key", out.stdout + out.stderr
    assert "pip install 'lifecycle[sign]'" in message


def test_approve_through_the_cli_never_prints_the_key(platform: Platform) -> None:
    r = subprocess.run([sys.executable, "-m", "lifecycle", "--no-color", "approve",
                        str(platform.spec), "--role", "product", "--ticket", "PRD-9",
                        "--key", str(platform.keys["bob@example.com"])],
                       cwd=platform.root, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200"))
    assert r.returncode == 0, r.stderr
    assert "bob@example.com approves as product, ticket PRD-9" in r.stdout
    assert "note:" not in r.stdout  # it fails nothing but HR-001, for want of approvals
    secret = platform.keys["bob@example.com"].read_text()
    body = "".join(secret.splitlines()[1:-1])
    assert body[:40] not in r.stdout + r.stderr and "PRIVATE KEY" not in r.stdout + r.stderr


# --- a run that never starts, and promotion --------------------------------------------------

def test_run_of_a_tampered_high_risk_spec_never_starts(signed: Platform,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def started(*_: object, **__: object) -> None:
        raise AssertionError("the plan was run")

    monkeypatch.setattr(api, "run_plan", started)
    path = signed.folder / "model-risk--alice@example.com.json"
    path.write_text(path.read_text().replace("MRM-1", "MRM-2"))
    with pytest.raises(PolicyError) as info:
        api.run_spec(signed.spec, [], options=None)
    assert {p.code for p in info.value.problems} == {"APR-004", "HR-001"}


def test_promotion_needs_the_digest_the_approvals_cover() -> None:
    approved = "sha256:" + "a" * 64
    alice = ApprovalRecord(by="alice@example.com", role="model-risk", key="SHA256:x",
                           digest=approved, expires=dt.date(2027, 1, 1), source="f.json")
    tags = version_tags(approved, [alice])
    assert promotion_refusal(tags, approved, [alice], version="7", today=TODAY) is None
    assert promotion_refusal({}, None, version="7") is None  # nothing was approved
    missing = promotion_refusal({APPROVALS_TAG: "[]"}, approved, [alice], version="7")
    assert missing is not None and missing.startswith("version 7 carries no approved plan "
                                                      "digest")
    other = promotion_refusal(version_tags("sha256:" + "b" * 64, [alice]), approved, [alice],
                              version="7", today=TODAY)
    assert other is not None and "was registered from plan digest sha256:bbbbbbbbbbbb" in other
    late = promotion_refusal(tags, approved, [alice], version="7", today=dt.date(2027, 1, 2))
    assert late is not None and "model-risk: alice@example.com expired on 2027-01-01" in late


def test_promotion_without_the_spec_holds_the_version_to_its_own_record() -> None:
    approved = "sha256:" + "a" * 64
    alice = ApprovalRecord(by="alice@example.com", role="model-risk", key="SHA256:x",
                           digest=approved, expires=dt.date(2026, 12, 1), source="f.json")
    tags = version_tags(approved, [alice])
    assert recorded_digest(tags) == approved and recorded_approvals(tags)[0].by == alice.by
    assert promotion_refusal(tags, recorded_digest(tags), recorded_approvals(tags),
                             today=TODAY) is None
    assert promotion_refusal(tags, recorded_digest(tags), recorded_approvals(tags),
                             today=dt.date(2026, 12, 2)) is not None


def test_registered_version_tags_and_model_card_list_the_approvals(signed: Platform) -> None:
    from lifecycle.execute.card import model_card
    from lifecycle.plan.approvals import approval_tags

    plan = api.compile_spec(signed.spec)
    tags = approval_tags(plan)
    assert tags[DIGEST_TAG] == plan_digest(plan)
    listed = json.loads(tags[APPROVALS_TAG])
    assert [(a["by"], a["role"], a["ticket"], a["expires"]) for a in listed] == [
        ("alice@example.com", "model-risk", "MRM-1", "2027-06-30"),
        ("bob@example.com", "product", None, None)]
    assert all(a["key"].startswith("SHA256:") for a in listed)
    card = model_card(plan, {}, {})
    assert f"signed with key `{listed[0]['key']}`" in card and plan_digest(plan) in card


# --- interoperability with ssh-keygen, and cold validate ----------------------------------------

@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
def test_signatures_interoperate_with_ssh_keygen_both_ways(signed: Platform) -> None:
    allowed = str(signed.conf / "approvers" / "allowed_signers")
    statement = signed.folder / "product--bob@example.com.json"
    ours = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", allowed, "-I",
                           "bob@example.com", "-n", NAMESPACE, "-s", f"{statement}.sig"],
                          input=statement.read_bytes(), capture_output=True, timeout=30)
    assert ours.returncode == 0, ours.stderr
    # the same statement signed by ssh-keygen verifies here (ed25519 is deterministic:
    # the very same bytes)
    theirs = signed.root / "theirs.json"
    theirs.write_bytes(statement.read_bytes())
    subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(signed.keys["bob@example.com"]),
                    "-n", NAMESPACE, str(theirs)], check=True, capture_output=True, timeout=30)
    text = Path(f"{theirs}.sig").read_text()
    assert sshsig.verify(theirs.read_bytes(), text, NAMESPACE).fingerprint == \
        api.validate_one(signed.spec).plan.approvals.counted[1].key  # type: ignore[union-attr]
    assert text == Path(f"{statement}.sig").read_text()


def test_cold_validate_imports_cryptography_only_for_signed_approvals() -> None:
    code = ("import sys; from lifecycle.api import validate_one; validate_one({!r}); "
            "print('cryptography' in sys.modules)")
    def imports(spec: Path) -> str:
        return subprocess.run([sys.executable, "-c", code.format(str(spec))], cwd=ROOT,
                              capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, PYTHONPATH=str(ROOT))).stdout.strip()
    assert imports(ROOT / "specs" / "churn-service.yaml") == "False"
    assert imports(FRAUD) == "True"


def test_promote_refuses_a_candidate_without_the_approved_digest(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`lifecycle promote SPEC`'s check, with the registry and the cluster faked."""
    import types

    from lifecycle.execute import serving
    from lifecycle.runtime.contract import RolloutPhase, RolloutStatus

    approved = "sha256:" + "a" * 64
    tags: dict[str, str] = {APPROVALS_TAG: "[]"}
    state = RolloutStatus(application="fraud-detector", strategy="canary",
                          phase=RolloutPhase.RUNNING, step=0,
                          versions={"stable": "2", "candidate": "3"},
                          model="fraud-detector", tracking_uri="sqlite:///x")

    class Client:
        def __init__(self, uri: str) -> None:
            assert uri == "sqlite:///x"

        def get_model_version(self, model: str, version: str) -> object:
            assert (model, version) == ("fraud-detector", "3")
            return types.SimpleNamespace(tags=tags)

    tracking = types.ModuleType("mlflow.tracking")
    tracking.MlflowClient = Client  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mlflow", types.ModuleType("mlflow"))
    monkeypatch.setitem(sys.modules, "mlflow.tracking", tracking)
    with pytest.raises(PolicyError) as info:
        serving._authorise_promotion("fraud-detector", "3", state, (approved, []), TODAY)
    [p] = info.value.problems
    assert p.code == "promote.unapproved" and info.value.exit_code == 1
    assert p.message.startswith("promotion refused: version fraud-detector 3 carries no "
                                "approved plan digest")
    tags[DIGEST_TAG] = approved
    serving._authorise_promotion("fraud-detector", "3", state, (approved, []), TODAY)


def test_promote_of_a_spec_is_held_to_its_approvals_now(signed: Platform) -> None:
    digest, counted = promotion_approval(signed.spec) or (None, [])
    plan = api.compile_spec(signed.spec)
    assert digest == plan_digest(plan) and [a.by for a in counted] == [
        "alice@example.com", "bob@example.com"]
    signed.spec.write_text(signed.spec.read_text().replace("min: 0.85", "min: 0.7"))
    with pytest.raises(PolicyError):  # changed since: no promotion until approved again
        promotion_approval(signed.spec)
