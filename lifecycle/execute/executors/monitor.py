"""monitor: fit each spec monitor's alibi-detect detector on a seeded sample of the
reference data (data.reference, else the training data; encoded as the spec says), save
it with alibi-detect's saving plus a manifest of sha256 hashes, check that the saved copy
predicts what the fitted one does, and log it to MLflow next to the model version it
watches (`monitors/<name>/` on the version's run). The deploy stage hands the saved
detectors to the Monitor deployment. On a remote store the detector folders are copied
into the run's folder there too (`stored`), where `lifecycle monitor report` reads them.

The reference is sampled from a stream of record batches (`datasets.BottomK`): the
driver holds the sample and one batch, whatever the source's size."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

from ...errors import ExitCode
from ...plan import MonitorStage
from ..context import StageContext, StageFailed
from ..contract import open_source, scan
from ..datasets import BottomK


def reference_sample(source: dict[str, Any], root: str, encoder: Any, size: int,
                     seed: int) -> np.ndarray:
    """`size` complete rows (no missing value once encoded) drawn uniformly from the
    source, in the source's order."""
    sampler = BottomK(size, seed)
    for batch in scan(open_source(source, root), source, columns=list(encoder.features)):
        positions, keys = sampler.offer(batch.num_rows)
        if not len(positions):
            continue
        rows = encoder.columns_of(batch.take(positions).to_pydict())
        complete = ~np.isnan(rows).any(axis=1)
        sampler.add(positions[complete], keys[complete], rows[complete])
    return sampler.sample(len(encoder.columns))


def run(stage: MonitorStage, ctx: StageContext) -> dict[str, Any]:
    from ...runtime.monitor import detectors
    from ...runtime.monitor.encode import Encoder

    data = ctx.upstream["data"]
    reference = data["sources"].get("reference") or data["sources"]["train"]
    base = ctx.artifacts_dir("monitor") if ctx.store.is_local else tempfile.mkdtemp()
    registered = ctx.upstream.get("register") or {}
    out: dict[str, Any] = {}
    for m in stage.monitors:
        if m.kind == "quality":  # no detector: labels judge it; an estimate is calibrated
            out[m.name] = _quality(m, ctx)
            continue
        params = m.model_dump(mode="json")
        encoder = Encoder.of(m.features, data["info"],
                             str(m.preprocess.get("categorical_encoding", "ordinal")))
        x_ref = reference_sample(reference, ctx.root, encoder, m.reference_size,
                                 detectors.SEED)
        if len(x_ref) < min(m.reference_size, 10):
            raise StageFailed(f"monitors[{m.name}]: only {len(x_ref)} complete reference "
                              "rows in the training data", ExitCode.INVALID_INPUT,
                              hint="the reference needs rows without missing values in the "
                              "watched features")
        try:
            fitted = detectors.fit(params, encoder, x_ref)
        except ValueError as exc:
            raise StageFailed(f"monitors[{m.name}]: {exc}", ExitCode.INVALID_INPUT) from exc
        folder = os.path.join(base, m.name)
        saved = detectors.save(fitted, folder, x_ref)
        probe = _check_reload(fitted, detectors.load(folder, saved["manifest_sha256"]), m.name)
        entry: dict[str, Any] = {"detector": m.detector, "features": m.features,
                                 "reference_rows": len(x_ref), "probe": probe, **saved}
        if not ctx.store.is_local:
            entry["stored"] = ctx.store.upload_dir(
                folder, f"runs/{ctx.run_id}/artifacts/monitor/{m.name}")
        if ctx.tracking is not None and registered.get("run_id"):
            client = ctx.tracking.client
            client.log_artifacts(registered["run_id"], folder, f"monitors/{m.name}")
            entry["artifact_uri"] = (f"runs:/{registered['run_id']}/monitors/{m.name}")
            client.set_model_version_tag(registered["model"], registered["version"],
                                         f"lifecycle.monitor.{m.name}", m.detector)
        out[m.name] = entry
    return {"monitors": out}


def _quality(m: Any, ctx: StageContext) -> dict[str, Any]:
    """A quality monitor's calibration (for its estimate while labels lag): the candidate's
    scores on the evaluation data against the labels, fitted isotonic (score ->
    probability of the positive class)."""
    assert m.quality is not None
    if not m.quality.estimate:
        return {"detector": "quality"}

    from ...runtime.entrypoint import resolve
    from ...runtime.monitor.quality import Calibration
    from .evaluate import score_source

    data = ctx.upstream["data"]
    producer, candidate = ctx.producer()
    predict = resolve(producer.train.entrypoint, "predict")
    checkpoint = ctx.local_checkpoint(candidate["checkpoint"])
    # batch by batch, as evaluate scores: the driver holds scores and labels only
    labels, [scores] = score_source(data["sources"].get("eval") or data["sources"]["train"],
                                    ctx.root, data["info"]["label"],
                                    [lambda table: predict(checkpoint, table)])
    if len(set(labels.tolist())) != 2:
        raise StageFailed(f"monitors[{m.name}]: the estimate needs a binary label (the "
                          f"evaluation data has {len(set(labels.tolist()))} classes)",
                          ExitCode.INVALID_INPUT, hint="remove estimate: true")
    c = Calibration.fit(scores.tolist(), labels.astype(float).tolist())
    return {"detector": "quality", "calibration": {"x": list(c.x), "y": list(c.y)},
            "calibration_rows": len(scores)}


def _check_reload(fitted: Any, loaded: Any, name: str) -> dict[str, Any]:
    """The saved detector must decide as the fitted one does (NOTES.md: one detector's
    reload once did not). The probe is recorded: every Serve replica that loads the
    detector checks it gets the same answer."""
    from ...runtime.monitor import detectors

    expected = detectors.probe(fitted)
    differs = detectors.probe_differs(expected, detectors.probe(loaded))
    if differs:
        raise StageFailed(f"monitors[{name}]: the saved detector decides differently from "
                          f"the fitted one ({differs})", ExitCode.RUNTIME,
                          hint="report this: the detector cannot be shipped to serving")
    return expected
