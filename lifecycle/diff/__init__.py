"""`lifecycle diff`: what a change to a spec, a preset or a policy does, in risk terms."""

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
