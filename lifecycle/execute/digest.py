"""The data digest: what the data is, and nothing about where it lies.

A source's digest covers, for every file it reads, the file's name inside the source
(for a folder: its path under the folder, partition keys included; for a single file:
nothing), its size and its content hash. It never covers where the source lies — a
project folder moved, or unpacked by a Ray Job under a name that changes with every
edit of any project file, holds the same data and gets the same digest — so a stage
downstream of unchanged data is skipped, locally and on a cluster alike.

The content hash is sha256 over every byte (mlflow.data digests sample; this does not),
files hashed in parallel threads in 1 MiB chunks (hashlib releases the GIL), or, for an
S3 source when boto3 is installed, the store's own ETags (no byte read; recorded as kind
`s3-etag`: an ETag changes whenever an object is written, and the same bytes uploaded in
a different number of parts get a different one — a needless rerun, never a missed
change)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow.fs as pafs

from ..store import fs as locations
from .contract import OpenedSource

CHUNK = 1 << 20
THREADS = 4


@dataclass(frozen=True)
class SourceDigest:
    value: str
    kind: str  # sha256 | s3-etag
    files: int
    bytes: int


def file_sha256(fs: pafs.FileSystem, path: str) -> str:
    h = hashlib.sha256()
    with fs.open_input_stream(path) as stream:
        while chunk := stream.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _s3_etags(location: str, opened: OpenedSource) -> dict[str, str] | None:
    """path -> ETag for the source's files, listed from S3 (None: not S3, or boto3 is
    not installed)."""
    if not location.startswith("s3://") or not isinstance(opened.fs, pafs.S3FileSystem):
        return None
    try:
        import boto3
    except ImportError:
        return None
    options = {k: v for k, v in locations.s3_client_options(location).items() if v}
    client = boto3.client("s3", **options)
    bucket, _, prefix = opened.path.partition("/")
    found: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                  Prefix=prefix):
        for obj in page.get("Contents", []):
            found[f"{bucket}/{obj['Key']}"] = str(obj["ETag"]).strip('"')
    return found


def digest_source(opened: OpenedSource, location: str,
                  hasher: Callable[[pafs.FileSystem, str], str] = file_sha256) -> SourceDigest:
    """`location`: the source's path as the spec writes it (a URI's options say how to
    reach the store's own listing)."""
    etags = _s3_etags(location, opened)
    kind = "s3-etag" if etags is not None and all(f.path in etags for f in opened.files) \
        else "sha256"
    if kind == "s3-etag":
        assert etags is not None
        hashes = [etags[f.path] for f in opened.files]
    else:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            hashes = list(pool.map(lambda f: hasher(opened.fs, f.path), opened.files))
    h = hashlib.sha256(f"{kind}\n".encode())
    for info, content in sorted(zip(opened.files, hashes),
                                key=lambda pair: opened.relative(pair[0].path)):
        h.update(f"{opened.relative(info.path)}\t{info.size}\t{content}\n".encode())
    return SourceDigest(h.hexdigest(), kind, len(opened.files), opened.bytes)
