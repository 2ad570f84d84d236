"""The prediction and label logs (real Parquet through pyarrow, on a local store): typed
columns, Hive partitions, bounded buffers, failed writes dropped and counted,
retention; and the driver side that reads them back (`logs`, `feedback`, `history`)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn import metrics as skm

from lifecycle.errors import InputError
from lifecycle.execute import groundtruth
from lifecycle.runtime.contract import FeatureCheck
from lifecycle.runtime.monitor.predlog import (
    LABEL_COLUMNS,
    ParquetLog,
    prediction_columns,
    redacted,
)
from lifecycle.store import Journal, Store

FEATURES = {"amount": FeatureCheck(type="float"), "channel": FeatureCheck(type="category"),
            "card": FeatureCheck(type="string"), "n": FeatureCheck(type="int")}
DAY = dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC).timestamp()


def _log(store: str, **kw: object) -> ParquetLog:
    return ParquetLog(store, "predictions/app", "w1",
                      columns=prediction_columns(FEATURES, ["card"], "hash"), **kw)  # type: ignore[arg-type]


def _record(i: int, version: str, t: float = DAY) -> dict[str, object]:
    return {"time": t + i, "request_id": f"r{i}", "row": 0, "version": version,
            "slot": "stable", "latency_ms": 1.5, "prediction": (i % 10) / 10,
            "amount": float(i), "channel": ["web", "app"][i % 2],
            "card": redacted(f"4111-{i}", "hash"), "n": i}


def test_records_are_typed_and_partitioned_by_date_and_version(tmp_path: Path) -> None:
    log = _log(str(tmp_path))
    log.add([_record(i, "1" if i < 6 else "12") for i in range(10)])
    log.flush(DAY)
    assert (log.stats.written, log.stats.dropped, log.stats.files) == (10, 0, 2)
    assert sorted(os.listdir(tmp_path / "predictions/app/date=2026-11-29")) == [
        "version=1", "version=12"]
    table = groundtruth.read_logs(Store(str(tmp_path)), "app")
    assert table.num_rows == 10
    assert table.schema.field("version").type == pa.string()  # "12" stays text
    assert table.schema.field("time").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("n").type == pa.int64()
    one = groundtruth.read_logs(Store(str(tmp_path)), "app", version="12")
    assert sorted(one.column("request_id").to_pylist()) == ["r6", "r7", "r8", "r9"]
    since = groundtruth.read_logs(Store(str(tmp_path)), "app", since=DAY + 8)
    assert since.num_rows == 2
    card = table.column("card").to_pylist()[0]
    assert "4111" not in card and len(card) == 32  # hashed, still joinable


def test_a_dropped_feature_is_not_a_column() -> None:
    columns = prediction_columns(FEATURES, ["card"], "drop")
    assert "card" not in columns and columns["channel"] == "string"


def test_the_buffer_is_bounded_and_counts_what_it_drops(tmp_path: Path) -> None:
    log = _log(str(tmp_path), max_buffered=5)
    log.add([_record(i, "1") for i in range(3)])
    log.add([_record(i, "1") for i in range(3, 8)])
    assert len(log.buffer) == 5 and log.stats.dropped == 3


def test_a_failing_store_drops_and_counts_never_raises(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the log wants a folder")
    log = _log(str(blocked))
    log.add([_record(i, "1") for i in range(4)])
    log.flush(DAY)
    assert (log.stats.written, log.stats.dropped, log.stats.failed_writes) == (0, 4, 1)
    assert log.stats.last_error


def test_flush_is_due_by_size_or_time(tmp_path: Path) -> None:
    log = _log(str(tmp_path), flush_rows=3, flush_interval_s=10)
    log.flushed_at = DAY
    assert not log.due(DAY + 100)  # empty
    log.add([_record(0, "1")])
    assert not log.due(DAY + 1)
    assert log.due(DAY + 11)
    log.add([_record(i, "1") for i in range(1, 3)])
    assert log.due(DAY + 1)


def test_retention_removes_old_date_partitions(tmp_path: Path) -> None:
    log = _log(str(tmp_path), retention_s=2 * 86400)
    log.add([_record(0, "1", DAY - 5 * 86400), _record(1, "1", DAY)])
    log.flush(DAY)
    assert sorted(os.listdir(tmp_path / "predictions/app")) == ["date=2026-11-29"]


def _plan() -> object:
    from lifecycle import api

    return api.compile_spec("specs/fraud.yaml")  # its live-quality monitor: auc, accuracy


def test_bulk_feedback_joins_labels_and_scores_like_scikit_learn(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    plan = _plan()
    app = plan.stage("deploy").application  # type: ignore[attr-defined]
    log = ParquetLog(str(tmp_path), f"predictions/{app}", "w1",
                     columns=prediction_columns(FEATURES, [], "hash"))
    records = [_record(i, "1" if i % 2 else "2") for i in range(200)]
    log.add(records)
    log.flush(DAY)
    labels = [(i + i // 7) % 2 for i in range(200)]
    path = tmp_path / "labels.parquet"
    ids = [f"r{i}" for i in range(200)] + ["r3", "nobody"]  # a repeat, one never logged
    pq.write_table(pa.table({"request_id": ids, "label": labels + [1, 0]}), path)
    done = groundtruth.bulk_feedback(store, plan, str(path), DAY + 86400)  # type: ignore[arg-type]
    assert (done.labels, done.joined, done.duplicates, done.unknown) == (202, 200, 1, 1)
    for version in ("1", "2"):
        mine = [i for i in range(200) if ("1" if i % 2 else "2") == version]
        assert done.versions[version]["values"]["auc"] == pytest.approx(
            skm.roc_auc_score([labels[i] for i in mine], [records[i]["prediction"]
                                                          for i in mine]), abs=1e-9)
        web = [i for i in mine if records[i]["channel"] == "web"]
        if len({labels[i] for i in web}) == 2:
            assert done.versions[version]["slices"]["channel=web"]["auc"] == pytest.approx(
                skm.roc_auc_score([labels[i] for i in web],
                                  [records[i]["prediction"] for i in web]), abs=1e-9)
    kept = pq.read_table(done.stored)
    assert kept.num_rows == 202 and kept.schema.field("label").type == pa.float64()


@pytest.mark.parametrize("table, message", [
    ({"request_id": ["a"]}, "no column label"),
    ({"request_id": ["a", None], "label": [1, 0]}, "row 2: request_id is empty"),
    ({"request_id": ["a", "b"], "label": [1.0, float("nan")]}, "row 2: label must be a number"),
    ({"request_id": ["a"], "label": ["yes"]}, "row 1: label must be a number"),
    ({"request_id": ["a"], "label": [1], "row": [-1]}, "row 1: row must be"),
])
def test_a_bad_labels_file_is_refused_naming_the_row(tmp_path: Path, table: dict[str, list],
                                                     message: str) -> None:
    path = tmp_path / "labels.parquet"
    pq.write_table(pa.table(table), path)
    with pytest.raises(InputError, match=message):
        groundtruth.bulk_feedback(Store(str(tmp_path)), _plan(), str(path), DAY)  # type: ignore[arg-type]


def test_labels_without_a_log_are_refused_with_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no prediction log") as exc:
        groundtruth.read_logs(Store(str(tmp_path)), "app")
    assert "serve.logging" in str(exc.value.all_problems()[0].hint)


def _journal(store: Store, run_id: str, records: list[tuple[float, str, dict]]) -> None:
    path = Path(store.path(f"runs/{run_id}", "journal.jsonl"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for seq, (t, event, fields) in enumerate(records, 1):
            f.write(json.dumps({"seq": seq, "event": event, "run_id": run_id,
                                "time": dt.datetime.fromtimestamp(t, dt.UTC).isoformat(),
                                **fields}) + "\n")


def test_history_answers_what_served_at_a_moment(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    deploy = {"stage": "deploy", "outputs": {"application": "app"}}
    _journal(store, "r1", [
        (100, "stage_succeeded", {**deploy, "outputs": {
            "application": "app", "versions": {"stable": None, "candidate": "1"}}}),
        (101, "rollout_promoted", {"application": "app", "version": "1", "reason": "ok"})])
    _journal(store, "r2", [
        (200, "stage_succeeded", {**deploy, "outputs": {
            "application": "app", "versions": {"stable": "1", "candidate": "2"}}}),
        (201, "rollout_step_started", {"application": "app", "step": 0, "weight": 10}),
        (250, "rollout_step_started", {"application": "app", "step": 1, "weight": 50}),
        (300, "rollout_promoted", {"application": "app", "version": "2", "reason": "ok"}),
        (310, "stage_succeeded", {"stage": "deploy", "outputs": {"application": "other"}})])
    events = groundtruth.history(store, "app")
    assert [e["event"] for e in events] == ["deployed", "promoted", "deployed",
                                            "step_started", "step_started", "promoted"]
    between = groundtruth.served_at(events, 260)  # between the two promotions
    assert between.champion == "1"
    assert between.weights == {"stable": ("1", 50.0), "candidate": ("2", 50.0)}
    assert [e["event"] for e in between.events] == ["deployed", "step_started",
                                                    "step_started"]
    assert groundtruth.served_at(events, 150).champion == "1"
    assert groundtruth.served_at(events, 301).champion == "2"
    assert groundtruth.served_at(events, 50).run_id is None
    done = groundtruth.record_retirement(store, "app", {"archived_versions": ["1", "2"]})
    assert done == "r2"
    after = groundtruth.history(store, "app")
    assert after[-1]["event"] == "retired"
    assert groundtruth.served_at(after, after[-1]["time"] + 1).champion is None


def test_journal_records_of_other_writers_are_read_back(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    Journal(store, "r9").append("stage_succeeded", stage="deploy", outputs={
        "application": "app", "versions": {"stable": None, "candidate": "4"}})
    assert [e["versions"] for e in groundtruth.history(store, "app")] == [
        {"stable": None, "candidate": "4"}]


def test_the_label_log_columns() -> None:
    assert list(LABEL_COLUMNS) == ["time", "request_id", "row", "label"]
