"""SSH signatures (the SSHSIG format git uses for signed commits and `ssh-keygen -Y sign`
writes) with ed25519 keys, and git's allowed_signers file.

The cryptography comes from the `cryptography` package (imported only when something is
signed or verified: a spec without signed approvals never loads it); this module only
frames it as PROTOCOL.sshsig says, so a signature made here verifies with `ssh-keygen -Y
verify` and one made by ssh-keygen verifies here.

    blob        = "SSHSIG" u32(1) string(public key) string(namespace) string("")
                  string(hash algorithm) string(signature)
    signed data = "SSHSIG" string(namespace) string("") string(hash algorithm)
                  string(H(message))
"""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import hashlib
import importlib.util
import re
import struct
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"SSHSIG"
VERSION = 1
ED25519 = "ssh-ed25519"
HASHES = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}
BEGIN = "-----BEGIN SSH SIGNATURE-----"
END = "-----END SSH SIGNATURE-----"
_KEY_TYPES = ("ssh-", "ecdsa-", "sk-")


class SignatureError(ValueError):
    """A signature that is malformed, of an unsupported kind, or does not verify."""


class KeyFileError(ValueError):
    """A private key file that cannot be used to sign (the message says why)."""


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise SignatureError("the signature is truncated")
        out = self.data[self.at:self.at + n]
        self.at += n
        return out

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def string(self) -> bytes:
        return self.take(self.u32())


@dataclass(frozen=True)
class PublicKey:
    """An SSH public key by its wire encoding (RFC 4253: string type, then the key)."""

    blob: bytes

    @property
    def keytype(self) -> str:
        try:
            return _Reader(self.blob).string().decode("ascii")
        except (SignatureError, UnicodeDecodeError):
            return "?"

    @property
    def fingerprint(self) -> str:
        """As `ssh-keygen -l` shows it: SHA256:<base64 without padding>."""
        digest = hashlib.sha256(self.blob).digest()
        return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")

    @property
    def openssh(self) -> str:
        return f"{self.keytype} {base64.b64encode(self.blob).decode('ascii')}"

    @classmethod
    def parse(cls, text: str) -> PublicKey:
        """`ssh-ed25519 AAAA... [comment]`, as in a .pub file or allowed_signers."""
        parts = text.split()
        if len(parts) < 2:
            raise ValueError("expected 'KEYTYPE BASE64KEY [comment]'")
        try:
            blob = base64.b64decode(parts[1], validate=True)
        except ValueError:
            raise ValueError(f"the key after {parts[0]} is not base64") from None
        key = cls(blob)
        if key.keytype != parts[0]:
            raise ValueError(f"the key says it is {key.keytype}, the line says {parts[0]}")
        return key


def _ed25519_raw(key: PublicKey) -> bytes:
    r = _Reader(key.blob)
    r.string()
    raw = r.string()
    if len(raw) != 32:
        raise SignatureError("an ed25519 public key is 32 bytes")
    return raw


def _signed_data(message: bytes, namespace: str, hash_name: str) -> bytes:
    return (MAGIC + _string(namespace.encode()) + _string(b"") + _string(hash_name.encode())
            + _string(HASHES[hash_name](message).digest()))


def _armor(blob: bytes) -> str:
    text = base64.b64encode(blob).decode("ascii")
    lines = [text[i:i + 70] for i in range(0, len(text), 70)]  # as ssh-keygen wraps it
    return "\n".join([BEGIN, *lines, END]) + "\n"


def _unarmor(armored: str) -> bytes:
    text = armored.strip()
    if not text.startswith(BEGIN) or not text.endswith(END):
        raise SignatureError(f"not an SSH signature (it must start with {BEGIN})")
    body = "".join(text[len(BEGIN):-len(END)].split())
    try:
        return base64.b64decode(body, validate=True)
    except ValueError:
        raise SignatureError("the signature's body is not base64") from None


_NEEDS_BCRYPT = ("{path} is protected by a passphrase, and reading such a key needs the "
                 "bcrypt package: pip install 'lifecycle[sign]'")


def load_signing_key(path: Path, passphrase: bytes | None = None) -> tuple[object, PublicKey]:
    """An ed25519 private key from an OpenSSH key file, and its public half. Raises
    KeyFileError (never with the key's content in the message)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read the key file {path}: {exc.strerror}") from None
    try:
        key = serialization.load_ssh_private_key(data, password=passphrase)
    except UnsupportedAlgorithm:  # a passphrase-protected key: bcrypt derives its cipher key
        raise KeyFileError(_NEEDS_BCRYPT.format(path=path)) from None
    except TypeError:  # encrypted and no passphrase, or a passphrase for a plain key
        if passphrase is None:
            if importlib.util.find_spec("bcrypt") is None:  # do not ask for it in vain
                raise KeyFileError(_NEEDS_BCRYPT.format(path=path)) from None
            raise KeyFileError(f"{path} is protected by a passphrase") from None
        raise KeyFileError(f"{path} is not protected by a passphrase") from None
    except ValueError as exc:
        text = str(exc).lower()
        if passphrase is not None and ("password" in text or "decrypt" in text):
            raise KeyFileError(f"wrong passphrase for {path}") from None
        raise KeyFileError(f"{path} is not an OpenSSH private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is a {type(key).__name__.removesuffix('PrivateKey')} key; "
                           "approvals are signed with ed25519 keys")
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH)
    return key, PublicKey.parse(public.decode("ascii"))


def sign(message: bytes, key: object, public: PublicKey, namespace: str) -> str:
    """The armored SSHSIG signature of `message` (sha512, as ssh-keygen makes it)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    assert isinstance(key, Ed25519PrivateKey)
    raw = key.sign(_signed_data(message, namespace, "sha512"))
    signature = _string(ED25519.encode()) + _string(raw)
    blob = (MAGIC + struct.pack(">I", VERSION) + _string(public.blob)
            + _string(namespace.encode()) + _string(b"") + _string(b"sha512")
            + _string(signature))
    return _armor(blob)


