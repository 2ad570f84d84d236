"""data: check every source against the contract, learn the features' statistics and
categories, and digest the data — in bounded memory, whatever the sources' size: one
stream of record batches on the driver, or Ray Data tasks across the cluster above
`datasets.distributed_bytes()` (docs/cluster.md). Each source's exact counts, size,
engine, seconds and digest kind are journaled with the stage's outputs."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from ...errors import ExitCode
from ...plan import DataStage
from ..context import StageContext, StageFailed
from ..contract import ContractTally, NotATimeColumn, open_source, tally_source
from ..datasets import distributed_bytes, tally_with_ray_data
from ..digest import digest_source


def _read(source: dict[str, Any], contract: dict[str, Any],
          root: str) -> tuple[ContractTally, dict[str, Any]]:
    t0 = time.perf_counter()
    opened = open_source(source, root)
    tally: ContractTally | None = None
    engine = "stream"
    if opened.bytes > distributed_bytes():
        tally = tally_with_ray_data(opened, source, ContractTally.start(
            contract, opened.dataset.schema, source.get("columns")))
        engine = "ray-data" if tally is not None else engine
    if tally is None:
        tally = tally_source(opened, source, contract)
    checked = time.perf_counter()
    digest = digest_source(opened, str(source["path"]))
    profile = {"bytes": opened.bytes, "files": len(opened.files), "engine": engine,
               "digest": digest.value + (f"@since={source['since']:.3f}"
                                         if "since" in source else ""),
               "digest_kind": digest.kind, "check_seconds": round(checked - t0, 3),
               "digest_seconds": round(time.perf_counter() - checked, 3),
               **tally.counts()}
    return tally, profile


def run(stage: DataStage, ctx: StageContext) -> dict[str, Any]:
    violations = []
    profiles: dict[str, dict[str, Any]] = {}
    train: ContractTally | None = None
    sources = dict(stage.sources)
    recent = ctx.options.recent_data_s
    if recent is not None and sources["train"].get("time_column"):
        # a retrain on recent data: every later reader (train, tune, monitor) sees the
        # same rows, because the filter travels with the source
        sources["train"] = {**sources["train"], "since": time.time() - recent}
    for role, source in sources.items():
        try:
            tally, profiles[role] = _read(source, stage.contract, ctx.root)
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
        violations.extend(tally.violations(f"data.{role}"))
        if role == "train":
            train = tally
    if violations:
        raise StageFailed(
            f"the data breaks its contract ({len(violations)} violation(s)):\n  "
            + "\n  ".join(v.format() for v in violations), ExitCode.POLICY,
            hint="fix the data, or the contract in data.contract if the data is right",
            details={"violations": [v.__dict__ for v in violations], "sources": profiles})
    assert train is not None
    digests = {role: p["digest"] for role, p in profiles.items()}
    combined = hashlib.sha256("".join(f"{r}:{d}" for r, d in sorted(digests.items()))
                              .encode()).hexdigest()
    return {"digest": combined, "digests": digests, "read_at": time.time(),
            "rows": {role: p["rows"] for role, p in profiles.items()},
            "profile": profiles, "info": train.feature_info(), "sources": sources,
            **({"since": sources["train"]["since"]} if "since" in sources["train"] else {})}
