"""The run store on any pyarrow.fs filesystem (a local folder, s3://, gs://, ...)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs


@dataclass(frozen=True)
class Store:
    uri: str

    @property
    def fs_and_base(self) -> tuple[pafs.FileSystem, str]:
        if "://" in self.uri:
            return pafs.FileSystem.from_uri(self.uri)
        return pafs.LocalFileSystem(), self.uri

    @property
    def is_local(self) -> bool:
        return "://" not in self.uri or self.uri.startswith("file://")

    def path(self, *parts: str) -> str:
        _, base = self.fs_and_base
        return "/".join([base.rstrip("/"), *parts])

    def uri_of(self, *parts: str) -> str:
        """A location Ray Train/Tune accept as storage_path (local path or URI)."""
        if "://" in self.uri:
            return "/".join([self.uri.rstrip("/"), *parts])
        return os.path.join(self.uri, *parts)

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
