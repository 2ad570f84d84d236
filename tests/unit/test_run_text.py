"""How a run's stage outcomes read in the terminal (pure rendering)."""

from __future__ import annotations

from lifecycle.render.run_text import _short


def test_stage_summaries_name_what_each_stage_produced() -> None:
    assert "fraud-detector v3 @challenger" in _short(
        {"model": "fraud-detector", "version": "3", "alias": "challenger"})
    monitor = _short({"monitors": {
        "input-drift": {"detector": "tabular", "reference_rows": 1000},
        "outliers": {"detector": "iforest", "reference_rows": 800}}})
    assert "input-drift (tabular, 1000 reference rows)" in monitor
    assert "outliers (iforest, 800 reference rows)" in monitor
    assert _short({}) == ""
