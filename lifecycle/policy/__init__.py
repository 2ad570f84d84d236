"""The policy engine: bundles of CEL rules (data, in conf/policy), waivers, results."""

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
