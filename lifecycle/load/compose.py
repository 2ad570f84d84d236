"""Composition of a spec, with the provenance index Hydra does not keep.

Search path, first match wins: the spec's own folder, the user's `conf/` next to the
spec, then the platform's `conf/` (shipped with lifecycle or set by LIFECYCLE_CONF).
Policy bundles are never composed into a spec: they are chosen by `risk_tier` or
`policy:` and loaded by the policy engine, so a spec cannot rewrite its own rules.

The steps: parse the overrides (overrides.py), merge the defaults list with Hydra
(hydra_backend.py), index every value to the file and line it came from, apply the
command line's values, refuse resolvers, resolve interpolations. Failures become
Problems in hydra_errors.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LoadError, Location, Problem
from . import hydra_errors as errors
from .hydra_backend import compose_presets, find_config, preset_groups
from .keypath import KeyPath, format_path, parse_path
from .overrides import (
    apply_overrides,
    apply_policy_choice,
    check_preset_choices,
    parse_overrides,
)
from .platform import platform_conf_dir
from .provenance import ProvenanceIndex
from .yaml_safe import YamlFile, display_path, read_yaml_cached

_RESOLVER_CALL = re.compile(r"\$\{\s*([A-Za-z_][\w.]*)\s*:")


@dataclass(frozen=True)
class LoadedSpec:
    """A composed spec as a plain mapping, and where each of its values came from."""

    path: Path
    mapping: dict[str, Any]
    provenance: ProvenanceIndex
    presets: tuple[str, ...]  # e.g. ("train/torch_ddp",)
    overrides: tuple[str, ...]
    sources: tuple[Path, ...]  # every file that took part
    # key path -> the word YAML read as a boolean there (`NO`, `yes`, `off`), for values
    # whose final value was written so in a file
    yaml_booleans: dict[KeyPath, str] = field(default_factory=dict)
    # each override as typed, with the key path it touches (a preset choice: its group's)
    override_paths: tuple[tuple[str, KeyPath], ...] = ()

    def locate(self, key_path: KeyPath) -> Location:
        return self.provenance.locate(key_path)


def compose(spec_path: str | Path, overrides: list[str] | tuple[str, ...] = (),
            conf: Path | None = None) -> LoadedSpec:
    """Compose `spec_path` with Hydra and the given `key=value` overrides; `conf` is the
    platform's conf/ (default: platform_conf_dir())."""
    path = Path(spec_path)
    if path.suffix == ".yml":
        raise LoadError.one("load.extension", "spec files must end in .yaml",
                            Location(file=str(path)),
                            hint=f"rename it to {path.with_suffix('.yaml').name}; Hydra "
                            "composes only .yaml files")
    primary = read_yaml_cached(path.resolve() if path.exists() else path)
    path = path.resolve()
    search = [path.parent, path.parent / "conf",
              conf if conf is not None else platform_conf_dir()]
    overrides = tuple(overrides)
    groups = preset_groups(search)
    cli = parse_overrides(overrides, groups)
    check_preset_choices(cli, groups, search)

    from hydra.errors import ConfigCompositionException, MissingConfigException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        cfg, defaults = compose_presets(path.stem, search,
                                        [o.parsed for o in cli if o.kind == "preset"])
    except MissingConfigException as exc:
        raise errors.missing_config(exc, primary, search, cli) from None
    except ConfigCompositionException as exc:
        raise errors.defaults_list_error(exc, cli, primary) from None
    except OmegaConfBaseException as exc:
        raise errors.omegaconf_error(exc, primary) from None
    except LoadError:
        raise
    except Exception as exc:  # Hydra wraps YAML problems in plain exceptions
        raise LoadError.one("load.compose", f"composition failed: {errors.first_line(exc)}",
                            Location(display_path(path)),
                            hint="run with LIFECYCLE_FULL_ERROR=1 for details") from exc

    provenance, presets, sources, booleans = _index(path, primary, defaults, search)
    apply_overrides(cfg, cli, provenance)
    raw = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(raw, dict)
    interpolated: list[KeyPath] = []
    problems = list(_forbidden_resolvers(raw, (), provenance, interpolated))
    if problems:
        raise LoadError(problems[0].message, problems=tuple(problems))
    try:
        # resolving walks the whole config again: only when something is to be resolved
        resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True) \
            if interpolated or _has_missing(raw) else raw
    except OmegaConfBaseException as exc:
        raise errors.omegaconf_error(exc, primary, provenance) from None
    except RecursionError:
        raise LoadError.one("load.interpolation", "interpolations refer to each other in a "
                            "cycle", Location(display_path(path)),
                            hint="make one of the values in the cycle a literal") from None
    assert isinstance(resolved, dict)
    mapping = {str(k): v for k, v in resolved.items() if k != "defaults"}
    apply_policy_choice(mapping, cli)
    return LoadedSpec(path=path, mapping=mapping,
                      provenance=provenance, presets=tuple(presets), overrides=overrides,
                      sources=tuple(sources),
                      yaml_booleans={k: word for k, (word, loc) in booleans.items()
                                     if provenance.entries.get(k) == loc},
                      override_paths=tuple((o.text, o.key_path) for o in cli))


