"""Loading: YAML read safely with positions, Hydra composition, provenance index.
The only package that imports hydra / omegaconf."""

from .compose import LoadedSpec, compose, platform_conf_dir, suggest
from .keypath import KeyPath, format_path, parse_path
from .provenance import ProvenanceIndex
from .yaml_safe import display_path, read_yaml

__all__ = ["KeyPath", "LoadedSpec", "ProvenanceIndex", "compose", "display_path",
           "format_path", "parse_path", "platform_conf_dir", "read_yaml", "suggest"]
