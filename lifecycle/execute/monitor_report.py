"""`lifecycle monitor report SPEC`: an HTML page with PNG charts of what a spec's monitors
saw, from the run store alone (no cluster needed): every window the Monitor journaled
(p-values over time, per-feature p-values, decisions, outlier rates), the actions taken,
and per feature the reference distribution beside the recent windows' (counts on the
reference's bins, recorded with each window). Logged to the spec's latest MLflow run too.
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


def write(collected: Collected, out_dir: str) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..runtime.monitor.encode import Encoder
    from ..runtime.monitor.histograms import counts, edges_of, labels

    os.makedirs(out_dir, exist_ok=True)
    sections: list[str] = []
    charts: list[str] = []
    for name in sorted(set(collected.windows) | set(collected.fitted)):
        records = collected.windows.get(name, [])
        if records and records[0].get("kind") == "quality":
            sections.append(_quality(name, records, out_dir, plt, charts))
            continue
        parts = [f"<h2>{html.escape(name)}</h2>"]
        fitted = collected.fitted.get(name) or {}
        parts.append(f"<p>detector <b>{html.escape(str(fitted.get('detector', '?')))}</b>, "
                     f"{len(records)} windows, {sum(r['flagged'] for r in records)} flagged"
                     f"; reference rows {fitted.get('reference_rows', '?')}</p>")
        if records:
            t0 = records[0]["closed"]
            x = [(r["closed"] - t0) / 60 for r in records]
            fig, ax = plt.subplots(figsize=(7, 3.2))
            if "p_value" in records[0]:
                ax.semilogy(x, [max(r["p_value"], 1e-300) for r in records], ".-",
                            label="p-value (smallest)")
                ax.axhline(records[-1]["threshold"], color="grey", ls="--",
                           label="threshold (after correction)")
                for feature in records[-1].get("features") or {}:
                    ax.semilogy(x, [max((r.get("features") or {}).get(feature, np.nan),
                                        1e-300) for r in records], lw=0.8, alpha=0.6,
                                label=feature)
                ax.set_ylabel("p-value")
            elif records[0].get("online"):  # a statistic per window against its threshold
                ax.plot(x, [r.get("distance") or np.nan for r in records], ".-",
                        label="test statistic (closest to its threshold)")
                ax.plot(x, [r.get("threshold") or np.nan for r in records], color="grey",
                        ls="--", label="threshold")
                ax.set_ylabel("online statistic")
            else:
                ax.plot(x, [r["outlier_rate"] for r in records], ".-", label="outlier rate")
                ax.set_ylabel("outlier rate")
            flagged = [(xi, r) for xi, r in zip(x, records) if r["flagged"]]
            if flagged:
                ys = [float(r.get("p_value", r.get("outlier_rate", r.get("distance"))) or 0.0)
                      for _, r in flagged]
                ax.scatter([xi for xi, _ in flagged], [max(y, 1e-300) for y in ys],
                           color="red", zorder=3, label="flagged")
            ax.set_xlabel("minutes since the first window")
            ax.legend(fontsize=7, loc="best")
            fig.tight_layout()
            png = f"{name}-windows.png"
            fig.savefig(os.path.join(out_dir, png))
            plt.close(fig)
            charts.append(png)
            parts.append(f'<img src="{png}" alt="{html.escape(name)} windows">')
        ref = _reference(fitted) if fitted else None
        recent = [r for r in records if r.get("histograms")][-RECENT_WINDOWS:]
        if ref is not None and recent:
            x_ref, manifest = ref
            enc = Encoder.from_dict(manifest["encoder"])
            bins = edges_of(x_ref, enc.categorical_columns())  # as the Monitor made them
            ref_counts = counts(x_ref, bins)
            live = [np.sum([r["histograms"][i] for r in recent], axis=0)
                    for i in range(len(bins))]
            cols = enc.columns
            fig, axes = plt.subplots(1, len(cols), figsize=(3.2 * len(cols), 3), squeeze=False)
            for i, col in enumerate(cols):
                ax = axes[0][i]
                names = enc.categories.get(col) if enc.is_categorical(col) else None
                lab = labels(bins[i], names)
                pos = np.arange(len(lab))
                r = np.asarray(ref_counts[i], float)
                n = np.asarray(live[i], float)
                ax.bar(pos - 0.2, r / max(r.sum(), 1), 0.4, label="reference")
                ax.bar(pos + 0.2, n / max(n.sum(), 1), 0.4, label="recent")
                ax.set_xticks(pos, lab, rotation=60, fontsize=6)
                ax.set_title(col, fontsize=9)
            axes[0][0].legend(fontsize=7)
            fig.tight_layout()
            png = f"{name}-distributions.png"
            fig.savefig(os.path.join(out_dir, png))
            plt.close(fig)
            charts.append(png)
            parts.append(f"<p>reference vs the last {len(recent)} windows</p>"
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
            f"max-width:1100px;margin:2em auto}}table{{border-collapse:collapse;font-size:12px}}"
            f"td,th{{border:1px solid #ccc;padding:2px 6px}}img{{max-width:100%}}</style>"
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


def _quality(name: str, records: list[dict[str, Any]], out_dir: str, plt: Any,
             charts: list[str]) -> str:
    """A quality monitor: per version, each metric of its windows over time — realised
    (solid) and estimated (dashed) — and the last windows with their slices."""
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
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    png = f"{name}-quality.png"
    fig.savefig(os.path.join(out_dir, png))
    plt.close(fig)
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
