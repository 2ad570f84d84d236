"""The compiler: spec -> plan, and the validate pipeline every verb starts with.

Lives here: validate.py (compose -> schema -> cross-field checks -> policy -> plan, every
problem collected) and validation.py (its outcome, Validation); batch.py (many specs for
their problems: the content-hash cache of cache.py first, then worker processes);
compiler.py and stages.py (the pure spec -> plan step, one builder per stage kind);
serve_config.py (the Ray Serve config a plan implies); served.py (what the operating
commands need of a spec); approvals.py (the approval digest, which signed approvals count,
and signing them); cost.py (the plan priced with the platform's price table); slo.py,
prometheus.py and grafana.py (SLOs typed for the plan, and the rules and dashboard they
compile to).

May import: lifecycle.load, lifecycle.policy, lifecycle.spec, lifecycle.plan,
lifecycle.errors. Never ray, mlflow, torch or alibi_detect, and never hydra directly.
validation.py, cache.py and batch.py import nothing heavy at module level: answering
`lifecycle validate` from the cache must not load Hydra or the spec models.
"""

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from .compiler import build_stages, compile_plan, spec_json
    from .cost import price
    from .serve_config import serve_config
    from .slo import slo_params

__all__ = ["build_stages", "compile_plan", "price", "serve_config",
           "slo_params", "spec_json"]

# slo.py also registers the compiler's check on latency thresholds: compiler.py imports
# it, and the validate pipeline imports compiler.py before it runs the checks
__getattr__ = exports(__name__, {
    "build_stages": ".compiler", "compile_plan": ".compiler", "spec_json": ".compiler",
    "price": ".cost", "slo_params": ".slo",
    "serve_config": ".serve_config"})
