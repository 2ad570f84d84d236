"""Ground truth from the driver side, no Ray: the prediction log read back (`lifecycle
logs`), labels that arrive days later joined with it (`lifecycle feedback`), and which
version served when (`lifecycle history`), from the run store and its journals."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, Location, Problem
from ..plan import Plan
from ..store import Store, list_runs, read_journal


def _refuse(code: str, message: str, hint: str) -> InputError:
    loc = Location(origin="lifecycle")
    return InputError(message, location=loc, hint=hint,
                      problems=(Problem(code, message, "", loc, hint),))


def _dataset(store: Store, folder: str, keys: tuple[str, ...]) -> Any:
    """A Hive-partitioned log folder as a dataset; the partition keys read as text (a
    version "3" stays "3")."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    fs, _ = store.fs_and_base
    path = store.path(folder)
    partitioning = ds.partitioning(pa.schema([(k, pa.string()) for k in keys]),
                                   flavor="hive")
    try:
        if fs.get_file_info(path).type.name != "Directory":
            return None
        return ds.dataset(path, filesystem=fs, format="parquet", partitioning=partitioning)
    except (FileNotFoundError, OSError):
        return None


def read_logs(store: Store, application: str, since: float | None = None,
              version: str | None = None, request_ids: list[str] | None = None) -> Any:
    """The prediction log as one Arrow table (the rows since a moment, of a version, of
    some requests)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    data = _dataset(store, f"predictions/{application}", ("date", "version"))
    if data is None:
        raise _refuse("logs.none", f"no prediction log of '{application}' in {store.uri}",
                      "serve.logging turns it on; pass --store where the runs are")
    where = None
    if since is not None:
        where = ds.field("time") >= pa.scalar(int(since * 1000), pa.timestamp("ms", tz="UTC"))
    if version is not None:
        clause = ds.field("version") == str(version)
        where = clause if where is None else where & clause
    if request_ids is not None:
        clause = ds.field("request_id").isin(request_ids)
        where = clause if where is None else where & clause
    return data.to_table(filter=where)


def label_table(path: str) -> Any:
    """A labels file (Parquet or CSV): request_id, label and optionally row."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        table = pacsv.read_csv(path) if path.lower().endswith(".csv") else pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise _refuse("feedback.file", f"cannot read {path}: {exc}",
                      "give a Parquet or CSV file with columns request_id and label") from None
    missing = [c for c in ("request_id", "label") if c not in table.column_names]
    if missing:
        raise _refuse("feedback.file", f"{path} has no column {missing[0]}",
                      f"columns found: {', '.join(table.column_names)}; needed: request_id, "
                      "label (and optionally row)")
    return table


def _label_rows(table: Any, path: str) -> tuple[list[str], list[float], list[int]]:
    """Request ids, labels and rows of a labels file, each checked: a bad one is refused
    with its line (1 is the first data row)."""
    ids = table.column("request_id").to_pylist()
    labels = table.column("label").to_pylist()
    rows = table.column("row").to_pylist() if "row" in table.column_names \
        else [0] * table.num_rows
    out_ids, out_labels, out_rows = [], [], []
    for i, (rid, label, row) in enumerate(zip(ids, labels, rows), start=1):
        problem = None
        if rid is None or str(rid) == "":
            problem = "request_id is empty"
        elif isinstance(label, bool) or not isinstance(label, (int, float)) or \
                label != label or label in (float("inf"), float("-inf")):
            problem = f"label must be a number, got {label!r}"
        elif isinstance(row, bool) or not isinstance(row, int) or row < 0:
            problem = f"row must be a whole number ≥ 0, got {row!r}"
        if problem:
            raise _refuse("feedback.file", f"{path}, row {i}: {problem}",
                          "each row: request_id (the answer's X-Request-Id), label (the "
                          "class or value) and optionally row (its place in the request)")
        out_ids.append(str(rid))
        out_labels.append(float(label))
        out_rows.append(int(row))
    return out_ids, out_labels, out_rows


@dataclass
class BulkFeedback:
    """Labels joined with the prediction log: per version (and slice) the metrics."""

    labels: int
    joined: int
    unknown: int
    duplicates: int
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    stored: str = ""


