"""Loading what users hand us: spec files composed with Hydra, and compiled plans.

Lives here: platform.py (where the platform's presets and bundles are, today's date),
the bounded YAML reader with its key-path -> file:line index (yaml_safe),
Hydra composition (compose: the flow; hydra_backend: Hydra's loader without its
application config; overrides: the command line's `key=value` words, parsed by Hydra's own
grammar; hydra_errors: Hydra's and OmegaConf's failures translated into Problems), the
provenance index, reading plan.json back, and the git plumbing `diff --git` needs.

May import: lifecycle.errors, lifecycle.plan (to read a plan), lifecycle.spec (only its
"did you mean"). The only package that imports hydra and omegaconf. All of these are
imported where they are used, so importing lifecycle.load stays cheap (the validate
cache answers without them).
"""

from .compose import LoadedSpec, compose
from .keypath import KeyPath, format_path, parse_path
from .plan_file import load_plan, plan_from_json
from .platform import Platform, platform_conf_dir, policy_dirs, today
from .provenance import ProvenanceIndex
from .yaml_safe import display_path, read_yaml

__all__ = ["KeyPath", "LoadedSpec", "Platform", "ProvenanceIndex", "compose", "display_path",
           "format_path", "load_plan", "parse_path", "plan_from_json", "platform_conf_dir",
           "policy_dirs", "read_yaml", "today"]
