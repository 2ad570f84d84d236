"""monitor: fit each spec monitor's alibi-detect detector on a seeded sample of the
training data (encoded as the spec says), save it with alibi-detect's saving plus a
manifest of sha256 hashes, check that the saved copy predicts what the fitted one does,
and log it to MLflow next to the model version it watches (`monitors/<name>/` on the
version's run). The deploy stage hands the saved detectors to the Monitor deployment."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from ...errors import ExitCode
from ...plan import MonitorStage
from ..context import StageContext, StageFailed
from ..contract import read_table


def run(stage: MonitorStage, ctx: StageContext) -> dict[str, Any]:
    from ...runtime.monitor import detectors
    from ...runtime.monitor.encode import Encoder

    data = ctx.upstream["data"]
    train = read_table(data["sources"]["train"], ctx.root)
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
        x_ref = detectors.reference_sample(train.select(m.features).to_pydict(), encoder,
                                           m.reference_size)
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
    import numpy as np

    from ...runtime.entrypoint import resolve
    from ...runtime.monitor.quality import Calibration

    data = ctx.upstream["data"]
    table = read_table(data["sources"].get("eval") or data["sources"]["train"], ctx.root)
    labels = table.column(data["info"]["label"]).to_numpy(zero_copy_only=False)
    producer, candidate = ctx.producer()
    scores = np.asarray(resolve(producer.train.entrypoint, "predict")(
        candidate["checkpoint"], table), dtype=float).ravel()
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
