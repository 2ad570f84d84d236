"""Hydra composition of a spec, with the provenance index Hydra does not keep.

Search path, first match wins: the spec's own folder, the user's `conf/` next to the
spec, then the platform's `conf/` (shipped with lifecycle or set by LIFECYCLE_CONF).
Policy bundles are never composed into a spec: they are chosen by `risk_tier` or
`policy:` and loaded by the policy engine, so a spec cannot rewrite its own rules.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import LoadError, Location, Problem
from .keypath import KeyPath, format_path, parse_path
from .provenance import ProvenanceIndex
from .yaml_safe import YamlFile, display_path, read_yaml_cached

_RESOLVER_CALL = re.compile(r"\$\{\s*([A-Za-z_][\w.]*)\s*:")


def platform_conf_dir() -> Path:
    """The platform's conf/: LIFECYCLE_CONF, else the copy in the wheel, else the repo's."""
    env = os.environ.get("LIFECYCLE_CONF")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parent.parent
    packaged = here / "_conf"
    return packaged if packaged.is_dir() else here.parent / "conf"


@dataclass(frozen=True)
class LoadedSpec:
    """A composed spec as a plain mapping, and where each of its values came from."""

    path: Path
    mapping: dict[str, Any]
    provenance: ProvenanceIndex
    presets: tuple[str, ...]  # e.g. ("train/torch_ddp",)
    overrides: tuple[str, ...]
    sources: tuple[Path, ...]  # every file that took part

    def locate(self, key_path: KeyPath) -> Location:
        return self.provenance.locate(key_path)


def _error(code: str, message: str, location: Location, key: str = "",
           hint: str | None = None) -> LoadError:
    return LoadError.one(code, message, location, key, hint)


def _find_config(config_path: str, search: list[Path]) -> Path | None:
    for folder in search:
        candidate = folder / f"{config_path}.yaml"
        if candidate.is_file():
            return candidate
    return None


def _group_options(group: str, search: list[Path]) -> list[str]:
    options: set[str] = set()
    for folder in search:
        d = folder / group
        if d.is_dir():
            options.update(p.stem for p in d.glob("*.yaml"))
    return sorted(options)


def _defaults_location(primary: YamlFile, group: str) -> Location:
    """Where the primary file's defaults list names `group` (for unknown-preset errors)."""
    for path, pos in primary.positions.items():
        if len(path) == 3 and path[0] == "defaults" and str(path[2]).lstrip("/").split("@")[0] \
                == group:
            return Location(display_path(primary.path), pos.line, pos.column)
    top = primary.positions.get(("defaults",))
    if top:
        return Location(display_path(primary.path), top.line, top.column)
    return Location(display_path(primary.path))


def _override_location(text: str) -> Location:
    return Location(origin=f"command-line override '{text}'")