def _index(path: Path, primary: YamlFile, defaults: list[Any], search: list[Path]
           ) -> tuple[ProvenanceIndex, list[str], list[Path], dict[KeyPath, tuple[str, Location]]]:
    """Replay Hydra's merge order over the files' position indexes: the provenance of every
    key, the presets used, every file that took part, and the YAML booleans written."""
    booleans: dict[KeyPath, tuple[str, Location]] = {}
    provenance = ProvenanceIndex()
    provenance.set((), Location(display_path(path), 1, 1), replaces_subtree=False)
    presets: list[str] = []
    sources: list[Path] = [path]
    for d in defaults:
        package = d.package or ""
        if package == "hydra" or package.startswith("hydra."):
            continue
        if d.primary:
            yfile = primary
            origin = None
        else:
            if d.config_path and d.config_path.split("/")[0] == "policy":
                raise LoadError.one("load.policy-in-defaults",
                                    "policy bundles cannot be composed into a spec",
                                    errors.defaults_location(primary, "policy"), "defaults",
                                    hint="remove it from defaults and set 'policy: <bundle>' "
                                    "(or rely on risk_tier)")
            found = find_config(d.config_path or "", search)
            if found is None:
                continue
            presets.append(d.config_path or "")
            sources.append(found)
            yfile = read_yaml_cached(found)
            origin = f"preset {d.config_path}"
        prefix: KeyPath = parse_path(package) if package else ()
        if prefix and origin is not None:
            provenance.set(prefix, Location(display_path(yfile.path), 1, 1, origin),
                           replaces_subtree=False)
        for key_path, pos in yfile.positions.items():
            if key_path and key_path[0] == "defaults":
                continue
            loc = Location(display_path(yfile.path), pos.line, pos.column, origin)
            provenance.set(prefix + key_path, loc, replaces_subtree=pos.kind != "mapping")
            if key_path in yfile.booleans:
                booleans[prefix + key_path] = (yfile.booleans[key_path], loc)
    return provenance, presets, sources, booleans


def _has_missing(node: Any) -> bool:
    """A mandatory '???' left unset (resolving reports it, located)."""
    if isinstance(node, dict):
        return any(_has_missing(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_missing(v) for v in node)
    return isinstance(node, str) and node == "???"


def _forbidden_resolvers(node: Any, prefix: KeyPath, provenance: ProvenanceIndex,
                         interpolated: list[KeyPath]) -> Iterator[Problem]:
    """Resolver calls (refused), noting every value that interpolates."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _forbidden_resolvers(v, prefix + (str(k),), provenance, interpolated)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _forbidden_resolvers(v, prefix + (i,), provenance, interpolated)
    elif isinstance(node, str):
        if "${" in node:
            interpolated.append(prefix)
        match = _RESOLVER_CALL.search(node)
        if match:
            yield Problem(
                "load.resolver", f"resolver '{match.group(1)}' is not allowed in specs",
                format_path(prefix), provenance.locate(prefix),
                "resolvers such as oc.env make the plan depend on the machine that compiled "
                "it; write the value, or a secret reference 'secret://NAME' read at run time")
