"""The data contract, gates, journal and stage keys: pure logic, no Ray."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lifecycle.execute.contract import (
    NotATimeColumn,
    check_contract,
    feature_info,
    read_table,
)
from lifecycle.execute.metrics import check_gate
from lifecycle.execute.runner import stage_key
from lifecycle.store import Journal, Store, read_journal

CONTRACT = {"label": "y", "label_type": "int", "min_rows": 1, "features": {
    "amount": {"type": "float", "min": 0.0, "max": None, "categories": None,
               "max_null_fraction": 0.0},
    "channel": {"type": "category", "min": None, "max": None,
                "categories": ["web", "pos"], "max_null_fraction": 0.25}}}


def _table(**cols: list) -> pa.Table:  # type: ignore[type-arg]
    base = {"amount": [1.0, 2.0, 3.0, 4.0], "channel": ["web", "pos", "web", None],
            "y": [0, 1, 0, 1]}
    base.update(cols)
    return pa.table(base)


def test_clean_table_meets_the_contract() -> None:
    assert check_contract(_table(), CONTRACT, "data.train") == []


@pytest.mark.parametrize("cols, rule, offending", [
    ({"amount": [-1.0, -2.0, 3.0, 4.0]}, "min 0", 2),
    ({"channel": ["web", "app", "app", "pos"]}, "categories", 2),
    ({"channel": [None, None, "web", "pos"]}, "max_null_fraction 0.25", 2),
    ({"amount": ["a", "b", "c", "d"]}, "type float", 4),
])
def test_each_violation_names_column_rule_and_count(cols: dict, rule: str,  # type: ignore[type-arg]
                                                    offending: int) -> None:
    [v] = check_contract(_table(**cols), CONTRACT, "data.train")
    assert (v.rule, v.offending) == (rule, offending)
    assert v.format().startswith(f"data.train: column '{list(cols)[0]}' breaks {rule}")


def test_missing_column() -> None:
    table = _table().drop_columns(["channel"])
    [v] = check_contract(table, CONTRACT, "data.eval")
    assert (v.column, v.rule) == ("channel", "presence")


def test_feature_info_carries_stats_and_categories() -> None:
    info = feature_info(_table(), CONTRACT)
    assert info["categories"] == {"channel": ["web", "pos"]}
    assert info["stats"]["amount"]["mean"] == pytest.approx(2.5)


def test_csv_and_folder_sources(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    pq.write_table(_table(), tmp_path / "d" / "part-0.parquet")
    pq.write_table(_table(), tmp_path / "d" / "part-1.parquet")
    assert read_table({"path": "d", "format": "auto"}, str(tmp_path)).num_rows == 8
    (tmp_path / "t.csv").write_text("amount;y\n1.5;0\n2.5;1\n")
    t = read_table({"path": "t.csv", "format": "auto", "csv_delimiter": ";"}, str(tmp_path))
    assert t.column("amount").to_pylist() == [1.5, 2.5]


@pytest.mark.parametrize("gate, value, champion, passed", [
    ({"metric": "auc", "min": 0.8}, 0.79, None, False),
    ({"metric": "auc", "min": 0.8}, 0.81, None, True),
    ({"metric": "rmse", "max": 2.0}, 2.5, None, False),
    ({"metric": "auc", "vs": "champion", "max_regression": 0.01,
      "higher_is_better": True}, 0.885, 0.9, False),
    ({"metric": "auc", "vs": "champion", "max_regression": 0.01,
      "higher_is_better": True}, 0.895, 0.9, True),
    ({"metric": "logloss", "vs": "champion", "max_regression": 0.0,
      "higher_is_better": False}, 0.31, 0.30, False),
    ({"metric": "auc", "vs": "champion", "max_regression": 0.0,
      "higher_is_better": True}, 0.5, None, True),
])
def test_gates(gate: dict, value: float, champion: float | None,  # type: ignore[type-arg]
               passed: bool) -> None:
    assert check_gate(gate, value, champion)["passed"] is passed


def test_journal_appends_and_ignores_a_torn_last_line(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    j = Journal(store, "r1")
    j.append("run_started")
    j.append("stage_started", stage="data")
    with open(tmp_path / "runs" / "r1" / "journal.jsonl", "a") as f:
        f.write('{"seq": 3, "event": "stage_succ')  # a hard kill mid-write
    assert [e["event"] for e in read_journal(store, "r1")] == ["run_started", "stage_started"]


class _ObjectStore(Store):
    """The object-store code path (one object per record) on a local folder."""

    @property
    def is_local(self) -> bool:
        return False


def test_journal_writers_on_an_object_store_never_overwrite_each_other(
        tmp_path: Path) -> None:
    store = _ObjectStore(str(tmp_path))
    runner, rollout = Journal(store, "r1"), Journal(store, "r1", writer="rollout")
    runner.append("run_started")
    time.sleep(0.005)  # records are ordered by their millisecond time stamps
    rollout.append("rollout_step_started")  # seq 1 too: its own object
    time.sleep(0.005)
    runner.append("stage_started", stage="deploy")
    assert [e["event"] for e in read_journal(store, "r1")] == [
        "run_started", "rollout_step_started", "stage_started"]


def test_stage_key_changes_with_upstream_outputs() -> None:
    class S:
        content_hash = "abc"
        depends_on = ["data"]

    a = stage_key(S(), {"data": {"digest": "1"}})
    assert a == stage_key(S(), {"data": {"digest": "1", "rows": {"train": 5}}})
    assert a != stage_key(S(), {"data": {"digest": "2"}})


@pytest.mark.parametrize("kind", ["seconds", "timestamp", "timestamp_tz", "date"])
def test_a_retrain_reads_only_recent_rows(tmp_path: Path, kind: str) -> None:
    import datetime

    now = time.time()
    stamps = [now - 30 * 86400, now - 10 * 86400, now - 2 * 86400, now - 3600]
    as_dt = [datetime.datetime.fromtimestamp(t, datetime.UTC) for t in stamps]
    column = {"seconds": pa.array(stamps),
              "timestamp": pa.array([d.replace(tzinfo=None) for d in as_dt],
                                    pa.timestamp("ms")),
              "timestamp_tz": pa.array(as_dt, pa.timestamp("us", tz="Europe/Berlin")),
              "date": pa.array([d.date() for d in as_dt], pa.date32())}[kind]
    pq.write_table(_table().append_column("t", column), tmp_path / "d.parquet")
    source = {"path": str(tmp_path / "d.parquet"), "time_column": "t"}
    assert read_table(source, "/").num_rows == 4  # no `since`: every row
    recent = read_table({**source, "since": now - 7 * 86400}, "/")
    assert recent.column("amount").to_pylist() == [3.0, 4.0]


def test_a_time_column_that_is_missing_or_not_a_time_is_named(tmp_path: Path) -> None:
    pq.write_table(_table(), tmp_path / "d.parquet")
    source = {"path": str(tmp_path / "d.parquet"), "since": time.time()}
    with pytest.raises(NotATimeColumn, match="'when' is not a column of .*amount, channel"):
        read_table({**source, "time_column": "when"}, "/")
    with pytest.raises(NotATimeColumn, match="'channel' has type string"):
        read_table({**source, "time_column": "channel"}, "/")
