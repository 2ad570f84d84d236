"""Resolving the user's `package.module:function` entrypoint, on the driver (to fail early
with a clear message) and inside Ray workers (to run it)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


class EntrypointError(Exception):
    pass


def resolve(entrypoint: str, attribute: str | None = None) -> Callable[..., Any]:
    """The function named by 'module:function' (or `attribute` of that module)."""
    module_name, _, func = entrypoint.partition(":")
    name = attribute or func
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise EntrypointError(f"cannot import module '{module_name}' ({exc})") from None
    except Exception as exc:  # the user's module failed while importing
        raise EntrypointError(f"importing '{module_name}' failed: "
                              f"{type(exc).__name__}: {exc}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise EntrypointError(f"module '{module_name}' has no function '{name}'")
    return fn  # type: ignore[no-any-return]


def run_train_loop(config: dict[str, Any]) -> None:
    """The train_loop_per_worker lifecycle hands to Ray Train: it calls the user's
    entrypoint with the config, on every worker."""
    entrypoint = config["lifecycle"]["entrypoint"]
    resolve(entrypoint)(config)
