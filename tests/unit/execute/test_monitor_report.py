"""The monitor report stays readable for a model with many features (issue 18, item 12):
features ranked by drift, a heatmap of per-feature p-values over the windows, only the
most drifted few drawn over time and as distributions, every chart of a bounded size
with its legend outside the plot and a p-value axis that ends at 1."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from lifecycle.execute import monitor_report
from lifecycle.runtime.monitor.encode import Encoder
from lifecycle.runtime.monitor.histograms import counts, edges_of
from lifecycle.store import Journal, Store

DRIFTING = ("f07", "f19", "f23")  # shift progressively from window 30 on


def make_example(root: Path, features: int = 30, windows: int = 60, seed: int = 0) -> Store:
    """A store holding one run of `wide` with a feature-wise drift monitor: its fitted
    reference and `windows` journaled windows, the same shape the Monitor writes."""
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(seed)
    names = [f"f{i:02d}" for i in range(features - 1)] + ["region"]
    enc = Encoder(names, {**{n: "float" for n in names[:-1]}, "region": "category"},
                  {"region": ["north", "south", "east", "west"]})
    ref = np.hstack([rng.normal(size=(1000, features - 1)),
                     rng.integers(0, 4, size=(1000, 1))]).astype(np.float32)
    folder = root / "detector"
    folder.mkdir(parents=True)
    np.save(folder / "reference.npy", ref)
    (folder / "lifecycle-monitor.json").write_text(json.dumps({"encoder": enc.to_dict()}))
    store = Store(str(root / "store"))
    journal = Journal(store, "20261122-000000-aaaaaa")
    journal.append("run_started", spec="wide", stages=["monitor"])
    journal.append("stage_succeeded", stage="monitor", outputs={"monitors": {"drift": {
        "path": str(folder), "detector": "ks", "reference_rows": 1000}}})
    bins = edges_of(ref, enc.categorical_columns())
    threshold = 0.05 / features  # Bonferroni, as the Monitor corrects
    for w in range(windows):
        x = np.hstack([rng.normal(size=(500, features - 1)),
                       rng.integers(0, 4, size=(500, 1))]).astype(np.float32)
        for name in DRIFTING:
            x[:, names.index(name)] += max(0, w - 30) * 0.03
        ps = {n: float(ks_2samp(ref[:, i], x[:, i]).pvalue) for i, n in enumerate(names)}
        smallest = min(ps.values())
        journal.append("monitor_window", monitor="drift", window=w, opened=1e9 + 60 * w,
                       closed=1e9 + 60 * (w + 1), closed_by="size", kind="drift", rows=500,
                       flagged=smallest < threshold, is_drift=smallest < threshold,
                       p_value=smallest, threshold=threshold, features=ps,
                       histograms=counts(x, bins))
    return store


def _png_size(path: str) -> tuple[int, int]:
    with open(path, "rb") as f:
        head = f.read(24)
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> monitor_report.Collected:
    return monitor_report.collect(make_example(tmp_path_factory.mktemp("wide")), "wide")


@pytest.fixture(scope="module")
def report(collected: monitor_report.Collected,
           tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return monitor_report.write(collected, str(tmp_path_factory.mktemp("report")))


def test_features_are_ranked_most_drifted_first(collected: monitor_report.Collected) -> None:
    ranked = monitor_report.ranking(collected.windows["drift"])
    assert len(ranked) == 30 and {d.feature for d in ranked[:3]} == set(DRIFTING)
    assert ranked[3].below * 3 < ranked[2].below  # chance dips of the others count less


def test_a_30_feature_report_has_a_heatmap_and_charts_of_bounded_size(
        report: dict[str, object]) -> None:
    charts = {os.path.basename(str(c)): str(c) for c in report["charts"]}  # type: ignore[attr-defined]
    assert sorted(charts) == ["drift-distributions.png", "drift-heatmap.png",
                              "drift-windows.png"]
    for name, path in charts.items():
        width, height = _png_size(path)
        assert width <= 1200 and height <= 1000, (name, width, height)  # was 9,600 x 300
    page = Path(str(report["report"])).read_text()
    assert page.count("<tr><td>") >= 30  # the ranking table lists every feature
    shown = page.split("reference vs the last 10 windows: the most drifted features (")[1]
    assert set(DRIFTING) <= set(shown.split(")")[0].split(", "))
