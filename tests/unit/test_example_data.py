from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from examples.fraud.make_data import write
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
