"""`lifecycle monitor report SPEC`: an HTML page with PNG charts of what a spec's monitors
saw, from the run store alone (no cluster needed): every window the Monitor journaled
(the decision statistic over time, decisions, outlier rates), the actions taken, and for
feature-wise drift monitors the features ranked by drift — a heatmap of per-feature
p-values over the windows, the few most drifted drawn over time, and their reference
distributions beside the recent windows' (counts on the reference's bins, recorded with
each window). Sized for models with many features: charts never grow with the feature
count beyond the heatmap's rows. Logged to the spec's latest MLflow run too.
"""

from __future__ import annotations

import html
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..store import Store, list_runs, read_journal

RECENT_WINDOWS = 10  # the "recent" distribution: the last this many windows


@dataclass
class Collected:
    name: str
    windows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    actions: list[dict[str, Any]] = field(default_factory=list)
    fitted: dict[str, dict[str, Any]] = field(default_factory=dict)  # monitor -> stage out
    tracking: dict[str, Any] | None = None
    runs: list[str] = field(default_factory=list)


def collect(store: Store, name: str) -> Collected:
    """Every run of `name` in the store, oldest first."""
    out = Collected(name)
    for run_id in sorted(list_runs(store)):
        events = list(read_journal(store, run_id))
        if not events or events[0].get("spec") != name:
            continue
        out.runs.append(run_id)
        for e in events:
            kind = e["event"]
            if kind == "monitor_window":
                out.windows.setdefault(e["monitor"], []).append(e)
            elif kind == "monitor_action":
                out.actions.append(e)
            elif kind in ("stage_succeeded", "stage_skipped") and e.get("stage") == "monitor":
                out.fitted.update((e.get("outputs") or {}).get("monitors") or {})
            elif kind == "tracking":
                out.tracking = {"run_id": e["mlflow_run_id"], "uri": e["tracking_uri"]}
    for records in out.windows.values():
        records.sort(key=lambda r: (r["closed"], r["window"]))
    for fitted in out.fitted.values():  # a remote store: the detector folder lies there
        if fitted.get("stored") and not os.path.isdir(str(fitted.get("path"))):
            fitted["path"] = store.download(store.path(fitted["stored"]))
    return out


