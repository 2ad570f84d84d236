"""The statistics the rollout's comparative gates decide with: sequential tests that hold
their error rates however often they are looked at (`sequential`). Pure standard-library
math, imported by the runtime (the rollout controller), by `lifecycle rollout simulate`
and by the compiler (how long a step needs to judge); it imports nothing of lifecycle."""

from .sequential import (
    Verdict,
    auc_variance,
    boundaries,
    conditional_step,
    estimate_interval,
    mean_interval,
    rate_bounds,
    verdict_of,
)

__all__ = ["Verdict", "auc_variance", "boundaries", "conditional_step", "estimate_interval",
           "mean_interval", "rate_bounds", "verdict_of"]
