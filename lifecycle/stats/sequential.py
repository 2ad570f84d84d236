"""Sequential tests for the rollout's comparative gates.

A gate is looked at every `gate_interval` while a step holds. A test that is re-run on
growing data at every look and stopped at the first "significant" answer rejects far
more often than its nominal level (ten looks at 5% reject a healthy candidate about a
fifth of the time). These tests are sequential by construction, so their error rates
hold however often, and whenever, they are looked at:

- Rates (`error_rate` vs the stable version; the share of slow answers behind a
  `latency_pNN_ms` ratio): Wald's sequential probability ratio test (SPRT) on where the
  events fall — the candidate's or the stable version's answers, in the same window —
  between "the candidate is like the stable version" and "the candidate is worse by the
  amount the gate names". Each look adds the log-likelihood ratio of its new events;
  the test decides `failed` when the sum crosses log((1 - beta) / alpha), `passed` when
  it falls below log(beta / (1 - alpha)), and is `inconclusive` in between. A candidate
  like the stable version fails with probability at most about alpha; one worse by the
  named amount passes with probability about beta (alpha = beta = 1 - confidence).
  SPRT needs on average the fewest answers of any test with those error rates (Wald
  and Wolfowitz), which matters at a 5% canary. A quiet candidate also passes when its
  rate's always-valid upper bound (`rate_bounds`) is below the stable version's lower
  bound plus the increase: no errors at all is evidence too.
- Means (`shadow_diff`: the mean difference between the candidate's and the stable
  version's answers to the same requests): a confidence sequence, the normal-mixture
  boundary of Robbins (1970), valid at all times simultaneously.

Pure standard-library math: no numpy, no scipy (the compiler uses the expected sample
sizes to say how long a step needs)."""

from __future__ import annotations

import math
from typing import Literal

Verdict = Literal["passed", "failed", "inconclusive"]
RATE_FLOOR = 1e-4  # rates are kept off 0 and 1: a log-likelihood ratio needs both sides


def _clip(p: float) -> float:
    return min(max(p, RATE_FLOOR), 1.0 - RATE_FLOOR)


def boundaries(confidence: float) -> tuple[float, float]:
    """(accept, reject) log-likelihood ratio boundaries for alpha = beta = 1 - confidence."""
    alpha = beta = 1.0 - confidence
    return math.log(beta / (1.0 - alpha)), math.log((1.0 - beta) / alpha)


def rate_bounds(events: int, trials: int, confidence: float) -> tuple[float, float]:
    """An always-valid confidence interval for a rate: Robbins' beta-binomial mixture
    (a uniform prior). p is outside when the mixture's likelihood against p exceeds
    1 / alpha; the interval holds at every sample size at once."""
    if trials == 0:
        return 0.0, 1.0
    alpha = 1.0 - confidence
    k, n = events, trials
    log_mix = math.lgamma(k + 1) + math.lgamma(n - k + 1) - math.lgamma(n + 2)
    limit = math.log(1.0 / alpha)

    def outside(p: float) -> bool:
        return log_mix - (k * math.log(p) + (n - k) * math.log1p(-p)) >= limit

    mle = min(max(k / n, 1e-12), 1 - 1e-12)

    def edge(lo: float, hi: float, upward: bool) -> float:
        for _ in range(60):
            mid = (lo + hi) / 2
            if outside(mid) == upward:
                hi = mid
            else:
                lo = mid
        return hi if upward else lo

    upper = 1.0 if not outside(1 - 1e-12) else edge(mle, 1 - 1e-12, True)
    lower = 0.0 if not outside(1e-12) else edge(1e-12, mle, False)
    return lower, upper


def conditional_step(llr: float, new_c: int, new_s: int, share: float, p_s: float,
                     p1: float) -> float:
    """One look's addition to the log-likelihood ratio of where events (errors, slow
    answers) fall. If the candidate is like the stable version, an event is the
    candidate's with the chance of its share of the traffic (`share`); if the
    candidate's rate is `p1` while the stable version's is `p_s`, with the chance
    share*p1 / (share*p1 + (1-share)*p_s). Conditioning on the events makes the null
    hypothesis exact whatever the stable version's rate is: that rate enters only the
    alternative, and is estimated from earlier looks only, so the ratio stays a
    martingale under the null and Ville's inequality bounds the false alarms at
    alpha, however many looks (Robbins and Siegmund's adaptive SPRT)."""
    share = min(max(share, 1e-6), 1 - 1e-6)
    p_s, p1 = _clip(p_s), _clip(p1)
    pi1 = share * p1 / (share * p1 + (1 - share) * p_s)
    pi1 = min(max(pi1, 1e-9), 1 - 1e-9)
    return llr + new_c * math.log(pi1 / share) + new_s * math.log((1 - pi1) / (1 - share))


def verdict_of(llr: float, confidence: float) -> Verdict:
    accept, reject = boundaries(confidence)
    return "failed" if llr >= reject else "passed" if llr <= accept else "inconclusive"


def mean_interval(n: int, total: float, total_sq: float, confidence: float,
                  rho: float = 100.0) -> tuple[float, float] | None:
    """An always-valid confidence interval for a mean from n observations (their sum and
    sum of squares): Robbins' normal-mixture boundary, |S_n - n mu| <= sigma *
    sqrt((n + rho) log((n + rho) / (rho alpha^2))), with sigma estimated (at least a
    small floor). None before two observations."""
    if n < 2:
        return None
    alpha = 1.0 - confidence
    mean = total / n
    var = max(total_sq / n - mean * mean, 0.0) * n / (n - 1)
    sigma = max(math.sqrt(var), 1e-6)
    half = sigma * math.sqrt((n + rho) * math.log((n + rho) / (rho * alpha ** 2))) / n
    return mean - half, mean + half


def estimate_interval(estimate: float, variance: float, confidence: float,
                      tau2: float) -> tuple[float, float]:
    """An always-valid confidence interval for a quantity estimated with `variance`
    (e.g. a difference of two AUCs from their standard errors): the normal-mixture
    boundary of the mixture SPRT (Johari et al., "Always valid inference"), with mixing
    variance `tau2` (about the square of the effect that matters)."""
    alpha = 1.0 - confidence
    v = max(variance, 1e-12)
    half = math.sqrt(v * (v + tau2) / tau2 * (math.log((v + tau2) / v) - 2 * math.log(alpha)))
    return estimate - half, estimate + half


def auc_variance(auc: float, positives: int, negatives: int) -> float:
    """Hanley and McNeil's variance of an AUC estimate."""
    if positives == 0 or negatives == 0:
        return 0.25
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    return max((auc * (1 - auc) + (positives - 1) * (q1 - auc * auc)
                + (negatives - 1) * (q2 - auc * auc)) / (positives * negatives), 1e-12)
