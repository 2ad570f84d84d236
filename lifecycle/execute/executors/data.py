"""data: read every source with pyarrow, check the contract, digest the bytes."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from ...errors import ExitCode
from ...plan import DataStage
from ..context import StageContext, StageFailed
from ..contract import NotATimeColumn, check_contract, digest_files, feature_info, read_table


def run(stage: DataStage, ctx: StageContext) -> dict[str, Any]:
    violations = []
    rows: dict[str, int] = {}
    digests: dict[str, str] = {}
    train_table = None
    sources = dict(stage.sources)
    recent = ctx.options.recent_data_s
    if recent is not None and sources["train"].get("time_column"):
        # a retrain on recent data: every later reader (train, tune, monitor) sees the
        # same rows, because the filter travels with the source
        sources["train"] = {**sources["train"], "since": time.time() - recent}
    for role, source in sources.items():
        try:
            table = read_table(source, ctx.root)
        except NotATimeColumn as exc:
            raise StageFailed(f"data.{role}: {exc}", ExitCode.INVALID_INPUT,
                              hint="fix data.time_column, or remove the monitor's "
                              "retrain.recent_data") from None
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
        digests[role] = digest_files(source, ctx.root) + (
            f"@since={source['since']:.3f}" if "since" in source else "")
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
    return {"digest": combined, "digests": digests, "rows": rows, "read_at": time.time(),
            "info": feature_info(train_table, stage.contract), "sources": sources,
            **({"since": sources["train"]["since"]} if "since" in sources["train"] else {})}
