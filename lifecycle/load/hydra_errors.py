"""Hydra's and OmegaConf's failures while composing, as Problems located in the spec:
a preset missing from the defaults list, a preset choice Hydra refused, a broken
interpolation or mandatory value. Read from the exceptions' attributes (Hydra's
`missing_cfg_file` and `options`, OmegaConf's `full_key` and exception classes) and from
the parsed overrides, not from the wording of the messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import LoadError, Location
from .hydra_backend import group_options
from .keypath import parse_path
from .overrides import CommandLineOverride, preset_choice_problem
from .provenance import ProvenanceIndex
from .yaml_safe import YamlFile, display_path


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def defaults_groups(primary: YamlFile) -> dict[str, Location]:
    """The groups the spec's own defaults list composes, with where each is written."""
    out: dict[str, Location] = {}
    for path, pos in primary.positions.items():
        if len(path) == 3 and path[0] == "defaults":
            group = str(path[2]).removeprefix("override ").lstrip("/").split("@")[0]
            out.setdefault(group, Location(display_path(primary.path), pos.line, pos.column))
    return out


def defaults_location(primary: YamlFile, group: str) -> Location:
    """Where the primary file's defaults list names `group` (else the list, else the file)."""
    found = defaults_groups(primary).get(group)
    if found is not None:
        return found
    top = primary.positions.get(("defaults",))
    if top:
        return Location(display_path(primary.path), top.line, top.column)
    return Location(display_path(primary.path))


def missing_config(exc: Any, primary: YamlFile, search: list[Path],
                   overrides: tuple[CommandLineOverride, ...]) -> LoadError:
    """Hydra's MissingConfigException: a preset named in a defaults list (or chosen on the
    command line) that no folder of the search path has."""
    from ..spec.problems import did_you_mean

    missing = getattr(exc, "missing_cfg_file", None) or ""
    group, _, name = missing.rpartition("/")
    if not group:
        return LoadError.one("load.missing-config", first_line(exc),
                             Location(display_path(primary.path)),
                             hint="check the spec path and the names in its defaults list")
    options = sorted(getattr(exc, "options", None) or group_options(group, search))
    near = did_you_mean(name, options)
    hint = (f"did you mean '{near}'? " if near else "") + \
        f"available {group} presets: {', '.join(options) or '(none)'}"
    chosen = next((o for o in overrides if o.kind == "preset" and o.key == group
                   and o.parsed.value() == name), None)
    if chosen is not None:
        return LoadError.one("load.unknown-preset", f"unknown preset '{group}/{name}'",
                             chosen.location, chosen.key, hint)
    return LoadError.one("load.unknown-preset", f"unknown preset '{group}/{name}'",
                         defaults_location(primary, group), "defaults", hint)


def defaults_list_error(exc: BaseException, overrides: tuple[CommandLineOverride, ...],
                        primary: YamlFile) -> LoadError:
    """Hydra refused the defaults list: say which preset choice did it, and how to write it."""
    problem = preset_choice_problem(overrides, set(defaults_groups(primary)))
    if problem is not None:
        return LoadError(problem.message, problems=(problem,))
    cause = exc.__cause__
    return LoadError.one("load.compose", f"composition failed: {first_line(exc)}"
                         + (f": {first_line(cause)}" if cause else ""),
                         Location(display_path(primary.path)),
                         hint="check the defaults list and the overrides")


def omegaconf_error(exc: Exception, primary: YamlFile,
                    provenance: ProvenanceIndex | None = None) -> LoadError:
    from omegaconf.errors import (
        GrammarParseError,
        InterpolationKeyError,
        InterpolationResolutionError,
        MissingMandatoryValue,
    )

    full_key = getattr(exc, "full_key", None) or ""
    key_path = parse_path(str(full_key))
    loc = provenance.locate(key_path) if provenance else Location(display_path(primary.path))
    msg = getattr(exc, "msg", None) or first_line(exc)
    msg = msg.splitlines()[0]
    key = str(full_key)
    if isinstance(exc, MissingMandatoryValue):
        return LoadError.one("load.missing-value", "value is '???' (mandatory) and was not set",
                             loc, key, hint=f"set it in the spec or with {full_key}=...")
    if isinstance(exc, InterpolationKeyError):
        return LoadError.one("load.interpolation", f"broken interpolation: {msg}", loc, key,
                             hint="the referenced key does not exist; check its path")
    if isinstance(exc, GrammarParseError):
        return LoadError.one("load.interpolation", f"malformed interpolation: {msg}", loc, key,
                             hint="interpolations look like ${section.key}")
    if isinstance(exc, InterpolationResolutionError):
        cyc = "cycle" in msg.lower() or "recursive" in msg.lower()
        return LoadError.one("load.interpolation",
                             ("interpolations refer to each other in a cycle: " if cyc else
                              "interpolation failed: ") + msg, loc, key,
                             hint="make one of the values a literal" if cyc else
                             "check the referenced key")
    return LoadError.one("load.compose", f"invalid configuration: {msg}", loc, key,
                         hint="check the value at this key")
