"""`lifecycle diff`: what a change to a spec, a preset or a policy does, in risk terms.

Lives here: compare.py (two plans -> changes, pure), classify.py (the reviewer's judgement
of each key as a data table: loosens, tightens, review), model.py (the versioned JSON
report), files.py (`diff OLD NEW`: a side is a spec compiled here, or a plan file) and
git.py (`diff --git REV`: both sides of a repository change composed with their own
revision's presets and bundles).

May import: lifecycle.compile (to compile a side), lifecycle.load (git, plan files),
lifecycle.policy, lifecycle.plan, lifecycle.errors.
"""

from .compare import compare
from .model import (
                    DIFF_SCHEMA_VERSION,
                    Change,
                    CostDelta,
                    CostDiff,
                    CostTotal,
                    DiffReport,
                    Direction,
                    RuleChange,
                    SpecDiff,
                    StageChange,
                    Where,
                    report,
)

__all__ = ["DIFF_SCHEMA_VERSION", "Change", "CostDelta", "CostDiff", "CostTotal", "DiffReport",
           "Direction", "RuleChange", "SpecDiff", "StageChange", "Where", "compare", "report"]
