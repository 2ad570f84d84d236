"""Walking the plan's DAG: each stage is run by its executor, journaled before and after,
and skipped when a stage with the same key already succeeded (like a build system).

A stage's key is its content hash (from the plan) plus the fingerprints of what its
upstream stages produced (the data digest, a checkpoint): change the data or the code's
inputs and everything downstream runs again; change nothing and a rerun — or a run
restarted after a kill — redoes nothing that finished. The data stage always re-reads
and re-digests its sources (cheap), so changed data is never mistaken for old data.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Callable
from typing import Any

from ..errors import ExitCode
from ..load.platform import today
from ..plan import Plan, content_hash
from ..runtime.contract import JOB_ENV, JobRef, RunStatus
from ..store import Journal, Store, new_run_id
from .context import StageContext, StageFailed
from .endings import RunStopped, ending_of, stop_signals
from .executors import retire
from .options import RunOptions
from .result import RunResult, StageOutcome

# stages about live state: always redone (a cached "deployed" says nothing about now)
LIVE = {"data", "deploy", "rollout", "retire"}
SERVING = {"deploy", "rollout"}
EPHEMERAL_SERVING = ("serving needs a Ray that outlives this command: start one (`ray start "
                     "--head`) and run with RAY_ADDRESS=auto, or pass --wait to serve here "
                     "until the rollout ends")


def _fingerprint(outputs: dict[str, Any]) -> Any:
    keys = ("digest", "checkpoint", "version", "metrics")
    return {k: outputs.get(k) for k in keys if k in outputs}


def stage_key(stage: Any, upstream: dict[str, dict[str, Any]]) -> str:
    return content_hash({"stage": stage.content_hash,
                         "inputs": {d: _fingerprint(upstream.get(d, {}))
                                    for d in sorted(stage.depends_on)}})


def run_plan(plan: Plan, options: RunOptions,
             on_event: Callable[[str, dict[str, Any]], None] | None = None,
             run_id: str | None = None) -> RunResult:
    """Walk the plan. Every ending is journaled as what it was (`endings`): a stop signal
    or Ctrl-C returns the result with its status and exit code (143, 130), an error
    outside any stage is a failed run; neither is ever recorded as a success."""
    from .connection import start_local
    from .executors import registry
    from .tracking import Tracking

    emit = on_event or (lambda _e, _f: None)
    store = Store(options.resolved_store())
    tracking_uri = options.resolved_tracking_uri()  # a credential in it: refused before the run
    run_id = run_id or options.run_id or new_run_id()
    journal = Journal(store, run_id)
    result = RunResult(run_id=run_id, plan_hash=plan.plan_hash)
    source = options.resolved_source()
    journal.append("run_started", plan_hash=plan.plan_hash, spec=plan.name,
                   spec_path=options.spec_path, pid=os.getpid(), host=socket.gethostname(),
                   stages=[s.id for s in plan.stages], overrides=plan.overrides,
                   protected_overrides=plan.protected_overrides,
                   source=source.model_dump(mode="json"),
                   **({"ray_job": JobRef.model_validate_json(os.environ[JOB_ENV]).model_dump()}
                      if os.environ.get(JOB_ENV) else {}),
                   **({"trigger": options.trigger,
                       "retrain": options.retrain.model_dump(mode="json")}
                      if options.retrain is not None else {}))
    store.write_json(f"runs/{run_id}/plan.json", plan.model_dump(mode="json"))
    executors = registry()
    started_ray = ""
    tracking = None
    walking: list[str] = []  # the stage in progress, if any
    with stop_signals() as signals:
        try:
            started_ray = start_local(plan, options)
            signals.install()  # ray.init put its own SIGTERM handler (sys.exit) in place
            tracking = Tracking(tracking_uri, plan, run_id,
                                options.spec_path, str(options.project_root), source)
            result.mlflow_run_id = tracking.parent_id
            result.tracking_uri = tracking.uri
            journal.append("tracking", mlflow_run_id=tracking.parent_id,
                           tracking_uri=tracking.uri)
            ctx = StageContext(plan=plan, options=options, store=store, run_id=run_id,
                               root=str(options.project_root), tracking=tracking,
                               ephemeral_ray=started_ray == "local", emit=emit)
            _walk(plan, ctx, executors, journal, result, walking)
            result.status = RunStatus.SUCCEEDED if result.exit_code == ExitCode.OK \
                else RunStatus.FAILED
        except BaseException as exc:  # every ending is recorded as what it was
            ending = ending_of(exc)
            result.status, result.exit_code = ending.status, ending.exit_code
            result.message = ending.message
            done = {s.stage for s in result.stages}
            for stage in plan.stages:
                if stage.id not in done:
                    status = ending.status.value if stage.id in walking else "not_run"
                    result.stages.append(StageOutcome(stage.id, status))
            if ending.status == RunStatus.FAILED:
                journal.append("run_error", message=ending.message,
                               traceback=traceback.format_exc())
                if os.environ.get("LIFECYCLE_FULL_ERROR") == "1":
                    traceback.print_exc()
            emit("run_ended", {"status": ending.status.value, "message": ending.message})
        finally:
            journal.append("run_finished", exit_code=int(result.exit_code),
                           status=result.status.value, message=result.message)
            if tracking is not None:
                try:
                    tracking.finish(result.status)
                except Exception:  # the journal holds the ending; MLflow may be why it failed
                    pass
            if started_ray:
                import ray

                ray.shutdown()
    return result


def _walk(plan: Plan, ctx: StageContext, executors: dict[str, Any], journal: Journal,
          result: RunResult, walking: list[str]) -> None:
    options, emit = ctx.options, ctx.emit
    retired = retire.due(plan, today())  # past retirement.after: retire, renew nothing

    def aside(stage: Any, status: str, message: str) -> None:
        outcome = StageOutcome(stage.id, status, message=message)
        journal.append(f"stage_{status}", stage=stage.id, message=message)
        result.stages.append(outcome)
        emit(f"stage_{status}", {"stage": stage.id, "message": message})

    for stage in plan.stages:
        if result.exit_code != ExitCode.OK:
            result.stages.append(StageOutcome(stage.id, "not_run"))
            continue
        if retired is not None and stage.kind != "retire":
            aside(stage, "not_run", f"retired: retirement.after ({retired.after}) has "
                  "passed, so this run retires the spec instead of renewing it")
            continue
        if stage.kind == "retire" and retired is None:
            aside(stage, "scheduled", retire.scheduled(stage))
            continue
        if stage.kind in SERVING and ctx.ephemeral_ray and not options.wait:
            aside(stage, "not_run", EPHEMERAL_SERVING)
            continue
        walking[:] = [stage.id]
        back_in_working_dir()
        outcome = _run_stage(stage, ctx, executors[stage.kind], journal, ctx.store, options,
                             emit)
        walking.clear()
        result.stages.append(outcome)
        if outcome.status == "failed":
            result.exit_code = ExitCode(outcome.outputs.get("exit_code", ExitCode.RUNTIME))
            result.message = outcome.message
        else:
            ctx.upstream[stage.id] = outcome.outputs
            if stage.kind == "data" and ctx.tracking is not None:
                ctx.tracking.set_dataset_digest(outcome.outputs["digest"])


def back_in_working_dir() -> None:
    """A Ray Job's driver runs in the job's unpacked working_dir. A runtime-env agent
    that unpacks it again (nodes sharing one machine's Ray folder) deletes the folder
    under the driver, and a native library that asks for the working directory then
    fails: torch's MKL loader aborts the process. Back into the folder unpacked again
    at the same path (the shell that started the driver said which, in PWD)."""
    try:
        os.getcwd()
    except FileNotFoundError:
        again = os.environ.get("PWD", "")
        try:  # the folder it was in (Linux): PWD may be stale, started from elsewhere
            was = os.readlink("/proc/self/cwd").removesuffix(" (deleted)")
        except OSError:
            was = again
        if again and again == was and os.path.isdir(again):
            os.chdir(again)


def _run_stage(stage: Any, ctx: StageContext, executor: Callable[..., dict[str, Any]],
               journal: Journal, store: Store, options: RunOptions,
               emit: Callable[[str, dict[str, Any]], None]) -> StageOutcome:
    key = stage_key(stage, ctx.upstream)
    cache_rel = f"stages/{ctx.plan.name}/{stage.id}/{key}.json"
    if not options.force and stage.kind not in LIVE:
        cached = store.read_json(cache_rel)
        if cached is not None:
            journal.append("stage_skipped", stage=stage.id, key=key,
                           reason="unchanged since run " + str(cached.get("run_id")),
                           outputs=cached["outputs"])
            emit("stage_skipped", {"stage": stage.id, "from_run": cached.get("run_id")})
            return StageOutcome(stage.id, "skipped", cached["outputs"],
                                message=f"unchanged since run {cached.get('run_id')}")
    journal.append("stage_started", stage=stage.id, key=key, content_hash=stage.content_hash)
    emit("stage_started", {"stage": stage.id})
    t0 = time.perf_counter()
    try:
        outputs = executor(stage, ctx)
    except StageFailed as exc:
        seconds = time.perf_counter() - t0
        journal.append("stage_failed", stage=stage.id, key=key, seconds=round(seconds, 3),
                       exit_code=int(exc.exit_code), message=exc.message, hint=exc.hint,
                       details=exc.details)
        if ctx.tracking is not None:
            if exc.details.get("metrics"):  # e.g. the values behind a failed gate
                ctx.tracking.log_stage_metrics(stage.id, exc.details["metrics"])
            ctx.tracking.end_stage(stage.id, "failed")
        emit("stage_failed", {"stage": stage.id, "message": exc.message, "hint": exc.hint})
        return StageOutcome(stage.id, "failed", {"exit_code": int(exc.exit_code),
                                                 **exc.details},
                            seconds, exc.message + (f" ({exc.hint})" if exc.hint else ""))
    except (KeyboardInterrupt, RunStopped, SystemExit) as exc:  # the run is ending
        ending = ending_of(exc)
        journal.append(f"stage_{ending.status.value}", stage=stage.id, key=key,
                       seconds=round(time.perf_counter() - t0, 3), message=ending.message)
        if ctx.tracking is not None:
            ctx.tracking.end_stage(stage.id, ending.status.value)
        emit(f"stage_{ending.status.value}", {"stage": stage.id})
        raise
    except Exception as exc:  # a bug or an engine failure: recorded, never half-done
        seconds = time.perf_counter() - t0
        message = f"{type(exc).__name__}: {exc}"
        journal.append("stage_failed", stage=stage.id, key=key, seconds=round(seconds, 3),
                       exit_code=int(ExitCode.RUNTIME), message=message,
                       traceback=traceback.format_exc())
        emit("stage_failed", {"stage": stage.id, "message": message, "hint": None})
        if os.environ.get("LIFECYCLE_FULL_ERROR") == "1":
            traceback.print_exc()
        return StageOutcome(stage.id, "failed", {"exit_code": int(ExitCode.RUNTIME)}, seconds,
                            message)
    seconds = time.perf_counter() - t0
    if stage.kind != "data":  # before the journal says so: a kill between the two must
        # leave a stage a rerun skips, never one the journal calls done and the cache lacks
        store.write_json(cache_rel, {"run_id": ctx.run_id, "outputs": outputs})
    journal.append("stage_succeeded", stage=stage.id, key=key, seconds=round(seconds, 3),
                   outputs=outputs)
    if ctx.tracking is not None:
        params = {}
        if stage.kind in ("train", "tune"):
            params = {k: v for k, v in stage.train.config.items()}
            params.update(outputs.get("best_config", {}))
        ctx.tracking.log_stage_metrics(stage.id, outputs.get("metrics", {}), params)
        for path in (outputs.get("artifacts") or {}).values():
            ctx.tracking.log_artifact(stage.id, path)
        ctx.tracking.end_stage(stage.id, "succeeded")
    emit("stage_succeeded", {"stage": stage.id, "seconds": seconds, "outputs": outputs})
    return StageOutcome(stage.id, "succeeded", outputs, seconds)

