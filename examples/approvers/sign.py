"""Sign the example high-risk spec's approvals with the example keys, through the same
path a person takes (`lifecycle approve SPEC --role ROLE --ticket T --expires D --key K`).
Run it after a change that makes them stale: `python -m examples.approvers.sign`."""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

# identity -> (role, ticket): the example spec's two approvals
APPROVERS = {"alice@example.com": ("model-risk", "MRM-123"),
             "bob@example.com": ("product", "PRD-77")}
EXPIRES = "2028-12-31"
SPECS = ("specs/fraud.yaml",)


def example_key(identity: str) -> bytes:
    """The OpenSSH private key file of an example approver (derived from a public seed)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    seed = hashlib.sha256(f"lifecycle example approver {identity}".encode()).digest()
    key = Ed25519PrivateKey.from_private_bytes(seed)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                             serialization.NoEncryption())


def public_line(identity: str) -> str:
    """The example approver's allowed_signers line (as conf/approvers/allowed_signers has)."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_ssh_private_key(example_key(identity), password=None)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return f'{identity} namespaces="lifecycle-approval" {public} example key: replace it'


def write_keys(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for identity in APPROVERS:
        path = folder / identity.split("@")[0]
        path.write_bytes(example_key(identity))
        os.chmod(path, 0o600)
        out[identity] = path
    return out


def sign_copy(spec: Path, folder: Path, overrides: Sequence[str] = (),
              approvers: Mapping[str, str] | None = None) -> Path:
    """`spec` approved by example approvers (identity -> role; default: both) for the plan
    it compiles to with `overrides`: what tests and benchmarks that run a changed example
    use, as a team would have its change approved. A spec outside `folder` is copied into
    it first; the keys are written there too."""
    from lifecycle import api

    folder.mkdir(parents=True, exist_ok=True)
    target = spec
    if not spec.resolve().is_relative_to(folder.resolve()):
        target = Path(tempfile.mkdtemp(prefix="approved-", dir=folder)) / "specs" / spec.name
        target.parent.mkdir(parents=True)
        shutil.copy(spec, target)
    keys = write_keys(Path(tempfile.mkdtemp(prefix="keys-", dir=folder)))
    chosen = approvers if approvers is not None else {i: r for i, (r, _) in APPROVERS.items()}
    for identity, role in chosen.items():  # protected keys among the overrides are
        # approved as asked: whoever compiles the copy with them opts in (or is refused)
        api.approve(target, role=role, key=keys[identity], overrides=list(overrides),
                    allow_protected_overrides=True)
    return target


def main() -> None:
    from lifecycle import api

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=Path, help="also keep the example key files here")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        keys = write_keys(ns.keys or Path(tmp))
        for spec in SPECS:
            for identity, (role, ticket) in APPROVERS.items():
                done = api.approve(spec, role=role, key=keys[identity], ticket=ticket,
                                   expires=EXPIRES)
                print(f"signed {done.statement_path} ({identity}, {role})")


if __name__ == "__main__":
    main()
