"""Helper functions available to CEL rule expressions. Each takes the spec (as the JSON
mapping rules see) and returns plain data; key paths are returned as strings so a rule
with `find:` reports each offender where it is written."""

from __future__ import annotations

import datetime as dt
import posixpath
import re
from collections.abc import Callable, Iterator
from typing import Any

from .locate import Unresolved, real_names, real_names_in

SECRET_KEY = re.compile(r"(pass(word|wd)?|secret|token|api[_-]?key|access[_-]?key|"
                        r"private[_-]?key|credential|auth)", re.IGNORECASE)
SECRET_VALUE = re.compile(
    r"(AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|xox[baprs]-[A-Za-z0-9-]{10,}"
    r"|sk-[A-Za-z0-9_-]{20,}|-----BEGIN [A-Z ]*PRIVATE KEY-----|eyJ[A-Za-z0-9_-]{10,}\.eyJ"
    r"|://[^/\s:@]+:[^/\s@]+@"
    # a storage URI's credential options (s3://b/p?secret_key=...), unless a reference
    r"|[?&](?:access_key|secret_key|session_token)=(?!secret://)[^&\s]+)")
SECRET_REFERENCE = re.compile(r"^secret://[A-Za-z0-9_./-]+$")


def _walk(node: Any, prefix: str = "") -> Iterator[tuple[str, str | None, Any]]:
    """(key path, last key name, value) for every leaf."""
    if isinstance(node, dict):
        for k, v in node.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, (dict, list)):
                yield from _walk(v, path)
            else:
                yield path, str(k), v
    elif isinstance(node, list):
        for i, v in enumerate(node):
            path = f"{prefix}[{i}]"
            if isinstance(v, (dict, list)):
                yield from _walk(v, path)
            else:
                yield path, None, v


def secret_paths(spec: dict[str, Any]) -> list[str]:
    """Leaves that hold a plaintext secret: a secret-like key with a literal string value,
    or a value that looks like a credential wherever it is."""
    out: list[str] = []
    for path, key, value in _walk(spec):
        if not isinstance(value, str) or not value or SECRET_REFERENCE.match(value):
            continue
        if (key is not None and SECRET_KEY.search(key)) or SECRET_VALUE.search(value):
            out.append(path)
    return out


