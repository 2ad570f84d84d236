"""MLflow: one parent run per `lifecycle run`, a nested run per stage; lineage tags on
runs and the model; the registry with aliases; the champion's scores for regression
gates."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..plan import Plan
from ..plan.approvals import APPROVALS_TAG, version_tags
from ..runtime.contract import RunStatus, Source

# a run's or stage's status -> MLflow's; anything else (interrupted, stopped) is KILLED
MLFLOW_STATUS = {RunStatus.SUCCEEDED.value: "FINISHED", RunStatus.FAILED.value: "FAILED"}


def lineage_tags(plan: Plan, run_id: str, spec_path: str, source: Source) -> dict[str, str]:
    """The `lifecycle.*` tags of the run, its stage runs, the logged model and the
    registered version (MLflow tags are strings)."""
    dirty = "" if source.git_dirty is None else str(source.git_dirty).lower()
    return {"plan_hash": plan.plan_hash, "spec_path": spec_path,
            "git_commit": source.git_commit or "", "git_dirty": dirty,
            "policy_bundle": f"{plan.policy.bundle}@{plan.policy.bundle_hash[:12]}",
            "approvals": _approvals(plan),
            # every command-line override, and the protected keys they changed
            "overrides": json.dumps(plan.overrides)[:5000],
            "protected_overrides": json.dumps(plan.protected_overrides),
            "lifecycle_run_id": run_id}


def _approvals(plan: Plan) -> str:
    """The approvals that counted (signer, role, ticket, expiry, key fingerprint)."""
    if plan.approvals is None:
        return json.dumps(plan.spec.get("approvals", []))
    return version_tags(None, plan.approvals.counted)[APPROVALS_TAG]


class Tracking:
    def __init__(self, uri: str, plan: Plan, run_id: str, spec_path: str, root: str,
                 source: Source) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        if uri.startswith("sqlite:///"):
            os.makedirs(os.path.dirname(uri[len("sqlite:///"):]), exist_ok=True)
        mlflow.set_tracking_uri(uri)
        self.mlflow = mlflow
        self.uri = uri
        self.client = MlflowClient(uri)
        self.plan = plan
        self.root = root
        self.lineage = lineage_tags(plan, run_id, spec_path, source)
        exp = self.client.get_experiment_by_name(plan.name)
        # With a sqlite store MLflow would put artifacts in ./mlruns of whatever folder the
        # run started in: keep them beside the database instead.
        location = None
        if uri.startswith("sqlite:///"):
            location = "file://" + os.path.join(
                os.path.dirname(uri[len("sqlite:///"):]), "mlartifacts", plan.name)
        self.experiment_id = exp.experiment_id if exp else self.client.create_experiment(
            plan.name, artifact_location=location)
        parent = self.client.create_run(self.experiment_id, run_name=f"lifecycle-{run_id}",
                                        tags={f"lifecycle.{k}": v for k, v in
                                              self.lineage.items()})
        self.parent_id = parent.info.run_id
        self.stage_runs: dict[str, str] = {}
        self.ended: set[str] = set()

    def stage_run(self, stage: str) -> str:
        if stage not in self.stage_runs:
            run = self.client.create_run(self.experiment_id, run_name=stage, tags={
                "mlflow.parentRunId": self.parent_id, "lifecycle.stage": stage,
                **{f"lifecycle.{k}": v for k, v in self.lineage.items()}})
            self.stage_runs[stage] = run.info.run_id
        return self.stage_runs[stage]

    def set_dataset_digest(self, digest: str) -> None:
        self.lineage["dataset_digest"] = digest
        self.client.set_tag(self.parent_id, "lifecycle.dataset_digest", digest)

    def log_stage_metrics(self, stage: str, metrics: dict[str, Any],
                          params: dict[str, Any] | None = None) -> None:
        from mlflow.entities import Metric, Param

        run_id = self.stage_run(stage)
        ms = [Metric(k, float(v), 0, 0) for k, v in metrics.items()
              if isinstance(v, (int, float)) and not isinstance(v, bool)]
        ps = [Param(k, str(v)[:500]) for k, v in (params or {}).items()]
        self.client.log_batch(run_id, metrics=ms, params=ps)
        parent = [Metric(f"{stage}.{m.key}", m.value, 0, 0) for m in ms]
        if parent:
            self.client.log_batch(self.parent_id, metrics=parent)

    def log_artifact(self, stage: str, path: str) -> None:
        if os.path.exists(path):
            self.client.log_artifact(self.stage_run(stage), path)

    def end_stage(self, stage: str, status: str) -> None:
        if stage in self.stage_runs and stage not in self.ended:
            self.client.set_terminated(self.stage_runs[stage],
                                       MLFLOW_STATUS.get(str(status), "KILLED"))
            self.ended.add(stage)

    def finish(self, status: RunStatus) -> None:
        """The parent run and any stage run still open end as the run did (an interrupted
        or stopped run is KILLED in MLflow)."""
        for stage in list(self.stage_runs):
            self.end_stage(stage, status.value)
        self.client.set_terminated(self.parent_id, MLFLOW_STATUS.get(status.value, "KILLED"))

    def model_name(self) -> str | None:
        for s in self.plan.stages:
            if s.kind == "register":
                return str(s.model)
        return None

    def champion_scorer(self) -> tuple[str, Any] | None:
        """The champion's version and a scorer of pyarrow tables (loaded once, called
        per batch), or None when there is no champion yet."""
        name = self.model_name()
        if name is None:
            return None
        from mlflow.exceptions import MlflowException

        try:
            version = self.client.get_model_version_by_alias(name, "champion")
        except MlflowException:
            return None
        model = self.mlflow.pyfunc.load_model(f"models:/{name}@champion")
        return str(version.version), lambda table: model.predict(table.to_pandas())

    def register(self, checkpoint: str, entrypoint: str, framework: str, model: str,
                 alias: str, tags: dict[str, str], card: str) -> dict[str, Any]:
        """Log the pyfunc model, register a version, set alias and tags, attach the card.
        If anything after creating the version fails, the version is deleted again: no
        half-registered model is left behind."""
        import numpy
        import pyarrow

        from ..runtime.pyfunc import LifecycleModel

        run_id = self.stage_run("register")
        requirements = [f"numpy=={numpy.__version__}", f"pyarrow=={pyarrow.__version__}"]
        if framework == "torch":
            import torch

            requirements.append(f"torch=={torch.__version__.split('+')[0]}")
        with tempfile.TemporaryDirectory() as tmp:
            code = self._copy_code(entrypoint, tmp)
            card_path = Path(tmp) / "model_card.md"
            card_path.write_text(card)
            with self.mlflow.start_run(run_id=run_id):
                info = self.mlflow.pyfunc.log_model(
                    name="model", python_model=LifecycleModel(),
                    artifacts={"checkpoint": checkpoint, "model_card": str(card_path)},
                    model_config={"entrypoint": entrypoint}, code_paths=[code],
                    pip_requirements=requirements)
            self.client.log_artifact(run_id, str(card_path))
            self.client.log_artifact(self.parent_id, str(card_path))
        try:
            self.client.set_logged_model_tags(info.model_id, {
                f"lifecycle.{k}": v for k, v in self.lineage.items()})
        except Exception:  # older servers without LoggedModel tags: run tags still hold it
            pass
        if self.client.search_registered_models(filter_string=f"name='{model}'") == []:
            self.client.create_registered_model(model)
        # an MLflow server checks that a `models:/m-...` source names its logged model
        version = self.client.create_model_version(model, info.model_uri, run_id=run_id,
                                                   description=card, model_id=info.model_id)
        try:
            for k, v in {**{f"lifecycle.{k}": v for k, v in self.lineage.items()},
                         **tags}.items():
                self.client.set_model_version_tag(model, version.version, k, v)
            self.client.set_registered_model_alias(model, alias, version.version)
        except Exception:
            self.client.delete_model_version(model, version.version)
            raise
        return {"model": model, "version": str(version.version), "alias": alias,
                "model_uri": f"models:/{model}/{version.version}", "run_id": run_id}

    def _copy_code(self, entrypoint: str, tmp: str) -> str:
        """Only the entrypoint's top-level package's Python files travel with the model."""
        top = entrypoint.split(":")[0].split(".")[0]
        src = Path(self.root) / top
        dest = Path(tmp) / "code" / top
        if src.is_dir():
            for f in src.rglob("*.py"):
                target = dest / f.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, target)
        elif (Path(self.root) / f"{top}.py").is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(self.root) / f"{top}.py", dest.parent / f"{top}.py")
        return str(dest if src.is_dir() else dest.parent / f"{top}.py")
