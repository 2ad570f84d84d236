"""The provenance index: for every key path of a composed spec, where its value came from."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Location
from .keypath import KeyPath


@dataclass
class ProvenanceIndex:
    """Key path -> Location, built by replaying the composition in Hydra's merge order:
    mappings merge key by key, anything else (scalar, list, null) replaces the subtree."""

    entries: dict[KeyPath, Location] = field(default_factory=dict)
    # every proper prefix of an entry (may hold stale ones): a path not in it has nothing
    # under it, so replacing it does not scan the index
    _parents: set[KeyPath] = field(default_factory=set, repr=False, compare=False)

    def _drop_under(self, path: KeyPath) -> None:
        if path not in self._parents:
            return
        n = len(path)
        for key in [k for k in self.entries if len(k) > n and k[:n] == path]:
            del self.entries[key]

    def set(self, path: KeyPath, location: Location, replaces_subtree: bool) -> None:
        if replaces_subtree:
            self._drop_under(path)
        self.entries[path] = location
        self._parents.update(path[:i] for i in range(len(path)))

    def delete(self, path: KeyPath) -> None:
        self._drop_under(path)
        self.entries.pop(path, None)

    def locate(self, path: KeyPath) -> Location:
        """The location of `path`, or of its nearest ancestor that has one (a missing key
        is reported where its parent is written)."""
        probe = tuple(path)
        while probe:
            loc = self.entries.get(probe)
            if loc is not None:
                return loc
            probe = probe[:-1]
        return self.entries.get((), Location())
