"""The policy engine: bundles of CEL rules (data, in conf/policy), waivers, results.

Lives here: the bundle model and its loading with `extends` (bundle.py), the CEL runtime
and the functions rules may call (cel_runtime.py, functions.py), evaluation of every rule
against the resolved spec with waivers applied (engine.py), and which spec keys each rule
reads, for the diff (references.py).

May import: lifecycle.plan (it fills the plan's PolicyReport) and lifecycle.errors. Never
lifecycle.spec: rules see the resolved spec as JSON-like data, exactly as the plan holds it.
"""

from .bundle import TIER_ORDER, Bundle, Rule, available_bundles, load_bundle
from .engine import check_bundle, check_bundle_tier, evaluate, select_bundle_name
from .functions import FUNCTIONS

__all__ = [
           "FUNCTIONS",
           "TIER_ORDER",
           "Bundle",
           "Rule",
           "available_bundles",
           "check_bundle",
           "check_bundle_tier",
           "evaluate",
           "load_bundle",
           "select_bundle_name",
]
