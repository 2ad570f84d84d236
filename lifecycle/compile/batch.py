"""Validating many specs for their problems (what `lifecycle validate` prints): answered
from the content-hash cache where the inputs are unchanged, the rest checked in worker
processes, one per CPU, once there are enough specs to pay for starting them.

Only problems cross back from a worker (a few hundred bytes), not the composed spec and
plan: a Validation from here has `loaded`, `spec`, `policy` and `plan` left empty.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ..errors import Problem
from ..load.platform import Platform, today
from .cache import ValidateCache, cache_dir
from .validation import Validation

MIN_SPECS_PER_WORKER = 8  # below this a worker's start-up costs more than it saves
T = TypeVar("T")
R = TypeVar("R")

Check = tuple[str | Path, tuple[str, ...], dt.date, bool]
# problems, the files and the folders the outcome depends on, whether it may be cached
Checked = tuple[list[Problem], tuple[Path, ...], tuple[Path, ...], bool]


def validate(paths: list[str] | tuple[str, ...], overrides: list[str] | tuple[str, ...] = (),
             on: dt.date | None = None, allow_protected_overrides: bool = False, *,
             problems_only: bool = False, cache: bool = True,
             workers: int | None = None) -> list[Validation]:
    """Every problem of each spec, in the order given. Without problems_only, each spec is
    validated in this process with everything built on the way (validate_one)."""
    overrides = tuple(overrides)
    if not problems_only:
        from .validate import validate_one

        return [validate_one(p, overrides, on, None, allow_protected_overrides)
                for p in paths]
    day = on or today()
    store = ValidateCache(cache_dir(), overrides, day.isoformat(), allow_protected_overrides,
                          Platform.current()) if cache else None
    results: list[Validation | None] = [None] * len(paths)
    todo: list[tuple[int, str | None]] = []
    for i, path in enumerate(paths):
        key = store.key(path) if store is not None else None
        hit = store.get(key) if store is not None and key is not None else None
        if hit is not None:
            results[i] = Validation(str(path), hit)
        else:
            todo.append((i, key))
    checks: list[Check] = [(paths[i], overrides, day, allow_protected_overrides)
                           for i, _ in todo]
    for (i, key), (problems, sources, folders, cacheable) in zip(
            todo, in_workers(check, checks, workers)):
        results[i] = Validation(str(paths[i]), problems)
        if store is not None and key is not None and cacheable:
            store.put(key, paths[i], problems, sources, folders)
    return [r for r in results if r is not None]


def check(args: Check) -> Checked:
    """One spec (in a worker, or here): its problems, the files and folders it depends on,
    and whether the outcome may be cached (composition and bundle loading succeeded)."""
    from .validate import validate_one

    path, overrides, day, allow = args
    result = validate_one(path, overrides, day, None, allow, build_plan=False)
    cacheable = result.loaded is not None and not any(
        p.code.startswith(("load.", "yaml.", "policy.")) for p in result.problems)
    return result.problems, result.sources, result.folders, cacheable


def _cpus() -> int:
    affinity: Any = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


def in_workers(fn: Callable[[T], R], items: list[T], workers: int | None = None,
               min_per_worker: int = MIN_SPECS_PER_WORKER) -> list[R]:
    """`fn` over `items`, in order: in forked worker processes (one per CPU, or `workers`)
    when there are at least `min_per_worker` items for each, else here. The first item is
    done here, so that the parsed presets, bundles and CEL programs it warms are shared by
    the forked workers. `fn` must be a module-level function."""
    if not items:
        return []
    n = min(workers or _cpus(), len(items) // min_per_worker)
    if n < 2:
        return [fn(item) for item in items]
    first = fn(items[0])
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    rest = items[1:]
    with ProcessPoolExecutor(max_workers=n, mp_context=context) as pool:
        done = list(pool.map(fn, rest, chunksize=max(1, len(rest) // (n * 4))))
    return [first, *done]
