"""The retrain action: a new run of the stored plan, submitted by the Monitor as a Ray Job
(`lifecycle run-plan`, the path `lifecycle run --address` takes). It goes through every
stage again (data read afresh — with `recent_data`, only the rows that recent by
`data.time_column` — training forced, the same evaluation gates, a new registered
version, and the same canary and gates when it deploys), so a retrained model is held to
the bar the first one was. The new run's journal records why it started (the monitor,
its reason and the earlier retrains its brakes were judged on). The monitor's limiter
decides whether it may start; this module only submits it."""

from __future__ import annotations

import json

from ...store import Store
from ..contract import JOB_ENV, RETRAIN_ENV, SOURCE_ENV, JobRef, RetrainConfig, RetrainRequest
from ..jobs import jobs_address, submit_plan


def submission_id(run_id: str) -> str:
    return f"lifecycle-retrain-{run_id}"


def start(config: RetrainConfig, request: RetrainRequest) -> str:
    """Submit the run; returns its Ray Job id (the run journals itself)."""
    from ray.job_submission import JobSubmissionClient

    plan = Store(config.store).read_json(config.plan)
    if plan is None:
        raise FileNotFoundError(f"the plan to retrain from is gone: {config.store}/"
                                f"{config.plan}")
    args = ["--store", config.store, "--spec-path", config.spec_path, "--force",
            "--run-id", request.run_id]
    if config.tracking_uri:
        args += ["--tracking-uri", config.tracking_uri]
    address = jobs_address()
    job = JobRef(id=submission_id(request.run_id), address=address)
    env = {RETRAIN_ENV: request.model_dump_json(), JOB_ENV: job.model_dump_json()}
    if config.source is not None:
        env[SOURCE_ENV] = config.source.model_dump_json()
    if config.serve_host:
        env["LIFECYCLE_SERVE_HOST"] = config.serve_host
    if config.serve_port:
        env["LIFECYCLE_SERVE_PORT"] = str(config.serve_port)
    return submit_plan(JobSubmissionClient(address), json.dumps(plan), args,
                       config.project, env, submission_id=job.id,
                       local_project=config.project_is_local)
