"""The compiler: spec -> plan, and the validate pipeline every verb starts with.

Lives here: validate.py (compose -> schema -> cross-field checks -> policy -> plan, every
problem collected) and validation.py (its outcome, Validation); batch.py (many specs for
their problems: the content-hash cache of cache.py first, then worker processes);
compiler.py and stages.py (the pure spec -> plan step, one builder per stage kind);
serve_config.py (the Ray Serve config a plan implies); served.py (what the operating
commands need of a spec).

May import: lifecycle.load, lifecycle.policy, lifecycle.spec, lifecycle.plan,
lifecycle.errors. Never ray, mlflow, torch or alibi_detect, and never hydra directly.
validation.py, cache.py and batch.py import nothing heavy at module level: answering
`lifecycle validate` from the cache must not load Hydra or the spec models.
"""

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from .compiler import build_stages, compile_plan, spec_json
    from .serve_config import APP_IMPORT_PATH, serve_config

__all__ = ["APP_IMPORT_PATH", "build_stages", "compile_plan", "serve_config", "spec_json"]

__getattr__ = exports(__name__, {
    "build_stages": ".compiler", "compile_plan": ".compiler", "spec_json": ".compiler",
    "APP_IMPORT_PATH": ".serve_config", "serve_config": ".serve_config"})
