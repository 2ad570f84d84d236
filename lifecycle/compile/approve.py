"""`lifecycle approve`: validate the spec, then sign an approval of the plan it compiles to
(compile/approvals.py signs; this is the pipeline around it, as compile_spec is for
compile)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from ..errors import InputError, Location, PolicyError
from ..load.platform import Platform, today
from .approvals import Signed, sign_approval
from .validate import refusal, validate_one


def approve(path: str | Path, role: str, key: str | Path, ticket: str | None = None,
            expires: str | dt.date | None = None, by: str | None = None,
            overrides: list[str] | tuple[str, ...] = (), on: dt.date | None = None,
            passphrase: Callable[[], bytes] | None = None,
            allow_protected_overrides: bool = False) -> Signed:
    """Sign an approval of the plan the spec compiles to (with `overrides`), as the owner
    of `key` in the platform's approvers conf; written beside the spec in
    `<spec>.approvals/`. A spec that breaks the schema cannot be approved; one that fails
    policy can (it may fail only for want of this approval). Overrides of protected keys
    are refused as they are by validate, unless `allow_protected_overrides`."""
    platform = Platform.current()
    result = validate_one(path, overrides, on, platform, allow_protected_overrides)
    if result.plan is None or result.loaded is None:
        raise refusal(result, path)
    protected = tuple(p for p in result.errors if p.code == "override.protected")
    if protected:  # refused alone: the rules the plan fails do not stop an approval
        raise PolicyError(f"{path}: {len(protected)} problem(s)", problems=protected)
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError:
            raise InputError.one("approve.expires", f"--expires {expires} is not a date",
                                 Location(origin="lifecycle approve"), "",
                                 "write it as YYYY-MM-DD") from None
    return sign_approval(result.plan, result.loaded.path, platform.conf, role,
                         Path(key), ticket, expires, by, on or today(), passphrase)