def compose(spec_path: str | Path, overrides: list[str] | tuple[str, ...] = (),
            conf: Path | None = None) -> LoadedSpec:
    """Compose `spec_path` with Hydra and the given `key=value` overrides; `conf` is the
    platform's conf/ (default: platform_conf_dir())."""
    path = Path(spec_path)
    if path.suffix == ".yml":
        loc = Location(file=str(path))
        raise _error("load.extension", "spec files must end in .yaml", loc,
                     hint=f"rename it to {path.with_suffix('.yaml').name}; Hydra composes "
                     "only .yaml files")
    primary = read_yaml_cached(path.resolve() if path.exists() else path)
    path = path.resolve()
    spec_dir = path.parent
    user_conf = spec_dir / "conf"
    platform_conf = conf if conf is not None else platform_conf_dir()
    search = [spec_dir, user_conf, platform_conf]

    overrides = tuple(overrides)
    problems: list[Problem] = []
    for text in overrides:
        if "=" not in text and not text.startswith("~"):
            problems.append(Problem("load.override", f"'{text}' is not an override", "",
                                    _override_location(text),
                                    "write overrides as key=value, +key=value or ~key"))
    if problems:
        raise LoadError(problems[0].message, problems=tuple(problems))

    from hydra.errors import (
        ConfigCompositionException,
        MissingConfigException,
        OverrideParseException,
    )
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    # `policy` names a bundle; conf/policy is not a preset group, so Hydra never sees
    # overrides of it (it would treat `policy=high` as composing the bundle file).
    policy_overrides = [o for o in overrides if o.lstrip("+~").split("=", 1)[0] == "policy"]
    groups = _groups(search)
    # `~key` of a spec value is applied by us: Hydra reads `~serve` as removing a preset
    # whenever a folder of that name exists (conf/serve/rollout makes `serve` one).
    deletions = [o for o in overrides if o.startswith("~") and "=" not in o
                 and o[1:].split("@")[0].lstrip("/") not in groups and o not in policy_overrides]
    hydra_overrides = [_as_hydra_override(o, groups) for o in overrides
                       if o not in policy_overrides and o not in deletions]
    try:
        cfg, defaults = _hydra_compose(path.stem, search, hydra_overrides)
    except MissingConfigException as exc:
        raise _missing_config(exc, primary, search) from None
    except OverrideParseException as exc:
        bracket = next((o for o in overrides if "[" in o.split("=", 1)[0]), None)
        hint = (f"list items are addressed with dots: {_dots(bracket)}" if bracket else
                "write overrides as key=value, +key=value or ~key")
        raise _error("load.override", f"cannot parse override: {_first_line(exc)}",
                     _override_location(bracket) if bracket else
                     Location(origin="command line"), hint=hint) from None
    except ConfigCompositionException as exc:
        raise _composition_error(exc, overrides, primary) from None
    except OmegaConfBaseException as exc:
        raise _omegaconf_error(exc, primary) from None
    except LoadError:
        raise
    except Exception as exc:  # Hydra wraps YAML problems in plain exceptions
        raise _error("load.compose", f"composition failed: {_first_line(exc)}",
                     Location(display_path(path)),
                     hint="run with LIFECYCLE_FULL_ERROR=1 for details") from exc

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
                raise _error("load.policy-in-defaults",
                             "policy bundles cannot be composed into a spec",
                             _defaults_location(primary, "policy"), "defaults",
                             hint="remove it from defaults and set 'policy: <bundle>' "
                             "(or rely on risk_tier)")
            found = _find_config(d.config_path or "", search)
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
            provenance.set(prefix + key_path,
                           Location(display_path(yfile.path), pos.line, pos.column, origin),
                           replaces_subtree=pos.kind != "mapping")
    _apply_override_provenance(provenance, overrides, groups)

    for text in deletions:
        _delete(cfg, text)
    raw = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(raw, dict)
    problems = list(_forbidden_resolvers(raw, (), provenance))
    if problems:
        raise LoadError(problems[0].message, problems=tuple(problems))
    try:
        resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as exc:
        raise _omegaconf_error(exc, primary, provenance) from None
    except RecursionError:
        raise _error("load.interpolation", "interpolations refer to each other in a cycle",
                     Location(display_path(path)),
                     hint="make one of the values in the cycle a literal") from None
    assert isinstance(resolved, dict)
    resolved.pop("defaults", None)
    for text in policy_overrides:
        if text.startswith("~"):
            resolved.pop("policy", None)
        else:
            resolved["policy"] = text.split("=", 1)[1].strip().strip("'\"")
    return LoadedSpec(path=path, mapping={str(k): v for k, v in resolved.items()},
                      provenance=provenance, presets=tuple(presets), overrides=overrides,
                      sources=tuple(sources))


def _delete(cfg: Any, override: str) -> None:
    from omegaconf import DictConfig, ListConfig, open_dict

    path = parse_path(override[1:])
    node = cfg
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, DictConfig) else (
            node[part] if isinstance(node, ListConfig) and isinstance(part, int)
            and part < len(node) else None)
        if node is None:
            break
    last = path[-1] if path else None
    if node is None or last is None or (isinstance(node, DictConfig) and last not in node) \
            or (isinstance(node, ListConfig) and not (isinstance(last, int) and
                                                      last < len(node))):
        raise _error("load.override", f"cannot delete '{override[1:]}': the spec has no such "
                     "key", _override_location(override), override[1:],
                     hint="check the key path")
    with open_dict(node):
        del node[last]


