"""Opening a location — a folder, or a pyarrow.fs URI such as
`s3://bucket/prefix?endpoint_override=host:9000&scheme=http` — on pyarrow's filesystems,
with credentials that never travel in the text.

Credentials come from the environment of the process that opens the location (the AWS
variables, a GCP service account, an instance role: whatever pyarrow's default chain
reads), or from `secret://NAME` references in the URI's query
(`?access_key=secret://S3_KEY&secret_key=secret://S3_SECRET`), read at the moment the
filesystem is opened from the environment variable NAME or the file
`$LIFECYCLE_SECRETS_DIR/NAME` (a Kubernetes secret volume). The location text — what
plans, journals, job arguments and logs carry — holds only the reference. A literal
credential in a location is refused (`inline_credentials`)."""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyarrow.fs as pafs

SECRET_SCHEME = "secret://"
SECRETS_DIR_ENV = "LIFECYCLE_SECRETS_DIR"
# query keys of pyarrow's filesystems that hold a credential
CREDENTIAL_KEYS = frozenset({"access_key", "secret_key", "session_token", "password",
                             "credentials", "token"})
_SECRET_NAME = re.compile(r"^[A-Za-z0-9_./-]+$")


class SecretNotFound(LookupError):
    """A `secret://NAME` reference that neither the environment nor the secrets folder
    resolves."""


class InlineCredentials(ValueError):
    """A location that carries a credential in plain text."""


def is_local(location: str) -> bool:
    return "://" not in location or location.startswith("file://")


def resolve_secret(reference: str) -> str:
    """The value behind `secret://NAME`: $NAME, else the file $LIFECYCLE_SECRETS_DIR/NAME."""
    name = reference[len(SECRET_SCHEME):] if reference.startswith(SECRET_SCHEME) else reference
    if not _SECRET_NAME.match(name) or ".." in name.split("/"):
        raise SecretNotFound(f"'{reference}' is not a secret reference (secret://NAME, NAME "
                             "made of letters, digits, _ . / -)")
    variable = re.sub(r"[^A-Za-z0-9_]", "_", name)
    value = os.environ.get(variable)
    if value is None and os.environ.get(SECRETS_DIR_ENV):
        path = os.path.join(os.environ[SECRETS_DIR_ENV], name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                value = f.read().strip()
    if value is None:
        raise SecretNotFound(
            f"secret '{reference}' is not set on this machine: set the environment "
            f"variable {variable} or write it to ${SECRETS_DIR_ENV}/{name} (on a cluster: on "
            "every node, e.g. from a Kubernetes Secret)")
    return value


def inline_credentials(location: str) -> list[str]:
    """What in a location holds a credential in plain text: `user:password@` in its
    authority, or a credential query key whose value is not a `secret://` reference."""
    if is_local(location):
        return []
    parts = urlsplit(location)
    found = []
    if parts.password is not None:
        found.append("user:password@ in the address")
    found.extend(f"{key}=" for key, value in parse_qsl(parts.query, keep_blank_values=True)
                 if key.lower() in CREDENTIAL_KEYS and not value.startswith(SECRET_SCHEME))
    return found


def check_location(location: str, what: str) -> None:
    """Refuse a location with a plain-text credential: it would be written into plans,
    journals, job arguments and logs."""
    found = inline_credentials(location)
    if found:
        raise InlineCredentials(
            f"{what} holds a credential in plain text ({', '.join(found)}): take it from "
            "the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, ...) or write a "
            "reference instead, e.g. ?access_key=secret://S3_KEY&secret_key=secret://S3_SECRET")


def split_location(location: str) -> tuple[str, str]:
    """(the location without its query, the query): paths are joined onto the first."""
    if is_local(location):
        return location, ""
    parts = urlsplit(location)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), parts.query


def join(location: str, *parts: str) -> str:
    """`location/parts...`, keeping a URI's query (its options) at the end."""
    if not parts:
        return location
    base, query = split_location(location)
    joined = "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])
    return f"{joined}?{query}" if query else joined


def filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem and the path on it. `secret://` values in the query are resolved
    here and only here; an error never repeats a resolved value."""
    if location.startswith("file://"):
        return pafs.LocalFileSystem(), location[len("file://"):]
    if "://" not in location:
        return pafs.LocalFileSystem(), location
    check_location(location, location.split("?", 1)[0])
    parts = urlsplit(location)
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = [(k, v) for k, v in query if k.lower() not in CREDENTIAL_KEYS]
    credentials = {k.lower(): resolve_secret(v) for k, v in query
                   if k.lower() in CREDENTIAL_KEYS}
    uri = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(options), ""))
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
    except (ValueError, OSError) as exc:
        raise type(exc)(f"cannot open {redacted(location)}: {exc}") from None
    if credentials:
        if parts.scheme != "s3":
            raise InlineCredentials(
                f"{redacted(location)}: credential references in the address are read for "
                "s3:// only; give other stores' credentials through their environment "
                "(e.g. GOOGLE_APPLICATION_CREDENTIALS)")
        fs = _s3_with(dict(options), credentials)
    return fs, path


def _s3_with(options: dict[str, str], credentials: dict[str, str]) -> pafs.FileSystem:
    """pyarrow's S3 URIs take no credentials: the same options, built directly."""
    kwargs: dict[str, object] = {k: options[k] for k in (
        "region", "scheme", "endpoint_override") if k in options}
    for flag in ("allow_bucket_creation", "allow_bucket_deletion", "force_virtual_addressing"):
        if flag in options:
            kwargs[flag] = options[flag].lower() in ("1", "true", "yes")
    return pafs.S3FileSystem(access_key=credentials.get("access_key"),
                             secret_key=credentials.get("secret_key"),
                             session_token=credentials.get("session_token"), **kwargs)


def redacted(location: str) -> str:
    """The location as messages show it: credential query values replaced by ***."""
    if is_local(location):
        return location
    parts = urlsplit(location)
    query = [(k, v if k.lower() not in CREDENTIAL_KEYS or v.startswith(SECRET_SCHEME)
              else "***") for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe=":/*"), ""))


def s3_client_options(location: str) -> dict[str, str | None]:
    """What a boto3 S3 client needs to reach the same store pyarrow does (endpoint,
    region, credentials from the query's references; None: the default chain)."""
    query = dict(parse_qsl(urlsplit(location).query))

    def value(key: str) -> str | None:
        v = query.get(key)
        return resolve_secret(v) if v is not None and v.startswith(SECRET_SCHEME) else v

    endpoint = query.get("endpoint_override")
    if endpoint and "://" not in endpoint:
        endpoint = f"{query.get('scheme', 'https')}://{endpoint}"
    return {"endpoint_url": endpoint or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL"), "region_name": query.get("region"),
            "aws_access_key_id": value("access_key"),
            "aws_secret_access_key": value("secret_key"),
            "aws_session_token": value("session_token")}


class ByReference(pafs.FileSystemHandler):
    """A location's filesystem as it is pickled: what Ray Train and Tune pickle (their
    run config, into the store itself as `tuner.pkl`, and to every worker) holds only the
    location — its `secret://` references, never the values they resolve to — and each
    process that unpickles it opens the filesystem again from its own environment.
    pyarrow's own S3 filesystem pickles its resolved keys. Wrap with `by_reference`."""

    def __init__(self, location: str) -> None:
        self.location = location
        self._fs: pafs.FileSystem | None = None

    def __reduce__(self) -> tuple[type[ByReference], tuple[str]]:
        return (ByReference, (self.location,))

    @property
    def fs(self) -> pafs.FileSystem:
        if self._fs is None:
            self._fs = filesystem(self.location)[0]
        return self._fs

    def get_type_name(self) -> str:  # without opening it (that resolves the secrets)
        scheme = urlsplit(self.location).scheme if "://" in self.location else "local"
        return f"lifecycle+{scheme}"

    def equals(self, other: object) -> bool:
        handler = getattr(other, "handler", other)
        return isinstance(handler, ByReference) and handler.location == self.location

    def normalize_path(self, path: str) -> str:
        return str(self.fs.normalize_path(path))

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return list(self.fs.get_file_info(paths))

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return list(self.fs.get_file_info(selector))

    def create_dir(self, path: str, recursive: bool) -> None:
        self.fs.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self.fs.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self.fs.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        self.fs.delete_dir_contents("/", accept_root_dir=True)

    def delete_file(self, path: str) -> None:
        self.fs.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        self.fs.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        self.fs.copy_file(src, dest)

    # the PyFileSystem around this handler has already applied (or skipped) compression
    # by the file's extension: the inner filesystem must not apply it a second time
    def open_input_stream(self, path: str) -> Any:
        return self.fs.open_input_stream(path, compression=None)

    def open_input_file(self, path: str) -> Any:
        return self.fs.open_input_file(path)

    def open_output_stream(self, path: str, metadata: Any) -> Any:
        return self.fs.open_output_stream(path, compression=None, metadata=metadata)

    def open_append_stream(self, path: str, metadata: Any) -> Any:
        return self.fs.open_append_stream(path, compression=None, metadata=metadata)


def by_reference(location: str) -> pafs.FileSystem:
    """The location's filesystem, pickled as its location (see ByReference)."""
    return pafs.PyFileSystem(ByReference(location))
