"""Hydra's composition (defaults list, presets merged in order, struct mode) without its
application config (logging, launcher, sweeper) and without its process-wide GlobalHydra:
4x faster, and safe to call from several threads. Uses Hydra 1.3's ConfigLoaderImpl
building blocks; hydra-core is pinned below 1.4 for that reason.

Values given on the command line are not applied here: overrides.py applies them one at
a time, so a failure is known by the override that caused it.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import yaml

from .yaml_safe import read_yaml_cached

_PARSED: dict[tuple[str, int, int], Any] = {}


def preset_groups(search: list[Path]) -> set[str]:
    """Preset group names ('train', 'serve/rollout') found on the search path: folders
    below a search folder that hold a .yaml file."""
    out: set[str] = set()
    for folder in search:
        out |= _groups_in(str(folder))
    return out - {"policy"}


_GROUPS: dict[str, tuple[tuple[tuple[str, int], ...], frozenset[str]]] = {}


def _groups_in(folder: str) -> frozenset[str]:
    """The groups under one folder, listed once per process while no folder under it
    changes (a folder's mtime moves when an entry is added, removed or renamed): a spec
    folder of 1,000 specs is not listed again for every spec."""
    cached = _GROUPS.get(folder)
    if cached is not None and all(_mtime(d) == m for d, m in cached[0]):
        return cached[1]
    stamps: list[tuple[str, int]] = []
    out: set[str] = set()
    _groups_below(folder, "", out, stamps)
    _GROUPS[folder] = (tuple(stamps), frozenset(out))
    return _GROUPS[folder][1]


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


def _groups_below(folder: str, rel: str, out: set[str], stamps: list[tuple[str, int]]) -> None:
    stamps.append((folder, _mtime(folder)))
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    if rel and any(e.name.endswith(".yaml") and e.is_file() for e in entries):
        out.add(rel)
    for e in entries:
        if e.is_dir():
            _groups_below(e.path, f"{rel}/{e.name}" if rel else e.name, out, stamps)


def group_options(group: str, search: list[Path]) -> list[str]:
    """The presets of one group, e.g. ['lightgbm', 'sklearn', 'torch_ddp', 'xgboost']."""
    options: set[str] = set()
    for folder in search:
        d = folder / group
        if d.is_dir():
            options.update(p.stem for p in d.glob("*.yaml"))
    return sorted(options)


def find_config(config_path: str, search: list[Path]) -> Path | None:
    for folder in search:
        candidate = folder / f"{config_path}.yaml"
        if candidate.is_file():
            return candidate
    return None


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
                obj = yaml.load(text, Loader=loader)
                # a preset (group/name) is composed by many specs: keep its DictConfig and
                # hand out copies (Hydra merges the returned nodes into the result)
                cfg = (OmegaConf.create() if obj is None else OmegaConf.create(obj)) \
                    if "/" in config_path else None
                cached = (ConfigSource._get_header_dict(text[:512]), obj, cfg)
                _PARSED[key] = cached
            header, obj, preset = cached
            cfg = copy.deepcopy(preset) if preset is not None else (
                OmegaConf.create() if obj is None else OmegaConf.create(obj))
            return ConfigResult(config=cfg, path=f"{self.scheme()}://{self.path}",
                                provider=self.provider, header=dict(header))

    return GuardedFileConfigSource(source.provider, source.path)


@functools.cache
def _repository_class() -> Any:
    from hydra._internal.config_repository import CachingConfigRepository

    class Repository(CachingConfigRepository):
        """Hydra's caching repository without its deepcopy of the delegate (which copies
        Hydra's own ConfigStore each time): ours is built for one composition."""

        def __init__(self, delegate: Any) -> None:
            self.delegate = delegate
            self.cache = {}

    return Repository


def compose_presets(config_name: str, search: list[Path],
                    preset_choices: list[Any]) -> tuple[Any, list[Any]]:
    """The spec `config_name` (found in search[0]) merged with the presets of its defaults
    list, after the command line's preset choices (Hydra `Override`s of groups). Returns
    the struct-mode DictConfig and Hydra's resolved defaults list."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.config_repository import ConfigRepository
    from hydra._internal.config_search_path_impl import ConfigSearchPathImpl
    from hydra._internal.core_plugins.file_config_source import FileConfigSource
    from hydra._internal.core_plugins.structured_config_source import StructuredConfigSource
    from hydra._internal.defaults_list import create_defaults_list
    from hydra._internal.sources_registry import SourcesRegistry
    from hydra.errors import MissingConfigException
    from omegaconf import OmegaConf

    SourcesRegistry.instance().register(FileConfigSource)  # idempotent
    SourcesRegistry.instance().register(StructuredConfigSource)
    csp = ConfigSearchPathImpl()
    for i, folder in enumerate(search):
        if i == 0 or folder.is_dir():
            csp.append("main" if i == 0 else "lifecycle", f"file://{folder}")
    csp.append("schema", "structured://")  # Hydra expects its (empty) schema source last
    base = ConfigRepository(config_search_path=csp)
    base.sources = [_guarded(src) for src in base.sources]
    repo = _repository_class()(base)
    if repo.load_config(config_name) is None:
        raise MissingConfigException(f"Cannot find primary config '{config_name}'",
                                     config_name)
    defaults = create_defaults_list(repo=repo, config_name=config_name,
                                    overrides_list=preset_choices, prepend_hydra=False,
                                    skip_missing=False)
    loader = ConfigLoaderImpl(config_search_path=csp)
    cfg = loader._compose_config_from_defaults_list(defaults=defaults.defaults, repo=repo)
    OmegaConf.set_struct(cfg, True)
    return cfg, defaults.defaults