def _groups(search: list[Path]) -> set[str]:
    """Preset group names ('train', 'serve/rollout') found on the search path."""
    out: set[str] = set()
    for folder in search:
        if folder.is_dir():
            for d in folder.rglob("*"):
                if d.is_dir() and any(d.glob("*.yaml")):
                    out.add(d.relative_to(folder).as_posix())
    return out - {"policy"}


def _as_hydra_override(text: str, groups: set[str]) -> str:
    """`key=value` sets a spec value whether or not the YAML wrote it (a schema default
    can be overridden without '+'); a misspelt key then fails schema validation with a
    "did you mean". Preset choices (`train=xgboost`) stay as Hydra group overrides."""
    if text.startswith(("+", "~")) or "=" not in text:
        return text
    key = text.split("=", 1)[0].strip()
    if key.lstrip("/").split("@")[0] in groups or key.startswith("hydra"):
        return text
    return "++" + text


def _dots(override: str) -> str:
    key, _, value = override.partition("=")
    return re.sub(r"\[(\d+)\]", r".\1", key) + "=" + value


_PARSED: dict[tuple[str, int, int], Any] = {}


def _omegaconf_fast_loader() -> Any:
    """OmegaConf's YAML dialect (its float rule, no timestamps, pathlib tags) on libyaml's
    parser. Duplicate keys, which OmegaConf's loader also refuses, are caught by our own
    reader before this runs."""
    from omegaconf._utils import get_yaml_loader

    reference = get_yaml_loader()
    base = getattr(yaml, "CSafeLoader", None)
    if base is None:
        return reference

    class OmegaConfCLoader(base):  # type: ignore[misc, valid-type]
        pass

    OmegaConfCLoader.yaml_implicit_resolvers = {
        k: list(v) for k, v in reference.yaml_implicit_resolvers.items()}
    OmegaConfCLoader.yaml_constructors = dict(reference.yaml_constructors)
    return OmegaConfCLoader


def _guarded(source: Any) -> Any:
    """Wrap Hydra's file source: every file is first read by our bounded reader (a YAML
    bomb or duplicate key in any preset is caught before OmegaConf expands it), parsed
    with libyaml in OmegaConf's dialect, and reused while its mtime and size are
    unchanged (presets are shared by many specs)."""
    from hydra._internal.core_plugins.file_config_source import FileConfigSource
    from hydra.plugins.config_source import ConfigLoadError, ConfigResult, ConfigSource
    from omegaconf import OmegaConf

    if type(source) is not FileConfigSource:
        return source
    loader = _omegaconf_fast_loader()

    class GuardedFileConfigSource(FileConfigSource):
        def load_config(self, config_path: str) -> ConfigResult:
            name = self._normalize_file_name(config_path)
            full = Path(os.path.realpath(os.path.join(self.path, name)))
            try:
                st = full.stat()
            except OSError:
                raise ConfigLoadError(f"Config not found : {full}") from None
            read_yaml_cached(full)
            key = (str(full), st.st_mtime_ns, st.st_size)
            cached = _PARSED.get(key)
            if cached is None:
                text = full.read_text(encoding="utf-8")
                cached = (ConfigSource._get_header_dict(text[:512]),
                          yaml.load(text, Loader=loader))
                _PARSED[key] = cached
            header, obj = cached
            cfg = OmegaConf.create() if obj is None else OmegaConf.create(obj)
            return ConfigResult(config=cfg, path=f"{self.scheme()}://{self.path}",
                                provider=self.provider, header=dict(header))

    return GuardedFileConfigSource(source.provider, source.path)


