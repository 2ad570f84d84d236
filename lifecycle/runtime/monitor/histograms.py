"""Per-feature histograms on fixed bins, so a window's distribution can be put beside the
reference's in a report without keeping the window's rows: the Monitor records counts per
bin with every window, and the report counts the reference on the same bins.

Bins come from the reference alone (deterministic): deciles for numeric columns (with
open ends), one bin per code for ordinal categorical columns."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

DECILES = np.linspace(0.0, 1.0, 11)[1:-1]


def edges_of(x_ref: np.ndarray, categorical: list[int]) -> list[dict[str, Any]]:
    """One entry per column: {"codes": [...]} or {"edges": [...]} (inner edges)."""
    out: list[dict[str, Any]] = []
    for i in range(x_ref.shape[1]):
        col = x_ref[:, i]
        if i in categorical:
            out.append({"codes": sorted(int(v) for v in np.unique(col))})
        else:
            out.append({"edges": sorted({float(v) for v in np.quantile(col, DECILES)})})
    return out


def counts(x: np.ndarray, bins: list[dict[str, Any]]) -> list[list[int]]:
    """Counts per bin for each column ("other" last for codes the reference lacks)."""
    out = []
    for i, b in enumerate(bins):
        col = x[:, i]
        if "codes" in b:
            known = [int((col == c).sum()) for c in b["codes"]]
            out.append(known + [int(len(col) - sum(known))])
        else:
            idx = np.searchsorted(np.asarray(b["edges"]), col, side="right")
            out.append(np.bincount(idx, minlength=len(b["edges"]) + 1).astype(int).tolist())
    return out


def labels(bins: dict[str, Any], names: list[str] | None = None) -> list[str]:
    """Bin labels for a chart: category names (or codes) and numeric ranges."""
    if "codes" in bins:
        shown = [names[c] if names and c < len(names) else str(c) for c in bins["codes"]]
        return shown + ["other"]
    e = bins["edges"]
    if not e:
        return ["all"]
    return [f"< {e[0]:.3g}"] + [f"{a:.3g}–{b:.3g}" for a, b in itertools.pairwise(e)] + \
        [f"≥ {e[-1]:.3g}"]