def _keys_named(node: Any, name: str, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            if k == name:
                yield path, v
            yield from _keys_named(v, name, path)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _keys_named(v, name, f"{prefix}[{i}]")


def disallowed_targets(spec: dict[str, Any], allowed_prefixes: list[str]) -> list[str]:
    """`_target_` keys (Hydra instantiation) whose class/function is not defined under an
    allowed prefix: the name is followed through re-exports to where it is defined, read
    from source (see locate.py). A target whose source cannot be read here, because its
    library is not installed or the name is computed at import time, is refused: it is
    instantiated on workers this check cannot see."""
    return [path for path, value in _keys_named(spec, "_target_")
            if not (isinstance(value, str) and _defined_under(value, allowed_prefixes))]


def _defined_under(target: str, prefixes: list[str]) -> bool:
    if not has_prefix(target, prefixes):
        return False
    try:
        return all(has_prefix(name, prefixes) for name in real_names(target))
    except Unresolved:
        return False


def allowed_entrypoint(entrypoint: str, prefixes: list[str]) -> bool:
    """Whether 'module:function' names a function defined (not imported) in a module
    under an allowed prefix. A module not found from here is judged by its name alone:
    `run` validates from the project root it imports the module from, where it is found."""
    module, _, function = entrypoint.partition(":")
    if not has_prefix(module, prefixes):
        return False
    try:
        names = real_names_in(module, function)
    except Unresolved:
        return False
    return names is None or all(has_prefix(name, prefixes) for name in names)


def has_prefix(text: str, prefixes: list[str]) -> bool:
    return any(text == p.rstrip(".") or text.startswith(p) for p in prefixes)


def with_paths(items: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """Each mapping of a list with its `index` and `key_path` added, so a `find` rule can
    point at the item that breaks it: with_paths(spec.waivers, 'waivers')."""
    return [{**item, "index": i, "key_path": f"{prefix}[{i}]"} for i, item in enumerate(items)]


def days_between(start: str, end: str) -> int:
    """Days from one YYYY-MM-DD date to another (negative when `end` is earlier)."""
    return (dt.date.fromisoformat(str(end)) - dt.date.fromisoformat(str(start))).days


def _scheme(uri: str) -> str | None:
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", uri)
    return match.group(1).lower() if match else None


def escaping_paths(spec: dict[str, Any], allowed_schemes: list[str]) -> list[str]:
    """Data source paths that leave the repository: absolute paths, '..' escapes,
    file:// URIs, and URIs whose scheme is not allowed."""
    out: list[str] = []
    data = spec.get("data", {})
    for role in ("train", "eval", "reference"):
        source = data.get(role)
        if not isinstance(source, dict) or not isinstance(source.get("path"), str):
            continue
        raw = source["path"]
        scheme = _scheme(raw)
        key = f"data.{role}.path"
        if scheme is not None:
            if scheme == "file" or scheme not in [s.lower() for s in allowed_schemes]:
                out.append(key)
            continue
        norm = posixpath.normpath(raw.replace("\\", "/"))
        if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm) or norm == ".." \
                or norm.startswith("../") or raw.startswith("~"):
            out.append(key)
    return out


def uncovered_features(spec: dict[str, Any], drift_detectors: list[str]) -> list[str]:
    """Contract features that no drift monitor watches."""
    features = list(spec.get("data", {}).get("contract", {}).get("features", {}))
    covered: set[str] = set()
    for m in spec.get("monitors", []):
        if m.get("detector") not in drift_detectors:
            continue
        if m.get("features", "all") == "all":
            return []
        covered.update(m.get("features", []))
    return [f for f in features if f not in covered]


def gpu_count(spec: dict[str, Any]) -> float:
    """Most GPUs the spec holds at once. Training (each trial's workers times the trials
    tuning runs in parallel) happens while the version it replaces is serving (a rerun,
    a monitor's retrain), and a rollout serves two versions at their most replicas: the
    peak is serving plus training. Ray gets GPUs from no other field of a spec:
    train.scaling.resources_per_worker may not name Ray's built-in resources."""
    train = spec.get("train") or {}
    scaling = train.get("scaling") or {}
    per_run = (scaling.get("num_workers", 1) * scaling.get("gpus_per_worker", 1.0)
               if scaling.get("use_gpu") else 0.0)
    tune = spec.get("tune")
    parallel = min(tune.get("max_concurrent_trials", 1), tune.get("num_samples", 1)) \
        if tune else 1
    serve = spec.get("serve") or {}
    replicas = serve.get("replicas") or (serve.get("autoscaling") or {}).get("max_replicas", 1)
    versions = 2 if serve.get("rollout") else 1
    serving = (serve.get("resources") or {}).get("num_gpus", 0.0) * replicas * versions \
        if serve else 0.0
    return float(serving + per_run * parallel)


def distinct(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def independent_approvals(approvals: list[Any]) -> int:
    """The most approvals that are each from a different person and a different role:
    people and roles compared case-insensitively, and one signing key is one person
    (whatever names it signed under). A person holding two roles, or two people sharing
    one, count once: the size of a largest matching between people and roles."""
    items = [a for a in approvals if isinstance(a, dict)]
    person = list(range(len(items)))  # union-find: same name or same key, same person

    def root(i: int) -> int:
        while person[i] != i:
            person[i] = person[person[i]]
            i = person[i]
        return i

    seen: dict[tuple[str, str], int] = {}
    for i, a in enumerate(items):
        for mark in (("by", str(a.get("by", "")).lower()), ("key", str(a.get("key") or ""))):
            if not mark[1]:
                continue
            j = seen.setdefault(mark, i)
            person[root(i)] = root(j)
    roles_of: dict[int, set[str]] = {}
    for i, a in enumerate(items):
        roles_of.setdefault(root(i), set()).add(str(a.get("role", "")).lower())
    holder: dict[str, int] = {}  # role -> person matched to it

    def assign(p: int, tried: set[str]) -> bool:
        for role in sorted(roles_of[p]):
            if role in tried:
                continue
            tried.add(role)
            if role not in holder or assign(holder[role], tried):
                holder[role] = p
                return True
        return False

    return sum(assign(p, set()) for p in roles_of)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "secret_paths": secret_paths,
    "disallowed_targets": disallowed_targets,
    "has_prefix": has_prefix,
    "escaping_paths": escaping_paths,
    "uncovered_features": uncovered_features,
    "gpu_count": gpu_count,
    "distinct": distinct,
    "allowed_entrypoint": allowed_entrypoint,
    "with_paths": with_paths,
    "days_between": days_between,
    "independent_approvals": independent_approvals,
}

# The spec keys each helper reads when a rule passes it `spec` ("" = every key), so
# `lifecycle diff` can name the rules a change touches.
READS: dict[str, tuple[str, ...]] = {
    "secret_paths": ("",),
    "disallowed_targets": ("",),
    "escaping_paths": ("data",),
    "uncovered_features": ("data.contract.features", "monitors"),
    "gpu_count": ("train.scaling", "tune.max_concurrent_trials", "tune.num_samples",
                  "serve.replicas", "serve.autoscaling.max_replicas", "serve.resources.num_gpus"),
}

# The spec keys each `cost.*` figure is priced from (compile/cost.py), for the same purpose.
COST_READS: dict[str, tuple[str, ...]] = {
    "training": ("train.scaling", "train.expected_duration", "tune.num_samples",
                 "tune.max_concurrent_trials", "tune.time_budget"),
    "monthly_serving_min": ("serve.replicas", "serve.autoscaling.min_replicas",
                            "serve.resources", "monitors"),
    "monthly_serving_max": ("serve.replicas", "serve.autoscaling.max_replicas",
                            "serve.resources", "monitors"),
}
