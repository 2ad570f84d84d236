from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from examples.fraud.make_data import write, write_large
from lifecycle.api import validate_one

from ..conftest import ROOT


def test_fraud_data_meets_the_spec_contract(tmp_path: Path) -> None:
    train, evaluation = write(tmp_path, rows=2000)
    spec = validate_one(ROOT / "specs" / "fraud.yaml").spec
    assert spec is not None
    contract = spec.data.contract
    for path in (train, evaluation):
        table = pq.read_table(path)
        assert set(table.column_names) == set(contract.features) | {contract.label}
        for name, feature in contract.features.items():
            column = table.column(name).to_pylist()
            assert None not in column
            if feature.min is not None:
                assert min(column) >= feature.min
            if feature.max is not None:
                assert max(column) <= feature.max
            if feature.categories is not None:
                assert set(column) <= set(feature.categories)
    labels = pq.read_table(train).column("is_fraud").to_pylist()
    assert 0.02 < sum(labels) / len(labels) < 0.3


def test_a_large_source_holds_exactly_the_violations_planted(tmp_path: Path) -> None:
    from lifecycle.execute.contract import check_contract

    planted = {"amount_below_min": 31, "hour_above_max": 7, "channel_outside": 13,
               "merchant_risk_null": 5}
    write_large(tmp_path / "big.parquet", 25_000, planted, chunk=10_000)
    plan_contract = validate_one(ROOT / "specs" / "fraud.yaml").plan.stage(  # type: ignore[union-attr]
        "data").contract
    found = {(v.column, v.rule): v.offending for v in check_contract(
        pq.read_table(tmp_path / "big.parquet"), plan_contract, "d")}
    assert found == {("amount", "min 0"): 31, ("hour", "max 23"): 7,
                     ("channel", "categories"): 13,
                     ("merchant_risk", "max_null_fraction 0"): 5}
    assert pq.ParquetFile(tmp_path / "big.parquet").metadata.num_rows == 25_000
