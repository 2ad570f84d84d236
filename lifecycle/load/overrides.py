"""Command-line overrides: parsed by Hydra's own grammar into its `Override` objects, sorted
by what they touch, checked against the composed config, and applied one at a time.

    train.scaling.num_workers=4   value   set, whether the YAML wrote it or left it default
    +labels.team=risk             value   add (an error if the key exists)
    ~serve.shadow                 delete  remove a spec value
    train=xgboost, +train=...     preset  choose a preset of a group (Hydra's defaults list)
    policy=high                   policy  name a policy bundle (never composed)

Every error names the override as the user typed it (`command-line override '…'`) and is
built from the parsed `Override` (its type, key, value) and the config it was applied to,
never from the wording of Hydra's messages. Keys an override creates are indexed to it in
the provenance, so a misspelt key is reported at the command line, not in a file.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from ..errors import LoadError, Location, Problem
from .hydra_backend import group_options
from .keypath import KeyPath, parse_path
from .provenance import ProvenanceIndex

Kind = Literal["value", "delete", "preset", "policy"]


def override_location(text: str) -> Location:
    return Location(origin=f"command-line override '{text}'")


@dataclass(frozen=True)
class CommandLineOverride:
    """One word of the command line, as typed (`text`) and as Hydra parsed it (`parsed`,
    a hydra.core.override_parser.types.Override)."""

    text: str
    parsed: Any
    kind: Kind

    @property
    def key(self) -> str:
        return str(self.parsed.key_or_group)

    @property
    def key_path(self) -> KeyPath:
        return parse_path(self.key.replace("/", "."))  # a preset group: where it is composed

    @property
    def location(self) -> Location:
        return override_location(self.text)

    def problem(self, message: str, hint: str, code: str = "load.override") -> Problem:
        return Problem(code, message, self.key, self.location, hint)


def _refuse(problems: list[Problem]) -> LoadError:
    return LoadError(problems[0].message, problems=tuple(problems))


@functools.cache
def _parser() -> Any:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()


def parse_overrides(texts: tuple[str, ...], groups: set[str]) -> tuple[CommandLineOverride, ...]:
    """Parse and sort every override; all malformed ones are reported at once."""
    from hydra.errors import OverrideParseException

    out: list[CommandLineOverride] = []
    problems: list[Problem] = []
    for text in texts:
        if "=" not in text and not text.startswith("~"):
            problems.append(Problem("load.override", f"'{text}' is not an override", "",
                                    override_location(text),
                                    "write overrides as key=value, +key=value or ~key"))
            continue
        try:
            parsed = _parser().parse_overrides([text])[0]
        except OverrideParseException as exc:
            problems.append(_unparsable(exc.override))
            continue
        o = CommandLineOverride(text, parsed, _kind(parsed, groups))
        if parsed.is_sweep_override():
            problems.append(o.problem(
                f"'{o.key}' is given several values; lifecycle composes one spec at a time",
                f"give one value, or quote a value that contains a comma: {o.key}='...'"))
            continue
        out.append(o)
    if problems:
        raise _refuse(problems)
    return tuple(out)


def _unparsable(text: str) -> Problem:
    key, _, value = text.lstrip("+~").partition("=")
    if "[" in key:
        dots = key.replace("[", ".").replace("]", "")
        hint = f"list items are addressed with dots: {'+' * (len(text) - len(text.lstrip('+')))}" \
            f"{dots}={value}"
    else:
        hint = ("write overrides as key=value, +key=value or ~key; quote a value with spaces "
                f"or brackets: {key}='...'")
    return Problem("load.override", f"cannot parse override '{text}'", key,
                   override_location(text), hint)


def _kind(parsed: Any, groups: set[str]) -> Kind:
    key = str(parsed.key_or_group)
    if key == "policy" and parsed.package is None:
        return "policy"
    if key in groups or parsed.package is not None:
        return "preset"
    return "delete" if parsed.is_delete() else "value"


def check_preset_choices(overrides: tuple[CommandLineOverride, ...], groups: set[str],
                         search: list[Path]) -> None:
    """Preset choices name an existing group and one of its presets (checked before Hydra,
    so the error is at the override with the options, not in the spec's defaults list)."""
    from ..spec.problems import did_you_mean

    problems: list[Problem] = []
    for o in overrides:
        if o.kind != "preset":
            continue
        group = o.key
        if group not in groups:
            near = did_you_mean(group, groups)
            problems.append(o.problem(
                f"there is no preset group '{group}'",
                (f"did you mean '{near}'? " if near else "")
                + f"preset groups: {', '.join(sorted(groups)) or '(none)'}"))
            continue
        if o.parsed.package is not None:
            problems.append(o.problem(
                f"presets of '{group}' are composed under '{group}'; '@{o.parsed.package}' "
                "cannot move them", f"write {o.text.split('@', 1)[0]}={o.parsed.value()}"))
            continue
        value = o.parsed.value()
        options = group_options(group, search)
        if value is not None and value not in options:
            near = did_you_mean(str(value), options)
            problems.append(o.problem(
                f"unknown preset '{group}/{value}'",
                (f"did you mean '{near}'? " if near else "")
                + f"available {group} presets: {', '.join(options) or '(none)'}",
                code="load.unknown-preset"))
    if problems:
        raise _refuse(problems)


def preset_choice_problem(overrides: tuple[CommandLineOverride, ...],
                          composed_groups: set[str]) -> Problem | None:
    """Why Hydra refused the preset choices, from their type and the spec's defaults list:
    swapping a group the spec does not compose, or adding one it already does."""
    from hydra.core.override_parser.types import OverrideType

    for o in overrides:
        if o.kind != "preset":
            continue
        value = o.parsed.value()
        listed = o.key in composed_groups
        if o.parsed.type == OverrideType.CHANGE and not listed:
            return o.problem(f"the spec composes no '{o.key}' preset to swap",
                             f"add one: +{o.key}={value}")
        if o.parsed.type == OverrideType.ADD and listed:
            return o.problem(f"the spec already composes a '{o.key}' preset",
                             f"swap it without the '+': {o.key}={value}")
        if o.parsed.is_delete() and not listed:
            return o.problem(f"the spec composes no '{o.key}' preset to remove",
                             "check the group against the spec's defaults list")
    return None


def apply_overrides(cfg: Any, overrides: tuple[CommandLineOverride, ...],
                    provenance: ProvenanceIndex) -> None:
    """Apply the value and delete overrides to the composed config in command-line order,
    indexing what each one writes (and every key it creates) to the override."""
    for o in overrides:
        if o.kind == "delete":
            _delete(cfg, o)
            provenance.delete(o.key_path)
        elif o.kind == "value":
            created = _set(cfg, o)
            provenance.set(o.key_path, o.location, replaces_subtree=True)
            for depth in range(created, len(o.key_path)):
                provenance.set(o.key_path[:depth + 1], o.location, replaces_subtree=False)
        elif o.kind == "policy":
            provenance.set(("policy",), o.location, replaces_subtree=True)


def apply_policy_choice(resolved: dict[str, Any],
                        overrides: tuple[CommandLineOverride, ...]) -> None:
    """`policy` names a bundle; conf/policy is not a preset group, so Hydra never sees it."""
    for o in overrides:
        if o.kind != "policy":
            continue
        if o.parsed.is_delete():
            resolved.pop("policy", None)
        else:
            resolved["policy"] = o.parsed.value()


def _walk(cfg: Any, o: CommandLineOverride) -> tuple[Any, int]:
    """The node at the override's key, and how many key parts already exist (len of the
    key when it exists); raises at a list index past the end or a key under a value."""
    from omegaconf import DictConfig, ListConfig

    parts = o.key.split(".")
    node = cfg
    for i, part in enumerate(parts):
        here = ".".join(parts[:i])
        if isinstance(node, ListConfig) and not node._is_none():
            if not part.isdigit():
                raise _refuse([o.problem(f"'{here}' is a list: its items are numbered",
                                         f"address an item by number, e.g. {here}.0")])
            if int(part) >= len(node):
                raise _refuse([o.problem(
                    f"'{here}' has {len(node)} item(s): there is no item {part}",
                    f"a list is replaced whole from the command line: {here}=[...]")])
            node = node._get_node(int(part))
        elif isinstance(node, DictConfig) and not node._is_none():
            child = node._get_node(part) if part in node else None
            if child is None:
                return None, i
            node = child
        elif node is None or node._is_none() or node._is_missing():
            return None, i
        else:
            raise _refuse([o.problem(f"'{here}' is a single value, so it has no key '{part}'",
                                     f"set '{here}' itself: {here}=...")])
    return node, len(parts)


def _set(cfg: Any, o: CommandLineOverride) -> int:
    """Set the override's value; returns the depth from which it created keys."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.override_parser.types import OverrideType
    from hydra.errors import ConfigCompositionException
    from omegaconf import Container
    from omegaconf.errors import OmegaConfBaseException

    node, existing = _walk(cfg, o)
    value = o.parsed.value()
    if (o.parsed.is_add() and existing == len(o.key.split(".")) and node is not None
            and not node._is_none() and not isinstance(node, Container)
            and not isinstance(value, (dict, list))):
        raise _refuse([o.problem(f"'{o.key}' already exists in the spec",
                                 f"drop the '+': {o.text.lstrip('+')}")])
    # `key=value` sets a spec value whether or not the YAML wrote it (a schema default can
    # be overridden without '+'); a misspelt key then fails the schema with "did you mean".
    hydra_override = (replace(o.parsed, type=OverrideType.FORCE_ADD)
                      if o.parsed.type == OverrideType.CHANGE else o.parsed)
    try:
        ConfigLoaderImpl._apply_overrides_to_config([hydra_override], cfg)
    except (ConfigCompositionException, OmegaConfBaseException) as exc:
        cause = exc.__cause__ or exc
        reason = (str(getattr(cause, "msg", "") or cause).strip().splitlines() or
                  [type(cause).__name__])[0]
        raise _refuse([o.problem(f"cannot apply override: {reason}",
                                 "check the key and the value")]) from None
    return existing


def _delete(cfg: Any, o: CommandLineOverride) -> None:
    """`~key` of a spec value, applied here: Hydra reads `~serve` as removing a preset
    whenever a folder of that name exists (conf/serve/rollout makes `serve` one)."""
    from omegaconf import Container, DictConfig, OmegaConf, open_dict

    node, existing = _walk(cfg, o)
    if node is None or existing < len(o.key.split(".")):
        raise _refuse([o.problem(f"cannot delete '{o.key}': the spec has no such key",
                                 "check the key path")])
    wanted = o.parsed.value()
    if wanted is not None:
        current = OmegaConf.to_container(node) if isinstance(node, Container) else node._value()
        if current != wanted:
            raise _refuse([o.problem(f"cannot delete '{o.key}': its value is {current!r}, "
                                     f"not {wanted!r}", f"delete it whatever its value: ~{o.key}")])
    parent = node._get_parent()
    last = o.key.split(".")[-1]
    with open_dict(parent):
        del parent[last if isinstance(parent, DictConfig) else int(last)]
