"""data: read every source with pyarrow, check the contract, digest the bytes."""

from __future__ import annotations

import hashlib
from typing import Any

from ...errors import ExitCode
from ...plan import DataStage
from ..context import StageContext, StageFailed
from ..contract import check_contract, digest_files, feature_info, read_table


def run(stage: DataStage, ctx: StageContext) -> dict[str, Any]:
    violations = []
    rows: dict[str, int] = {}
    digests: dict[str, str] = {}
    train_table = None
    for role, source in stage.sources.items():
        try:
            table = read_table(source, ctx.root)
        except FileNotFoundError:
            raise StageFailed(f"data.{role}.path: {source['path']} does not exist",
                              ExitCode.INVALID_INPUT,
                              hint="create the data (for the example: python -m "
                              "examples.fraud.make_data) or fix the path") from None
        except Exception as exc:  # unreadable or not of the declared format
            raise StageFailed(f"data.{role}.path: cannot read {source['path']}: "
                              f"{type(exc).__name__}: {exc}", ExitCode.INVALID_INPUT,
                              hint="check the file and data.<role>.format") from None
        rows[role] = table.num_rows
        violations.extend(check_contract(table, stage.contract, f"data.{role}"))
        digests[role] = digest_files(source, ctx.root)
        if role == "train":
            train_table = table
    if violations:
        raise StageFailed(
            f"the data breaks its contract ({len(violations)} violation(s)):\n  "
            + "\n  ".join(v.format() for v in violations), ExitCode.POLICY,
            hint="fix the data, or the contract in data.contract if the data is right",
            details={"violations": [v.__dict__ for v in violations]})
    assert train_table is not None
    combined = hashlib.sha256("".join(f"{r}:{d}" for r, d in sorted(digests.items()))
                              .encode()).hexdigest()
    return {"digest": combined, "digests": digests, "rows": rows,
            "info": feature_info(train_table, stage.contract), "sources": stage.sources}