def bulk_feedback(store: Store, plan: Plan, path: str, now: float) -> BulkFeedback:
    """Labels that arrive days later: kept in the label log, joined with the logged
    predictions by (request id, row), and scored per version and per slice with each
    quality monitor's metrics (or the evaluation's)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..runtime.monitor.quality import Pair, Slice, scores, slice_of

    application = plan.stage("deploy").application
    labels = label_table(path)
    ids, values, rows = _label_rows(labels, path)
    keys = list(zip(ids, rows))
    duplicates = len(keys) - len(set(keys))
    # kept beside the live labels, so the label log holds them all
    fs, _ = store.fs_and_base
    day = dt.datetime.fromtimestamp(now, dt.UTC).date().isoformat()
    target = store.path(f"labels/{application}/date={day}", f"bulk-{int(now)}.parquet")
    fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
    pq.write_table(pa.table({
        "time": pa.array([int(now * 1000)] * len(ids), pa.timestamp("ms", tz="UTC")),
        "request_id": pa.array(ids, pa.string()), "row": pa.array(rows, pa.int64()),
        "label": pa.array(values, pa.float64())}), target, filesystem=fs)
    logged = read_logs(store, application, request_ids=sorted(set(ids)))
    by_key = {(str(r["request_id"]), int(r.get("row") or 0)): r for r in logged.to_pylist()}
    monitors = [m for s in plan.stages if s.kind == "monitor" for m in s.monitors
                if m.quality is not None]
    quality = monitors[0].quality if monitors else None
    evaluate = next((s for s in plan.stages if s.kind == "evaluate"), None)
    metrics = quality.metrics if quality else evaluate.metrics if evaluate else ["auc"]
    threshold = quality.threshold if quality else 0.5
    slices = [] if quality is None else [
        Slice(s.feature, None if s.bins is None else tuple(s.bins)) for s in quality.slices]
    pairs: dict[str, list[Pair]] = {}
    seen: set[tuple[str, int]] = set()
    for key, label in zip(keys, values):
        r = by_key.get(key)
        if r is None or key in seen:
            continue
        seen.add(key)
        pairs.setdefault(str(r["version"]), []).append(
            Pair(0.0, label, float(r["prediction"]), slice_of(r, slices)))
    out = BulkFeedback(labels=len(keys), joined=len(seen), duplicates=duplicates,
                       unknown=len(set(keys)) - len(seen), stored=target)
    for version, mine in sorted(pairs.items()):
        try:
            by_slice = scores(mine, metrics, slices, threshold)
        except ValueError as exc:  # e.g. a class metric on labels that are not classes
            raise _refuse("feedback.labels", f"the labels of {path} do not suit the metrics "
                          f"{', '.join(metrics)}: {exc}",
                          "give the labels the model predicts (0/1 for a classifier)"
                          ) from None
        out.versions[version] = {"labels": len(mine), "values": by_slice.pop("all"),
                                 "slices": by_slice}
    return out


@dataclass
class Served:
    """Which version held which alias and traffic at a moment, and the decisions since
    the last deploy before it."""

    at: float
    champion: str | None
    weights: dict[str, tuple[str | None, float]]
    run_id: str | None
    events: list[dict[str, Any]] = field(default_factory=list)


def _time(record: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(record["time"]).timestamp()


def history(store: Store, application: str) -> list[dict[str, Any]]:
    """Every deploy and rollout decision of the application, in time order: what an
    auditor reads (`lifecycle history`)."""
    out = []
    for run_id in list_runs(store):
        for r in read_journal(store, run_id):
            event = r.get("event", "")
            if event == "stage_succeeded" and r.get("stage") == "deploy" and \
                    (r.get("outputs") or {}).get("application") == application:
                out.append({"time": _time(r), "run_id": run_id, "event": "deployed",
                            "versions": r["outputs"].get("versions", {})})
            elif r.get("application") == application and event == "application_retired":
                out.append({"time": _time(r), "run_id": run_id, "event": "retired",
                            "versions": r.get("archived_versions", [])})
            elif r.get("application") == application and event in (
                    "rollout_step_started", "rollout_promoted", "rollout_rolled_back",
                    "rollout_paused", "rollout_resumed", "rollout_blocked",
                    "rollout_failed", "rollout_superseded"):
                out.append({"time": _time(r), "run_id": run_id,
                            "event": event.removeprefix("rollout_"),
                            **{k: r.get(k) for k in ("step", "weight", "version", "reason",
                                                     "by_run")
                               if r.get(k) is not None}})
    return sorted(out, key=lambda e: e["time"])


def served_at(events: list[dict[str, Any]], at: float) -> Served:
    """Replay the history up to `at`: the champion (the stable slot's version) and each
    slot's version and traffic share."""
    state = Served(at, None, {}, None)
    versions: dict[str, str | None] = {}
    for e in events:
        if e["time"] > at:
            break
        if e["event"] == "deployed":
            versions = dict(e["versions"])
            state.run_id, state.events = e["run_id"], []
            state.champion = versions.get("stable")
            state.weights = {"candidate": (versions.get("candidate"), 100.0)} \
                if versions.get("stable") is None else \
                {"stable": (versions.get("stable"), 100.0),
                 "candidate": (versions.get("candidate"), 0.0)}
        elif e["event"] == "step_started" and "weight" in e:
            w = float(e["weight"])
            if versions.get("stable") is not None:
                state.weights = {"stable": (versions.get("stable"), 100.0 - w),
                                 "candidate": (versions.get("candidate"), w)}
        elif e["event"] == "promoted":
            state.champion = str(e.get("version"))
            versions["stable"] = state.champion
            state.weights = {"stable": (state.champion, 100.0),
                             "candidate": (versions.get("candidate"), 0.0)}
        elif e["event"] == "retired":
            versions, state.champion, state.weights = {}, None, {}
        elif e["event"] == "rolled_back":
            state.weights = {"stable": (versions.get("stable"), 100.0),
                             "candidate": (versions.get("candidate"), 0.0)}
        state.events.append(e)
    return state


def record_retirement(store: Store, application: str, done: dict[str, Any]) -> str | None:
    """Journal a retirement in the run that last deployed the application (so `history`
    shows it); None when no run of it is in this store."""
    import secrets

    from ..store import Journal

    deploys = [e for e in history(store, application) if e["event"] == "deployed"]
    if not deploys:
        return None
    run_id = deploys[-1]["run_id"]
    Journal(store, run_id, writer=f"retire-{secrets.token_hex(3)}").append(
        "application_retired", application=application,
        archived_versions=list(done.get("archived_versions", [])),
        deleted=bool(done.get("deleted")))
    return str(run_id)
