"""Secret references: `secret://NAME` in a spec names a secret without holding it; it is
read at run time, in the process that needs it, from the environment variable NAME (on a
cluster: the nodes' environment, like cloud credentials; on the local Ray `lifecycle run`
starts: the environment of that command). A secret's value is never written to a spec, a
plan, a journal or a log."""

from __future__ import annotations

import os

PREFIX = "secret://"


def resolve_secret(reference: str | None) -> str | None:
    """The secret a reference names, or None when it is unset (or no reference)."""
    if not reference or not reference.startswith(PREFIX):
        return None
    name = reference[len(PREFIX):].replace("/", "_").replace(".", "_").replace("-", "_")
    value = os.environ.get(name)
    return value or None
