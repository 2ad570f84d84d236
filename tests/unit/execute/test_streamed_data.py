"""The data stage in bounded memory: the contract counted batch by batch (and merged from
partial tallies, as Ray Data tasks return them) gives exactly the counts of the whole
table; the digest depends on the data alone; the monitors' reference is sampled from a
stream; evaluation scores batch by batch. Pure pyarrow and numpy: no Ray."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lifecycle.execute.contract import (
    ContractTally,
    check_contract,
    contract_rules,
    feature_info,
    open_source,
    scan,
    tally_source,
)
from lifecycle.execute.datasets import BottomK
from lifecycle.execute.digest import digest_source
from lifecycle.execute.executors.evaluate import score_source
from lifecycle.execute.executors.monitor import reference_sample
from lifecycle.runtime.monitor.encode import Encoder

CONTRACT = {"label": "y", "label_type": "int", "min_rows": 1, "features": {
    "amount": {"type": "float", "min": 0.0, "max": 100.0, "categories": None,
               "max_null_fraction": 0.0},
    "channel": {"type": "category", "min": None, "max": None,
                "categories": ["web", "pos"], "max_null_fraction": 0.0},
    "shop": {"type": "category", "min": None, "max": None, "categories": None,
             "max_null_fraction": 0.5}}}


def _planted(rows: int, seed: int = 0) -> tuple[pa.Table, dict[str, int]]:
    """A table with violations planted at known rows, and how many of each."""
    rng = np.random.default_rng(seed)
    amount = rng.uniform(0, 100, rows)
    below, above, nulls = rng.choice(rows, 37, replace=False), \
        rng.choice(rows, 11, replace=False), rng.choice(rows, 5, replace=False)
    amount[below] = -1.0
    amount[above] = 1e6
    amount_mask = np.zeros(rows, dtype=bool)
    amount_mask[nulls] = True
    amount_arr = pa.array(amount, mask=amount_mask)
    channel = np.array(["web", "pos"])[rng.integers(0, 2, rows)].astype(object)
    outside = rng.choice(rows, 23, replace=False)
    channel[outside] = "app"
    table = pa.table({"amount": amount_arr, "channel": pa.array(channel.tolist()),
                      "shop": pa.array([f"s{i % 7}" for i in range(rows)]),
                      "y": pa.array(rng.integers(0, 2, rows))})
    planted = {"below": len(set(below) - set(nulls)), "above": len(set(above) - set(below)
                                                                    - set(nulls)),
               "nulls": 5, "outside": 23}
    return table, planted


def test_streamed_counts_are_exact_whatever_the_batch_size(tmp_path: Path) -> None:
    table, planted = _planted(10_000)
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=3_000)
    source = {"path": "t.parquet"}
    whole = {(v.column, v.rule): v.offending for v in check_contract(table, CONTRACT, "d")}
    assert whole == {("amount", "max_null_fraction 0"): planted["nulls"],
                     ("amount", "min 0"): planted["below"],
                     ("amount", "max 100"): planted["above"],
                     ("channel", "categories"): planted["outside"]}
    for rows in (1, 777, 4096, 100_000):
        tally = tally_source(open_source(source, str(tmp_path)), source, CONTRACT, rows)
        assert {(v.column, v.rule): v.offending for v in tally.violations("d")} == whole
        assert tally.rows == 10_000


def test_partial_tallies_merged_as_json_equal_one_stream(tmp_path: Path) -> None:
    """What the Ray Data path does: one tally per block, sent back as JSON and merged."""
    table, _ = _planted(5_000, seed=3)
    one = ContractTally.start(CONTRACT, table.schema)
    one.update(table)
    merged = ContractTally.start(CONTRACT, table.schema)
    for start in range(0, 5_000, 1_234):
        part = ContractTally.start(CONTRACT, table.schema)
        part.update(table.slice(start, 1_234))
        merged.merge_json(json.loads(json.dumps(part.to_json())))
    assert [v.__dict__ for v in merged.violations("d")] == \
        [v.__dict__ for v in one.violations("d")]
    a, b = one.feature_info(), merged.feature_info()
    assert a["categories"] == b["categories"] == {
        "channel": ["web", "pos"], "shop": [f"s{i}" for i in range(7)]}
    for feature in a["stats"]:
        assert b["stats"][feature]["mean"] == pytest.approx(a["stats"][feature]["mean"],
                                                            rel=1e-12)
        assert b["stats"][feature]["std"] == pytest.approx(a["stats"][feature]["std"],
                                                           rel=1e-12)


def test_streamed_statistics_match_numpy(tmp_path: Path) -> None:
    values = np.random.default_rng(1).lognormal(3, 1, 50_000)
    table = pa.table({"amount": values, "channel": ["web"] * 50_000, "shop": ["a"] * 50_000,
                      "y": [0] * 50_000})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=7_000)
    source = {"path": "t.parquet"}
    info = tally_source(open_source(source, str(tmp_path)), source, {
        **CONTRACT, "features": {**CONTRACT["features"], "amount": {
            "type": "float", "max_null_fraction": 0.0}}}, 999).feature_info()
    assert info["stats"]["amount"]["mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert info["stats"]["amount"]["std"] == pytest.approx(values.std(), rel=1e-10)


def test_types_and_presence_are_checked_on_the_schema_with_every_row_counted(
        tmp_path: Path) -> None:
    table = pa.table({"amount": ["a", "b", "c"], "y": [0, 1, 0]})
    pq.write_table(table, tmp_path / "t.parquet")
    source = {"path": "t.parquet"}
    tally = tally_source(open_source(source, str(tmp_path)), source, CONTRACT)
    assert {(v.column, v.rule, v.offending) for v in tally.violations("d")} == {
        ("amount", "type float", 3), ("channel", "presence", 3), ("shop", "presence", 3)}


def test_a_source_reading_only_some_columns_misses_the_others(tmp_path: Path) -> None:
    table, _ = _planted(100)
    pq.write_table(table, tmp_path / "t.parquet")
    source = {"path": "t.parquet", "columns": ["amount", "channel", "y"]}
    tally = tally_source(open_source(source, str(tmp_path)), source, CONTRACT)
    assert ("shop", "presence") in {(v.column, v.rule) for v in tally.violations("d")}


def test_dictionary_columns_are_checked_as_their_values() -> None:
    table = pa.table({"amount": [1.0, 2.0], "channel": pa.array(["web", "app"])
                      .dictionary_encode(), "shop": ["a", "b"], "y": [0, 1]})
    [v] = check_contract(table, CONTRACT, "d")
    assert (v.column, v.rule, v.offending) == ("channel", "categories", 1)
    assert "['app']" in v.detail


def test_the_label_is_required_and_never_null() -> None:
    rules = contract_rules(CONTRACT)
    assert list(rules)[-1] == "y" and rules["y"]["max_null_fraction"] == 0.0
    table = pa.table({"amount": [1.0], "channel": ["web"], "shop": ["a"],
                      "y": pa.array([None], pa.int64())})
    [v] = check_contract(table, CONTRACT, "d")
    assert (v.column, v.rule) == ("y", "max_null_fraction 0")


def test_feature_info_of_a_table_and_of_a_stream_agree(tmp_path: Path) -> None:
    table, _ = _planted(3_000, seed=5)
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=500)
    source = {"path": "t.parquet"}
    streamed = tally_source(open_source(source, str(tmp_path)), source, CONTRACT, 256)
    whole = feature_info(table, CONTRACT)
    assert streamed.feature_info()["categories"] == whole["categories"]
    assert streamed.feature_info()["stats"]["amount"]["mean"] == pytest.approx(
        whole["stats"]["amount"]["mean"])


# --- the digest --------------------------------------------------------------------


def _digest(path: Path, rel: str) -> str:
    source = {"path": rel}
    return digest_source(open_source(source, str(path)), rel).value


def test_digest_covers_every_byte(tmp_path: Path) -> None:
    table, _ = _planted(20_000)
    pq.write_table(table, tmp_path / "a.parquet")
    first = _digest(tmp_path, "a.parquet")
    amount = table.column("amount").to_numpy(zero_copy_only=False).copy()
    amount[15_000] += 1.0  # a change deep inside the file (mlflow.data's digest misses it)
    pq.write_table(table.set_column(0, "amount", pa.array(amount)), tmp_path / "a.parquet")
    assert _digest(tmp_path, "a.parquet") != first


def test_digest_depends_on_the_data_not_on_where_the_project_lies(tmp_path: Path) -> None:
    """A Ray Job unpacks the project under a name that changes with any edit of any file:
    the same data there must digest the same (issue 18, item 2)."""
    table, _ = _planted(1_000)
    one = tmp_path / "_ray_pkg_0a1b" / "data"
    one.mkdir(parents=True)
    pq.write_table(table.slice(0, 500), one / "part-0.parquet")
    pq.write_table(table.slice(500), one / "part-1.parquet")
    pq.write_table(table, one / "single.parquet")
    other = tmp_path / "moved" / "_ray_pkg_ffee" / "data"
    shutil.copytree(one, other)
    for rel in ("data", "data/single.parquet"):
        assert _digest(one.parent, rel) == _digest(other.parent, rel)


def test_digest_of_a_folder_covers_the_names_inside_it(tmp_path: Path) -> None:
    """Partition folders carry data (`day=2026-01-01/`): renaming inside the source is a
    change, renaming the source itself is not."""
    table, _ = _planted(100)
    (tmp_path / "d" / "day=1").mkdir(parents=True)
    pq.write_table(table, tmp_path / "d" / "day=1" / "part.parquet")
    first = _digest(tmp_path, "d")
    (tmp_path / "d" / "day=1").rename(tmp_path / "d" / "day=2")
    second = _digest(tmp_path, "d")
    assert second != first
    (tmp_path / "d").rename(tmp_path / "e")
    assert _digest(tmp_path, "e") == second


def test_digest_reads_files_in_parallel_and_records_its_kind(tmp_path: Path) -> None:
    table, _ = _planted(100)
    (tmp_path / "d").mkdir()
    for i in range(6):
        pq.write_table(table.slice(i * 10, 10), tmp_path / "d" / f"p{i}.parquet")
    seen: list[str] = []

    def hasher(fs: object, path: str) -> str:
        seen.append(path)
        return "h"

    opened = open_source({"path": "d"}, str(tmp_path))
    result = digest_source(opened, "d", hasher)
    assert (result.kind, result.files, len(seen)) == ("sha256", 6, 6)
    assert result.bytes == sum((tmp_path / "d" / f"p{i}.parquet").stat().st_size
                               for i in range(6))


# --- reading for the later stages --------------------------------------------------


def test_bottom_k_keeps_k_complete_rows_in_stream_order_and_is_seeded() -> None:
    def run(seed: int) -> np.ndarray:
        sampler = BottomK(50, seed)
        for start in range(0, 10_000, 700):
            n = min(700, 10_000 - start)
            positions, keys = sampler.offer(n)
            rows = (start + positions).astype(float)[:, None]
            complete = rows[:, 0] % 2 == 0  # odd rows are "incomplete"
            sampler.add(positions[complete], keys[complete], rows[complete])
        return sampler.sample(1)[:, 0]

    a = run(0)
    assert len(a) == 50 and (a % 2 == 0).all() and (np.diff(a) > 0).all()
    assert (run(0) == a).all() and not (run(1) == a).all()
    assert a.min() < 2_000 and a.max() > 8_000  # spread over the whole stream


def test_bottom_k_is_uniform_over_the_stream() -> None:
    hits = np.zeros(10)
    for seed in range(200):
        sampler = BottomK(10, seed)
        for start in range(0, 1_000, 100):
            positions, keys = sampler.offer(100)
            sampler.add(positions, keys, (start + positions).astype(float)[:, None])
        hits += np.bincount((sampler.sample(1)[:, 0] // 100).astype(int), minlength=10)
    assert hits.min() > 140 and hits.max() < 260  # 200 expected per tenth


def test_reference_is_sampled_from_a_stream_of_complete_rows(tmp_path: Path) -> None:
    table, _ = _planted(20_000, seed=2)
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=2_500)
    info = feature_info(table, CONTRACT)
    encoder = Encoder.of(["amount", "channel"], info, "ordinal")
    x = reference_sample({"path": "t.parquet"}, str(tmp_path), encoder, 1_000, 0)
    assert x.shape == (1_000, 2) and not np.isnan(x).any()
    again = reference_sample({"path": "t.parquet"}, str(tmp_path), encoder, 1_000, 0)
    assert (x == again).all()
    small = reference_sample({"path": "t.parquet"}, str(tmp_path), encoder, 50_000, 0)
    assert len(small) == 20_000 - 5  # every complete row (a null amount is missing; an
    # unknown channel has a code of its own)


def test_evaluation_scores_batch_by_batch(tmp_path: Path) -> None:
    table, _ = _planted(200_000, seed=4)
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=50_000)
    calls: list[int] = []

    def scorer(batch: pa.Table) -> np.ndarray:
        calls.append(batch.num_rows)
        return np.nan_to_num(batch.column("amount").to_numpy(zero_copy_only=False))

    labels, [scores] = score_source({"path": "t.parquet"}, str(tmp_path), "y", [scorer])
    assert len(labels) == len(scores) == 200_000 and max(calls) <= 65_536
    assert (labels == table.column("y").to_numpy()).all()


def test_scan_reads_a_retrains_recent_rows_only(tmp_path: Path) -> None:
    table = pa.table({"amount": [1.0, 2.0, 3.0], "t": [10.0, 20.0, 30.0]})
    pq.write_table(table, tmp_path / "t.parquet")
    source = {"path": "t.parquet", "time_column": "t", "since": 15.0}
    rows = pa.Table.from_batches(scan(open_source(source, str(tmp_path)), source, ["amount"]))
    assert rows.column("amount").to_pylist() == [2.0, 3.0]