def _reference(fitted: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]] | None:
    """The detector's reference sample and manifest (plain .npy and JSON: no pickle)."""
    folder = fitted.get("path")
    if not folder or not os.path.exists(os.path.join(folder, "lifecycle-monitor.json")):
        return None
    with open(os.path.join(folder, "lifecycle-monitor.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    x_ref = np.load(os.path.join(folder, "reference.npy"), allow_pickle=False)
    return x_ref, manifest


TOP_LINES = 5  # the most-drifted features drawn as lines over time
TOP_DISTRIBUTIONS = 6  # ... and whose distributions are shown
HEATMAP_ROWS = 40  # features in the heatmap (ranked); the table lists them all
HEATMAP_COLUMNS = 80  # windows beyond this are grouped (the smallest p-value of a group)
P_FLOOR = 1e-12  # p-values below this are drawn at it (a p-value axis never runs past 1)


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    smallest: float  # the smallest p-value of any window
    latest: float | None
    below: int  # windows whose p-value was under the monitor's threshold


def ranking(records: list[dict[str, Any]]) -> list[FeatureDrift]:
    """Features from most to least drifted: windows under the threshold, then the
    smallest p-value (a feature-wise drift monitor's records only)."""
    names = sorted({f for r in records for f in (r.get("features") or {})})
    out = []
    for name in names:
        ps = [(r["features"][name], r.get("threshold")) for r in records
              if name in (r.get("features") or {})]
        out.append(FeatureDrift(name, min(p for p, _ in ps), ps[-1][0] if ps else None,
                                sum(1 for p, t in ps if t is not None and p < t)))
    return sorted(out, key=lambda d: (-d.below, d.smallest, d.feature))


def write(collected: Collected, out_dir: str) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")

    os.makedirs(out_dir, exist_ok=True)
    sections: list[str] = []
    charts: list[str] = []
    for name in sorted(set(collected.windows) | set(collected.fitted)):
        records = collected.windows.get(name, [])
        if records and records[0].get("kind") == "quality":
            sections.append(_quality(name, records, out_dir, charts))
            continue
        fitted = collected.fitted.get(name) or {}
        parts = [f"<h2>{html.escape(name)}</h2>",
                 f"<p>detector <b>{html.escape(str(fitted.get('detector', '?')))}</b>, "
                 f"{len(records)} windows, {sum(r['flagged'] for r in records)} flagged"
                 f"; reference rows {fitted.get('reference_rows', '?')}</p>"]
        ranked = ranking(records)
        if records:
            png = _windows_chart(name, records, ranked[:TOP_LINES], out_dir)
            charts.append(png)
            parts.append(f'<img src="{png}" alt="{html.escape(name)} windows">')
        if ranked:
            png = _heatmap(name, records, ranked[:HEATMAP_ROWS], out_dir)
            charts.append(png)
            shown = f"the {HEATMAP_ROWS} most drifted of " if len(ranked) > HEATMAP_ROWS \
                else ""
            parts.append(f"<p>per-feature p-values over the windows ({shown}"
                         f"{len(ranked)} features, most drifted first)</p>"
                         f'<img src="{png}" alt="{html.escape(name)} heatmap">')
            parts.append(_ranking_table(ranked))
        recent = [r for r in records if r.get("histograms")][-RECENT_WINDOWS:]
        ref = _reference(fitted) if fitted and recent else None
        if ref is not None:
            order = [d.feature for d in ranked]
            png, shown_features = _distributions(name, ref, recent, order, out_dir)
            charts.append(png)
            which = "the most drifted features" if order else "the first features"
            parts.append(f"<p>reference vs the last {len(recent)} windows: {which} "
                         f"({', '.join(html.escape(f) for f in shown_features)})</p>"
                         f'<img src="{png}" alt="{html.escape(name)} distributions">')
        rows = "".join(
            f"<tr><td>{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(r['closed']))}</td>"
            f"<td>{r['window']}</td><td>{r['rows']}</td>"
            f"<td>{_num(r.get('p_value', r.get('outlier_rate', r.get('distance'))))}</td>"
            f"<td>{'<b>flagged</b>' if r['flagged'] else 'clean'}</td></tr>"
            for r in records[-50:])
        parts.append("<table><tr><th>closed (UTC)</th><th>window</th><th>rows</th>"
                     "<th>p-value / outlier rate / online statistic</th><th>decision</th>"
                     "</tr>" + rows + "</table>")
        sections.append("\n".join(parts))
    acted = "".join(f"<li>{html.escape(a['time'])} {html.escape(a['monitor'])}: "
                    f"{html.escape(a['action'])} — {html.escape(a.get('reason', ''))} "
                    f"<code>{html.escape(json.dumps(a.get('outcome'), default=str))}</code></li>"
                    for a in collected.actions[-100:])
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>monitors: "
            f"{html.escape(collected.name)}</title><style>body{{font-family:sans-serif;"
            f"max-width:1100px;margin:2em auto}}table{{border-collapse:collapse;font-size:12px;"
            f"margin:1em 0}}td,th{{border:1px solid #ccc;padding:2px 6px}}"
            f"img{{max-width:100%}}</style>"
            f"</head><body><h1>Monitors of {html.escape(collected.name)}</h1>"
            f"<p>{len(collected.runs)} run(s) in the store; generated "
            f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}</p>"
            + "\n".join(sections)
            + (f"<h2>Actions</h2><ul>{acted}</ul>" if acted else "<h2>Actions</h2><p>none</p>")
            + "</body></html>")
    index = os.path.join(out_dir, "index.html")
    with open(index, "w", encoding="utf-8") as f:
        f.write(page)
    return {"report": index, "charts": [os.path.join(out_dir, c) for c in charts],
            "windows": {k: len(v) for k, v in collected.windows.items()},
            "actions": len(collected.actions)}


def _quality(name: str, records: list[dict[str, Any]], out_dir: str,
             charts: list[str]) -> str:
    """A quality monitor: per version, each metric of its windows over time — realised
    (solid) and estimated (dashed) — and the last windows with their slices."""
    import matplotlib.pyplot as plt

    versions = sorted({str(r.get("version")) for r in records})
    metrics = sorted({m for r in records for m in (r.get("values") or {})})
    parts = [f"<h2>{html.escape(name)}</h2>",
             f"<p>quality, {len(records)} windows of labelled predictions, "
             f"{sum(r['flagged'] for r in records)} with a drop; versions "
             f"{html.escape(', '.join(versions))}</p>"]
    t0 = records[0]["closed"]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for version in versions:
        mine = [r for r in records if str(r.get("version")) == version]
        x = [(r["closed"] - t0) / 60 for r in mine]
        for metric in metrics:
            line = ax.plot(x, [(r.get("values") or {}).get(metric) or np.nan for r in mine],
                           ".-", label=f"v{version} {metric}")
            estimated = [(r.get("estimated") or {}).get(f"estimated_{metric}") for r in mine]
            if any(v is not None for v in estimated):
                ax.plot(x, [np.nan if v is None else v for v in estimated], "--",
                        color=line[0].get_color(), label=f"v{version} {metric} (estimated)")
    for r in records:
        if r["flagged"]:
            ax.axvline((r["closed"] - t0) / 60, color="red", lw=0.6, alpha=0.5)
    ax.set_xlabel("minutes since the first window")
    ax.set_ylabel("metric")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    png = _save(fig, out_dir, f"{name}-quality.png")
    charts.append(png)
    parts.append(f'<img src="{png}" alt="{html.escape(name)} quality">')

    def values(v: dict[str, Any] | None) -> str:
        return ", ".join(f"{html.escape(k)} {_num(x)}" for k, x in sorted((v or {}).items()))

    rows = "".join(
        f"<tr><td>{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(r['closed']))}</td>"
        f"<td>v{html.escape(str(r.get('version')))}</td><td>{r.get('rows', '')}</td>"
        f"<td>{values(r.get('values'))}</td><td>{values(r.get('estimated'))}</td>"
        f"<td>{'; '.join(f'{html.escape(k)}: {values(v)}' for k, v in sorted((r.get('slices') or {}).items()))}</td>"  # noqa: E501
        f"<td>{'<b>drop: ' + html.escape(', '.join(r.get('dropped') or [])) + '</b>' if r['flagged'] else 'ok'}</td></tr>"  # noqa: E501
        for r in records[-50:])
    parts.append("<table><tr><th>closed (UTC)</th><th>version</th><th>labels</th>"
                 "<th>realised</th><th>estimated</th><th>slices</th><th>decision</th></tr>"
                 + rows + "</table>")
    return "\n".join(parts)