def verify(message: bytes, armored: str, namespace: str) -> PublicKey:
    """The key that signed `message` in `namespace`; SignatureError when the signature is
    malformed, for another namespace, or does not verify. Whose key it is, is the
    caller's question (allowed_signers)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    r = _Reader(_unarmor(armored))
    if r.take(6) != MAGIC:
        raise SignatureError("not an SSHSIG signature")
    version = r.u32()
    if version != VERSION:
        raise SignatureError(f"SSHSIG version {version} is not supported (only {VERSION})")
    public = PublicKey(r.string())
    signed_namespace = r.string().decode("utf-8", "replace")
    r.string()  # reserved
    hash_name = r.string().decode("ascii", "replace")
    signature = _Reader(r.string())
    if signed_namespace != namespace:
        raise SignatureError(f"signed for namespace '{signed_namespace}', not '{namespace}'")
    if hash_name not in HASHES:
        raise SignatureError(f"hash algorithm '{hash_name}' is not sha256 or sha512")
    if public.keytype != ED25519:
        raise SignatureError(f"signed with a {public.keytype} key; approvals use ed25519")
    if signature.string() != ED25519.encode():
        raise SignatureError("the signature is not an ed25519 signature")
    try:
        Ed25519PublicKey.from_public_bytes(_ed25519_raw(public)).verify(
            signature.string(), _signed_data(message, namespace, hash_name))
    except InvalidSignature:
        raise SignatureError("the signature does not match the statement") from None
    return public


# --- allowed_signers (ssh-keygen(1), ALLOWED SIGNERS) ------------------------------------

@dataclass(frozen=True)
class AllowedSigner:
    principals: tuple[str, ...]  # patterns, as written (`*` and `?`; `!` negates)
    key: PublicKey
    namespaces: tuple[str, ...] | None  # patterns; None: any namespace
    valid_after: dt.datetime | None
    valid_before: dt.datetime | None
    line: int

    def names(self, principal: str) -> bool:
        """Whether the line names `principal` (compared case-insensitively: one person's
        address in two spellings is one person)."""
        who = principal.lower()
        matched = False
        for pattern in self.principals:
            negated = pattern.startswith("!")
            if fnmatch.fnmatchcase(who, pattern.lstrip("!").lower()):
                if negated:
                    return False
                matched = True
        return matched

    def allows_namespace(self, namespace: str) -> bool:
        return self.namespaces is None or any(fnmatch.fnmatchcase(namespace, p)
                                              for p in self.namespaces)

    def valid_at(self, moment: dt.datetime) -> bool:
        return ((self.valid_after is None or moment >= self.valid_after)
                and (self.valid_before is None or moment < self.valid_before))


_TOKEN = re.compile(r'(?:[^\s"]|"[^"]*")+')
_OPTION = re.compile(r'([A-Za-z-]+)(?:="([^"]*)")?(?:,|$)')


def _when(text: str) -> dt.datetime:
    """YYYYMMDD[HHMM[SS]][Z]: UTC with Z, else local time (as ssh-keygen reads it)."""
    utc = text.endswith(("Z", "z"))
    digits = text[:-1] if utc else text
    formats = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}
    if len(digits) not in formats or not digits.isdigit():
        raise ValueError(f"'{text}' is not a time (YYYYMMDD, YYYYMMDDHHMM[SS], Z for UTC)")
    moment = dt.datetime.strptime(digits, formats[len(digits)])
    return moment.replace(tzinfo=dt.UTC) if utc else moment.astimezone()


def parse_allowed_signers(text: str) -> list[AllowedSigner]:
    """Every line of an allowed_signers file; ValueError('line N: ...') for a bad one."""
    out: list[AllowedSigner] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tokens = _TOKEN.findall(line)
        try:
            if len(tokens) < 3:
                raise ValueError("expected 'PRINCIPALS [OPTIONS] KEYTYPE KEY [COMMENT]'")
            principals = tuple(p for p in tokens[0].strip('"').split(",") if p)
            options: dict[str, str | None] = {}
            rest = tokens[1:]
            if not rest[0].startswith(_KEY_TYPES):
                for m in _OPTION.finditer(rest[0]):
                    if m.group(1):
                        options[m.group(1).lower()] = m.group(2)
                rest = rest[1:]
            if "cert-authority" in options:
                raise ValueError("cert-authority lines are not supported: list each key")
            unknown = set(options) - {"namespaces", "valid-after", "valid-before"}
            if unknown:
                raise ValueError(f"unsupported option {sorted(unknown)[0]}")
            namespaces = options.get("namespaces")
            after, before = options.get("valid-after"), options.get("valid-before")
            out.append(AllowedSigner(
                principals=principals, key=PublicKey.parse(" ".join(rest[:2])),
                namespaces=tuple(namespaces.split(",")) if namespaces is not None else None,
                valid_after=_when(after) if after else None,
                valid_before=_when(before) if before else None, line=number))
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
    return out
