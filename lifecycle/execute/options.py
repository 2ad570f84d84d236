"""What a run needs besides the plan: where to keep state, where to track, which Ray."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, Location, Problem
from ..runtime.contract import RETRAIN_ENV, SOURCE_ENV, RetrainRequest, Source
from ..store.fs import inline_credentials, redacted


@dataclass
class RunOptions:
    project_root: Path = field(default_factory=Path.cwd)
    store: str | None = None  # local folder or pyarrow.fs URI; default <root>/.lifecycle
    tracking_uri: str | None = None  # default: sqlite in the store (local stores only)
    address: str | None = None  # an existing cluster: the plan is submitted as a Ray Job
    force: bool = False  # redo stages even when their content hash is unchanged
    spec_path: str = ""
    ray_init: dict[str, Any] = field(default_factory=dict)  # extra ray.init kwargs (tests)
    show_progress: bool = True
    verbose: bool = False  # stream Ray's and Tune's output instead of only logging it
    wait: bool = False  # follow a rollout to its end instead of returning once it is live
    serve_host: str | None = None  # default: the plan's http_options (or LIFECYCLE_SERVE_HOST)
    serve_port: int | None = None  # default: the plan's http_options (or LIFECYCLE_SERVE_PORT)
    serve_timeout_s: float = 300.0  # how long a deploy may take to be RUNNING
    retrain: RetrainRequest | None = None  # a monitor's retrain: why, and on what rows
    run_id: str | None = None  # given by whoever submitted the run (a retrain, a client)
    source: Source | None = None  # the code's commit, as the submitting machine saw it

    @property
    def submits_job(self) -> bool:
        """`run` submits the plan as a Ray Job when the address (`--address`, else
        RAY_ADDRESS) is a dashboard URL; `auto` or a GCS address (HOST:6379) runs the
        driver here, attached to that cluster (so serving outlives the command). A
        ray:// address goes the Jobs way too, to be refused with the fix."""
        address = self.address or os.environ.get("RAY_ADDRESS") or ""
        return address.startswith(("http://", "https://", "ray://"))

    @property
    def trigger(self) -> str | None:
        """Why this run started, when not by a person."""
        return None if self.retrain is None else f"retrain: {self.retrain.reason}"

    @property
    def recent_data_s(self) -> float | None:
        return None if self.retrain is None else self.retrain.recent_data_s

    @staticmethod
    def retrain_from_env() -> RetrainRequest | None:
        text = os.environ.get(RETRAIN_ENV)
        return None if not text else RetrainRequest.model_validate_json(text)

    @staticmethod
    def source_from_env() -> Source | None:
        text = os.environ.get(SOURCE_ENV)
        return None if not text else Source.model_validate_json(text)

    def resolved_source(self) -> Source:
        """Where the code came from: given by the submitter (a Ray Job's working dir has
        no .git), else read from the project's repository here."""
        if self.source is not None:
            return self.source
        from .provenance import git_source

        return git_source(str(self.project_root))

    def serve_http(self, serve_config: dict[str, Any]) -> tuple[str, int]:
        plan = serve_config.get("http_options") or {}
        host = self.serve_host or os.environ.get("LIFECYCLE_SERVE_HOST") or plan.get(
            "host", "127.0.0.1")
        port = self.serve_port or int(os.environ.get("LIFECYCLE_SERVE_PORT") or plan.get(
            "port", 8000))
        return str(host), int(port)

    def resolved_store(self) -> str:
        store = self.store or os.environ.get("LIFECYCLE_STORE") or str(
            self.project_root / ".lifecycle")
        if "://" not in store:
            store = str(Path(store).resolve())
        return _without_credentials(store, "--store",
                                    "?access_key=secret://NAME&secret_key=secret://NAME")

    def resolved_tracking_uri(self) -> str:
        uri = self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if uri:
            return _without_credentials(uri, "--tracking-uri", "MLFLOW_TRACKING_USERNAME / "
                                        "MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)")
        store = self.resolved_store()
        if "://" in store:
            raise InputError.one("store.tracking-uri", f"the store {store} is remote: MLflow "
                                 "needs a tracking server, not a file in it",
                                 Location(origin="--store"), hint="pass --tracking-uri "
                                 "http://mlflow:5000 (or set MLFLOW_TRACKING_URI)")
        return f"sqlite:///{store}/mlflow.db"


def _without_credentials(location: str, flag: str, instead: str) -> str:
    """A location goes into plans, journals, job arguments and logs: a plain-text
    credential in it is refused before anything runs."""
    found = inline_credentials(location)
    if not found:
        return location
    loc = Location(origin=flag)
    message = f"{flag} {redacted(location)} holds a credential in plain text ({', '.join(found)})"
    hint = (f"take it from the environment (e.g. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) "
            f"or use {instead}: locations are written to the run's journal and logs")
    raise InputError(message, location=loc, hint=hint,
                     problems=(Problem("run.credentials", message, "", loc, hint),))