def _save(fig: Any, out_dir: str, png: str) -> str:
    import matplotlib.pyplot as plt

    fig.savefig(os.path.join(out_dir, png), dpi=100, bbox_inches="tight")
    plt.close(fig)
    return png


def _p(v: Any) -> float:
    return float("nan") if v is None else max(float(v), P_FLOOR)


def _windows_chart(name: str, records: list[dict[str, Any]], top: list[FeatureDrift],
                   out_dir: str) -> str:
    """The monitor's decision statistic per window; for drift, the smallest p-value with
    the threshold and the few most drifted features (the legend outside the plot)."""
    import matplotlib.pyplot as plt

    t0 = records[0]["closed"]
    x = [(r["closed"] - t0) / 60 for r in records]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    drift = "p_value" in records[0]
    if drift:
        ax.set_yscale("log")
        ax.plot(x, [_p(r.get("p_value")) for r in records], ".-", color="black", lw=1.2,
                label="smallest p-value")
        for d in top:
            ax.plot(x, [_p((r.get("features") or {}).get(d.feature)) for r in records],
                    lw=0.9, alpha=0.8, label=d.feature)
        thresholds = [float(r["threshold"]) for r in records if r.get("threshold")]
        if thresholds:
            ax.axhline(thresholds[-1], color="grey", ls="--", label="threshold (corrected)")
        ys = [_p(r.get("p_value")) for r in records] + thresholds
        ax.set_ylim(max(P_FLOOR, min(ys) / 3) if ys else P_FLOOR, 1.5)
        floored = any(r.get("p_value") is not None and r["p_value"] < P_FLOOR
                      for r in records)
        ax.set_ylabel("p-value (log" + (f"; below {P_FLOOR:g} drawn at it)" if floored
                                        else ")"))
    elif records[0].get("online"):  # a statistic per window against its threshold
        ax.plot(x, [r.get("distance") or np.nan for r in records], ".-",
                label="test statistic (closest to its threshold)")
        ax.plot(x, [r.get("threshold") or np.nan for r in records], color="grey",
                ls="--", label="threshold")
        ax.set_ylabel("online statistic")
    else:
        ax.plot(x, [r["outlier_rate"] for r in records], ".-", label="outlier rate")
        ax.set_ylim(bottom=0)
        ax.set_ylabel("outlier rate")
    flagged = [(xi, r) for xi, r in zip(x, records) if r["flagged"]]
    if flagged:
        ys = [r.get("p_value") if drift else r.get("outlier_rate", r.get("distance"))
              for _, r in flagged]
        ax.scatter([xi for xi, _ in flagged],
                   [_p(y) if drift else float(y or 0.0) for y in ys], color="red",
                   zorder=3, label="flagged window")
    ax.set_xlabel("minutes since the first window")
    ax.set_title(f"{name}: each window's decision", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _save(fig, out_dir, f"{name}-windows.png")


def _heatmap(name: str, records: list[dict[str, Any]], ranked: list[FeatureDrift],
             out_dir: str) -> str:
    """-log10 p per feature (rows, most drifted first) and window (columns, grouped to
    at most HEATMAP_COLUMNS, a group showing its smallest p-value)."""
    import matplotlib.pyplot as plt

    groups = np.array_split(np.arange(len(records)), min(len(records), HEATMAP_COLUMNS))
    grid = np.full((len(ranked), len(groups)), np.nan)
    for j, group in enumerate(groups):
        for i, d in enumerate(ranked):
            ps = [(records[k].get("features") or {}).get(d.feature) for k in group]
            known = [p for p in ps if p is not None]
            if known:
                grid[i, j] = -np.log10(_p(min(known)))
    threshold = next((r["threshold"] for r in reversed(records) if r.get("threshold")), None)
    cap = max(4.0, -np.log10(threshold) + 2 if threshold else 4.0)
    fig, ax = plt.subplots(figsize=(10, max(2.6, 0.24 * len(ranked) + 1.4)))
    image = ax.imshow(np.clip(grid, 0, cap), aspect="auto", cmap="magma_r", vmin=0, vmax=cap,
                      interpolation="nearest")
    ax.set_yticks(range(len(ranked)), [d.feature for d in ranked], fontsize=8)
    ticks = np.linspace(0, len(groups) - 1, min(len(groups), 10)).round().astype(int)
    ax.set_xticks(ticks, [str(records[groups[t][0]]["window"]) for t in ticks], fontsize=8)
    ax.set_xlabel("window" + (" (grouped)" if len(records) > HEATMAP_COLUMNS else ""))
    ax.set_title(f"{name}: per-feature drift, darker = smaller p-value", fontsize=10)
    bar = fig.colorbar(image, ax=ax, pad=0.01, fraction=0.04, extend="max")
    bar.set_label("-log10 p-value" + (" (cyan: the threshold)" if threshold else ""),
                  fontsize=8)
    if threshold:
        bar.ax.axhline(-np.log10(threshold), color="cyan", lw=2)
    return _save(fig, out_dir, f"{name}-heatmap.png")


def _distributions(name: str, ref: tuple[np.ndarray, dict[str, Any]],
                   recent: list[dict[str, Any]], order: list[str], out_dir: str
                   ) -> tuple[str, list[str]]:
    """Reference vs recent windows for the most drifted features only (a grid, never
    one long row of every feature)."""
    import matplotlib.pyplot as plt

    from ..runtime.monitor.encode import Encoder
    from ..runtime.monitor.histograms import counts, edges_of, labels

    x_ref, manifest = ref
    enc = Encoder.from_dict(manifest["encoder"])
    bins = edges_of(x_ref, enc.categorical_columns())  # as the Monitor made them
    ref_counts = counts(x_ref, bins)
    cols = enc.columns
    wanted = [c for c in order if c in cols] + [c for c in cols if c not in order]
    shown = wanted[:TOP_DISTRIBUTIONS]
    ncols = min(3, len(shown))
    nrows = -(-len(shown) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.7 * nrows + 0.4),
                             squeeze=False)
    for k, col in enumerate(shown):
        i = cols.index(col)
        ax = axes[k // ncols][k % ncols]
        names = enc.categories.get(col) if enc.is_categorical(col) else None
        lab = labels(bins[i], names)
        pos = np.arange(len(lab))
        r = np.asarray(ref_counts[i], float)
        n = np.sum([w["histograms"][i] for w in recent], axis=0).astype(float)
        ax.bar(pos - 0.2, r / max(r.sum(), 1), 0.4, label="reference", color="#4c72b0")
        ax.bar(pos + 0.2, n / max(n.sum(), 1), 0.4, label="recent windows", color="#dd8452")
        ax.set_xticks(pos, lab, rotation=60, ha="right", fontsize=6)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title(col, fontsize=9)
    for k in range(len(shown), nrows * ncols):
        axes[k // ncols][k % ncols].axis("off")
    handles, names_ = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names_, loc="upper center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return _save(fig, out_dir, f"{name}-distributions.png"), shown


def _ranking_table(ranked: list[FeatureDrift]) -> str:
    rows = "".join(f"<tr><td>{i}</td><td>{html.escape(d.feature)}</td><td>{d.below}</td>"
                   f"<td>{_num(d.smallest)}</td><td>{_num(d.latest)}</td></tr>"
                   for i, d in enumerate(ranked, 1))
    return ("<table><tr><th>rank</th><th>feature</th><th>windows under the threshold</th>"
            "<th>smallest p-value</th><th>latest p-value</th></tr>" + rows + "</table>")


def _num(v: Any) -> str:
    return "—" if v is None else f"{v:.3g}"


def log_to_mlflow(collected: Collected, out_dir: str) -> str | None:
    """The report folder as artifacts of the spec's latest MLflow run (`monitor_report/`)."""
    if collected.tracking is None:
        return None
    from mlflow.tracking import MlflowClient

    MlflowClient(collected.tracking["uri"]).log_artifacts(
        collected.tracking["run_id"], out_dir, "monitor_report")
    return f"runs:/{collected.tracking['run_id']}/monitor_report"
