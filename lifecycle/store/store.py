"""The run store on any pyarrow.fs filesystem (a local folder, s3://, gs://, ...).

The location keeps its query (`s3://bucket/runs?endpoint_override=...&scheme=http`):
paths are joined before it, and credentials are never part of it (see `store.fs`)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs

from . import fs as locations


@dataclass(frozen=True)
class Store:
    uri: str

    @property
    def fs_and_base(self) -> tuple[pafs.FileSystem, str]:
        return locations.filesystem(self.uri)

    @property
    def is_local(self) -> bool:
        return locations.is_local(self.uri)

    def path(self, *parts: str) -> str:
        _, base = self.fs_and_base
        return "/".join([base.rstrip("/"), *parts])

    def uri_of(self, *parts: str) -> str:
        """The location of `parts` in the same form as the store's (local path or URI,
        the URI's options kept)."""
        if "://" in self.uri:
            return locations.join(self.uri, *parts)
        return os.path.join(self.uri, *parts)

    def ray_storage(self, *parts: str) -> tuple[str, pafs.FileSystem | None]:
        """`storage_path` and `storage_filesystem` for Ray Train and Tune: a local path
        and None, or the path on the store's filesystem and that filesystem — one that
        Ray pickles as the store's location, never its resolved credentials (Tune writes
        its run config into the store; every node opens the store from its own
        environment)."""
        if self.is_local:
            return self.uri_of(*parts), None
        return self.path(*parts), locations.by_reference(self.uri)

    def write_json(self, rel: str, value: Any) -> None:
        fs, _ = self.fs_and_base
        target = self.path(rel)
        fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
        data = json.dumps(value, sort_keys=True, indent=1).encode()
        if self.is_local:  # write-then-rename: never a half-written record
            tmp = target + ".tmp"
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        else:
            with fs.open_output_stream(target) as out:
                out.write(data)

    def read_json(self, rel: str) -> Any | None:
        fs, _ = self.fs_and_base
        try:
            with fs.open_input_stream(self.path(rel)) as f:
                return json.loads(f.read().decode())
        except (FileNotFoundError, OSError):
            return None

    def list_dir(self, rel: str) -> list[str]:
        fs, _ = self.fs_and_base
        selector = pafs.FileSelector(self.path(rel), allow_not_found=True)
        return sorted(info.base_name for info in fs.get_file_info(selector))

    def upload_dir(self, local: str, rel: str) -> str:
        """A local folder copied to `rel` in the store; returns `rel`."""
        fs, _ = self.fs_and_base
        fs.create_dir(self.path(rel), recursive=True)
        pafs.copy_files(local, self.path(rel), source_filesystem=pafs.LocalFileSystem(),
                        destination_filesystem=fs)
        return rel

    def download(self, path: str, into: str | None = None) -> str:
        """A folder of the store's filesystem (a path on it, e.g. a checkpoint Ray Train
        wrote) as a local folder; a local store's paths are returned as they are."""
        if self.is_local:
            return path
        fs, _ = self.fs_and_base
        target = into or tempfile.mkdtemp(prefix="lifecycle-store-")
        pafs.copy_files(path, target, source_filesystem=fs,
                        destination_filesystem=pafs.LocalFileSystem())
        return target
