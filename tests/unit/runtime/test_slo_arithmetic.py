"""Error budgets, burn rates and which burn alerts fire, against cases computed by hand
(objective 99.9: an error budget of 0.1%)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lifecycle.plan import BurnAlertParams, SloParams
from lifecycle.runtime.slo import Counts, budget_left, burn_rate, firing, status, windows

from ...conftest import ROOT

H, M, D = 3600.0, 60.0, 86400.0
FAST = BurnAlertParams(long_s=1 * H, short_s=5 * M, factor=14.4, severity="page")
SLOW = BurnAlertParams(long_s=6 * H, short_s=30 * M, factor=6.0, severity="page")
AVAILABILITY = SloParams(name="availability", sli="availability", objective=99.9,
                         window_s=28 * D, burn_alerts=[FAST, SLOW], on_burn=["alert"])


def test_burn_rate_is_the_error_ratio_over_the_budget() -> None:
    # 30 bad of 10,000 = 0.3% errors; budget 0.1% -> 3x
    assert burn_rate(Counts(good=9_970, total=10_000), 99.9) == pytest.approx(3.0)
    # 99% objective: 2% errors burn at 2x
    assert burn_rate(Counts(good=980, total=1_000), 99.0) == pytest.approx(2.0)


def test_no_events_is_no_burn_and_an_untouched_budget() -> None:
    assert burn_rate(Counts(0, 0), 99.9) is None
    assert budget_left(Counts(0, 0), 99.9) == 1.0


def test_budget_left_over_the_window() -> None:
    # 1,000,000 requests allow 1,000 errors: 250 spent leaves 75%, 1,500 is 50% overspent
    assert budget_left(Counts(good=999_750, total=1_000_000), 99.9) == pytest.approx(0.75)
    assert budget_left(Counts(good=998_500, total=1_000_000), 99.9) == pytest.approx(-0.5)


def test_fast_burn_fires_only_when_both_windows_burn() -> None:
    # 2% errors over the hour (20x) and over the last 5 minutes (20x): page
    assert firing({H: 20.0, 5 * M: 20.0}, [FAST]) == [FAST]
    # the burn stopped: 5 minutes clean, the hour still high -> quiet (the short window
    # is what resets the alert)
    assert firing({H: 20.0, 5 * M: 0.0}, [FAST]) == []
    # a short spike the hour has not noticed -> quiet
    assert firing({H: 2.0, 5 * M: 100.0}, [FAST]) == []


def test_a_burn_exactly_at_the_factor_does_not_fire() -> None:
    # the rules say `> factor`, as the SRE workbook does
    assert firing({H: 14.4, 5 * M: 14.4}, [FAST]) == []


def test_a_window_without_data_keeps_its_alert_quiet() -> None:
    assert firing({H: 20.0, 5 * M: None}, [FAST]) == []
    assert firing({H: 20.0}, [FAST]) == []


def test_status_from_per_window_counts() -> None:
    counts = {
        5 * M: Counts(good=4_900, total=5_000),      # 2% -> 20x
        30 * M: Counts(good=29_700, total=30_000),   # 1% -> 10x
        1 * H: Counts(good=58_800, total=60_000),    # 2% -> 20x
        6 * H: Counts(good=358_200, total=360_000),  # 0.5% -> 5x
        28 * D: Counts(good=9_998_000, total=10_000_000),  # 0.02% -> 0.2x of the budget
    }
    s = status(AVAILABILITY, counts)
    assert s.burn_rates == pytest.approx({5 * M: 20.0, 30 * M: 10.0, H: 20.0, 6 * H: 5.0,
                                          28 * D: 0.2})
    assert s.firing == [FAST]  # the slow alert's 6 h window is at 5x, under 6x
    assert s.budget_left == pytest.approx(0.8) and not s.exhausted


def test_an_overspent_budget_is_exhausted() -> None:
    s = status(AVAILABILITY, {28 * D: Counts(good=9_980_000, total=10_000_000)})
    assert s.budget_left == pytest.approx(-1.0) and s.exhausted and s.firing == []


def test_time_based_slis_count_evaluations() -> None:
    # quality 95%: 6 of 60 one-minute evaluations over the hour below the bound is 10% of
    # the time, twice the 5% budget
    assert burn_rate(Counts(good=54, total=60), 95.0) == pytest.approx(2.0)


def test_windows_an_slo_needs_counts_for() -> None:
    assert windows(AVAILABILITY) == [5 * M, 30 * M, H, 6 * H, 28 * D]


def test_counts_reject_more_good_than_total() -> None:
    with pytest.raises(ValueError, match="good <= total"):
        Counts(good=2, total=1)


def test_the_arithmetic_imports_without_ray() -> None:
    code = ("import sys, lifecycle.runtime.slo; "
            "print(sorted(m for m in ('ray', 'mlflow', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]"