def _hydra_compose(config_name: str, search: list[Path],
                   overrides: list[str]) -> tuple[Any, list[Any]]:
    """Hydra's composition (defaults list, merge in order, struct mode, overrides) without
    its application config (logging, launcher, sweeper...) and without its process-wide
    GlobalHydra: 4x faster, and safe to call from several threads. Uses Hydra 1.3's
    ConfigLoaderImpl building blocks; hydra-core is pinned below 1.4 for that reason."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.config_repository import CachingConfigRepository, ConfigRepository
    from hydra._internal.config_search_path_impl import ConfigSearchPathImpl
    from hydra._internal.core_plugins.file_config_source import FileConfigSource
    from hydra._internal.core_plugins.structured_config_source import StructuredConfigSource
    from hydra._internal.defaults_list import create_defaults_list
    from hydra._internal.sources_registry import SourcesRegistry
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    SourcesRegistry.instance().register(FileConfigSource)  # idempotent
    SourcesRegistry.instance().register(StructuredConfigSource)
    csp = ConfigSearchPathImpl()
    for i, folder in enumerate(search):
        if i == 0 or folder.is_dir():
            csp.append("main" if i == 0 else "lifecycle", f"file://{folder}")
    csp.append("schema", "structured://")  # Hydra expects its (empty) schema source last
    parsed = OverridesParser.create().parse_overrides(overrides=overrides)
    for o in parsed:
        if o.is_sweep_override():
            from hydra.errors import ConfigCompositionException
            raise ConfigCompositionException(
                f"Could not override '{o.input_line}': sweeps are not supported")
    base = ConfigRepository(config_search_path=csp)
    base.sources = [_guarded(src) for src in base.sources]
    repo = CachingConfigRepository(base)
    if repo.load_config(config_name) is None:
        from hydra.errors import MissingConfigException
        raise MissingConfigException(f"Cannot find primary config '{config_name}'",
                                     config_name)
    defaults = create_defaults_list(repo=repo, config_name=config_name, overrides_list=parsed,
                                    prepend_hydra=False, skip_missing=False)
    loader = ConfigLoaderImpl(config_search_path=csp)
    cfg = loader._compose_config_from_defaults_list(defaults=defaults.defaults, repo=repo)
    OmegaConf.set_struct(cfg, True)
    ConfigLoaderImpl._apply_overrides_to_config(defaults.config_overrides, cfg)
    return cfg, defaults.defaults


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _apply_override_provenance(provenance: ProvenanceIndex, overrides: tuple[str, ...],
                               groups: set[str]) -> None:
    for text in overrides:
        body = text.lstrip("+~")
        key = body.split("=", 1)[0].strip()
        if not key or key.startswith("hydra"):
            continue
        if key.split("@")[0].lstrip("/") in groups:
            continue  # a preset choice: its values are indexed from the preset file
        key_path = parse_path(key.split("@")[0])
        if text.startswith("~"):
            provenance.delete(key_path)
        else:
            provenance.set(key_path, _override_location(text), replaces_subtree=True)


def _forbidden_resolvers(node: Any, prefix: KeyPath,
                         provenance: ProvenanceIndex) -> Iterator[Problem]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _forbidden_resolvers(v, prefix + (str(k),), provenance)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _forbidden_resolvers(v, prefix + (i,), provenance)
    elif isinstance(node, str):
        match = _RESOLVER_CALL.search(node)
        if match:
            yield Problem(
                "load.resolver", f"resolver '{match.group(1)}' is not allowed in specs",
                format_path(prefix), provenance.locate(prefix),
                "resolvers such as oc.env make the plan depend on the machine that compiled "
                "it; write the value, or a secret reference 'secret://NAME' read at run time")


def _missing_config(exc: Exception, primary: YamlFile, search: list[Path]) -> LoadError:
    message = _first_line(exc)
    match = re.search(r"Could not find '([^']+)'", str(exc))
    group = ""
    name = ""
    if match:
        group, _, name = match.group(1).rpartition("/")
    m2 = re.search(r"In '([^']+)': Could not find '([^']+)'", str(exc))
    if m2:
        group, _, name = m2.group(2).rpartition("/")
    if group:
        options = _group_options(group, search)
        near = difflib.get_close_matches(name, options, n=1)
        hint = (f"did you mean '{near[0]}'? " if near else "") + \
            f"available {group} presets: {', '.join(options) or '(none)'}"
        return _error("load.unknown-preset", f"unknown preset '{group}/{name}'",
                      _defaults_location(primary, group), "defaults", hint=hint)
    return _error("load.missing-config", message, Location(display_path(primary.path)),
                  hint="check the spec path and the names in its defaults list")


def _composition_error(exc: Exception, overrides: tuple[str, ...], primary: YamlFile) -> LoadError:
    text = str(exc)
    cause = exc.__cause__
    cause_text = str(cause) if cause else ""
    key_match = re.search(r"Could not override '([^']+)'", text) or \
        re.search(r"Could not append to config\. An item is already at '([^']+)'", text) or \
        re.search(r"Could not delete from config\. '([^']+)'", text)
    if key_match:
        key = key_match.group(1)
        override = next((o for o in overrides if o.lstrip("+~").split("=")[0] == key), key)
        if "already at" in text:
            hint = f"drop the '+': {key}=..."
            message = f"'{key}' already exists in the spec"
        elif "not in struct" in cause_text or "Key '" in cause_text:
            hint = f"to add a new key use +{override.lstrip('+')}; check the spelling"
            message = f"'{key}' is not a key of the spec"
        else:
            hint = "check the key and the value"
            message = f"cannot apply override: {cause_text.splitlines()[0] if cause_text else key}"
        return _error("load.override", message, _override_location(override), key, hint=hint)
    if text.startswith("Error merging override"):
        override = next((o for o in overrides if o in text), text.split()[3])
        reason = (text.splitlines()[0].split(override, 1)[-1].lstrip(": ").strip()
                  or (cause_text.splitlines()[0] if cause_text else "") or "invalid override")
        key = override.lstrip("+~").split("=", 1)[0]
        hint = ("a list is replaced whole from the command line: "
                f"{key.rsplit('.', 1)[0]}=[...]" if "list index" in reason + cause_text else
                "check the key and the value")
        return _error("load.override", f"cannot apply override: {reason}",
                      _override_location(override), key, hint=hint)
    m = re.search(r"Could not load '([^']+)'", text)
    if m:
        group, _, _name = m.group(1).rpartition("/")
        return _error("load.unknown-preset", f"unknown preset '{m.group(1)}'",
                      _defaults_location(primary, group), "defaults",
                      hint="check the name in the defaults list")
    return _error("load.compose", f"composition failed: {_first_line(exc)}"
                  + (f": {cause_text.splitlines()[0]}" if cause_text else ""),
                  Location(display_path(primary.path)),
                  hint="check the defaults list and the overrides")


def _omegaconf_error(exc: Exception, primary: YamlFile,
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
    msg = getattr(exc, "msg", None) or _first_line(exc)
    msg = msg.splitlines()[0]
    if isinstance(exc, MissingMandatoryValue):
        return _error("load.missing-value", "value is '???' (mandatory) and was not set",
                      loc, str(full_key), hint=f"set it in the spec or with {full_key}=...")
    if isinstance(exc, InterpolationKeyError):
        return _error("load.interpolation", f"broken interpolation: {msg}", loc, str(full_key),
                      hint="the referenced key does not exist; check its path")
    if isinstance(exc, GrammarParseError):
        return _error("load.interpolation", f"malformed interpolation: {msg}", loc,
                      str(full_key), hint="interpolations look like ${section.key}")
    if isinstance(exc, InterpolationResolutionError):
        cyc = "cycle" in msg.lower() or "recursive" in msg.lower()
        return _error("load.interpolation",
                      ("interpolations refer to each other in a cycle: " if cyc else
                       "interpolation failed: ") + msg, loc, str(full_key),
                      hint="make one of the values a literal" if cyc else
                      "check the referenced key")
    return _error("load.compose", f"invalid configuration: {msg}", loc, str(full_key),
                  hint="check the value at this key")

