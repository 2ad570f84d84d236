"""The library surface: what the CLI calls, and what users may call from Python.

    validate(paths, overrides)  -> list[Validation]   all problems of each spec
    validate_one(path, ...)     -> Validation         one spec, with its plan when valid
    compile_spec(path, ...)     -> Plan               raises InputError / PolicyError
    load_plan(path)             -> Plan               a compiled plan.json read back
    spec_schema()               -> dict               JSON Schema of the spec (for editors)
    run_spec(path, overrides, options, on_event) -> RunResult | ExitCode
    run_plan(plan, options, on_event)            -> RunResult
    run_log(options, on_output) -> RunLog             (context) the process's output in run.log
    run_log_location(options)   -> str                where a run's log is in the store
    run_status(options)         -> list[dict]         runs and stages from the journals
    approve(path, role, key, ...) -> Signed           sign an approval of the spec's plan
    stop_run(run_id, options)   -> dict               stop a run (its Ray Job or process)
    diff_files(old, new)        -> DiffReport         two specs or two compiled plans
    diff_git(rev, paths)        -> DiffReport         the working tree against a revision
    prometheus_rules(plan)      -> str                its SLOs as Prometheus rules (YAML)
    grafana_dashboard(plan)     -> dict               its Grafana dashboard (JSON model)
    serve_status / rollout_command / retire / rollout_simulate / monitor_report
                                                      operating a deployed application
    prediction_logs(spec, ...)  -> pyarrow.Table      the sampled prediction log
    feedback_file(spec, labels) -> BulkFeedback       late labels joined with the log
    served_history(spec, at)    -> dict               what served when (the journals)

A façade: each function is a call into the package that does the work (compile, diff,
load, execute), imported where it is used so `lifecycle validate` pays only for what it
runs. Only run_spec / run_plan and the operating commands import ray and mlflow, lazily,
through lifecycle.execute; RunOptions and RunResult are plain dataclasses and re-exported
here so callers never reach into lifecycle.execute. Signed (what approve returns) is
imported on first use, like the pipeline: answering `lifecycle validate` from its cache
loads none of the approval code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .compile.validation import Validation
from .errors import ExitCode, InputError, Location, Problem
from .execute.options import RunOptions
from .execute.result import RunResult
from .load import load_plan, plan_from_json
from .load.platform import Platform, policy_dirs, today

if TYPE_CHECKING:
    from .compile.approvals import Signed
    from .diff import DiffReport
    from .execute.runlog import RunLog
    from .plan import Plan

__all__ = [
    "Platform",
    "RunOptions",
    "RunResult",
    "Signed",
    "Validation",
    "approve",
    "compile_spec",
    "diff_files",
    "diff_git",
    "diff_schema",
    "feedback_file",
    "grafana_dashboard",
    "load_plan",
    "monitor_report",
    "plan_from_json",
    "policy_dirs",
    "prediction_logs",
    "prometheus_rules",
    "retire",
    "rollout_command",
    "rollout_simulate",
    "run_log",
    "run_log_location",
    "run_plan",
    "run_spec",
    "run_status",
    "serve_status",
    "served_history",
    "spec_schema",
    "stop_run",
    "today",
    "validate",
    "validate_one",
]


def __getattr__(name: str) -> object:
    """Signed on first use: its module loads the validate pipeline's approval step."""
    if name == "Signed":
        from .compile.approvals import Signed

        return Signed
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


OnEvent = Callable[[str, dict[str, Any]], None]
"""Receives each run event by name with its fields (stage started, trial done, ...)."""
Overrides = list[str] | tuple[str, ...]


def validate(paths: list[str] | tuple[str, ...], overrides: Overrides = (),
             on: dt.date | None = None,
             allow_protected_overrides: bool = False, problems_only: bool = False,
             cache: bool = True, workers: int | None = None) -> list[Validation]:
    """Every problem of each spec. With problems_only (what `lifecycle validate` prints),
    results may come from the content-hash cache and specs are checked in `workers`
    processes (default: one per CPU when there are enough specs)."""
    from .compile.batch import validate as _validate

    return _validate(paths, overrides, on, allow_protected_overrides,
                     problems_only=problems_only, cache=cache, workers=workers)


def validate_one(path: str | Path, overrides: Overrides = (), on: dt.date | None = None,
                 platform: Platform | None = None,
                 allow_protected_overrides: bool = False) -> Validation:
    """Every problem of one spec, with what was built on the way (composition, spec,
    policy report, plan)."""
    from .compile.validate import validate_one as _validate_one

    return _validate_one(path, overrides, on, platform, allow_protected_overrides)


def compile_spec(path: str | Path, overrides: Overrides = (), on: dt.date | None = None,
                 allow_protected_overrides: bool = False) -> Plan:
    """Compile a spec into a plan; raises InputError or PolicyError with every problem."""
    from .compile.validate import compile_spec as _compile_spec

    return _compile_spec(path, overrides, on, allow_protected_overrides)


def approve(path: str | Path, role: str, key: str | Path, ticket: str | None = None,
            expires: str | dt.date | None = None, by: str | None = None,
            overrides: Overrides = (), on: dt.date | None = None,
            passphrase: Callable[[], bytes] | None = None,
            allow_protected_overrides: bool = False) -> Signed:
    """Sign an approval of the plan the spec compiles to (with `overrides`), as the owner
    of `key` in the platform's approvers conf; written beside the spec in
    `<spec>.approvals/`. A spec that fails policy can be approved (it may fail only for
    want of this approval); one that breaks the schema, or overrides a protected key
    without `allow_protected_overrides`, cannot."""
    from .compile.approve import approve as _approve

    return _approve(path, role, key, ticket, expires, by, overrides, on, passphrase,
                    allow_protected_overrides)


def spec_schema() -> dict[str, Any]:
    """JSON Schema of the spec language, with Hydra's `defaults` list allowed."""
    from .spec import Spec

    schema = Spec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "lifecycle spec"
    schema.setdefault("properties", {})["defaults"] = {
        "description": "Hydra defaults list: presets from conf/ composed into this spec.",
        "type": "array",
        "items": {"anyOf": [{"type": "string"}, {"type": "object"}]},
    }
    return schema


def diff_schema() -> dict[str, Any]:
    """JSON Schema of `lifecycle diff --format json` (versioned by schema_version)."""
    from .diff import DiffReport

    return DiffReport.model_json_schema()


def diff_files(old: str | Path, new: str | Path, on: dt.date | None = None) -> DiffReport:
    """Two specs (composed and compiled) or two compiled plans of the same model."""
    from .diff.files import diff_files as _diff_files

    return _diff_files(old, new, on)


def diff_git(rev: str, paths: list[str] | tuple[str, ...] = (), on: dt.date | None = None,
             cwd: str | Path | None = None) -> DiffReport:
    """Each spec in the working tree against the same path at `rev`: the specs whose file
    or signed approvals changed, and (when a preset, policy bundle, price table or the
    approvers conf changed) every spec composed, checked or approved with it."""
    from .diff.git import diff_git as _diff_git

    return _diff_git(rev, paths, on, cwd)


# --- SLO artifacts for the ecosystem (docs/slo.md) -------------------------------------

def prometheus_rules(plan: Plan) -> str:
    """The plan's recording and alerting rules (multiwindow burn rates), as a rule file."""
    from .compile.prometheus import rules_yaml

    return rules_yaml(plan)


def grafana_dashboard(plan: Plan) -> dict[str, Any]:
    """A Grafana dashboard over the rules' series and the runtime's metrics."""
    from .compile.grafana import dashboard

    return dashboard(plan)


def run_plan(plan: Plan, options: RunOptions, on_event: OnEvent | None = None) -> RunResult:
    """Execute a compiled plan on the local (or current) Ray; journaled and resumable."""
    from .execute.runner import run_plan as _run

    return _run(plan, options, on_event)


def run_spec(path: str | Path, overrides: list[str] | tuple[str, ...], options: RunOptions,
             on_event: OnEvent | None = None,
             allow_protected_overrides: bool = False) -> RunResult | ExitCode:
    """Compile (refusing invalid or policy-failing specs, and overrides of protected keys
    unless allowed) and run. With an address, the plan is submitted as a Ray Job and its
    exit code is returned instead of a result."""
    plan = compile_spec(path, overrides, allow_protected_overrides=allow_protected_overrides)
    options.spec_path = str(path)
    if options.submits_job:
        from .execute.connection import submit_job

        return submit_job(plan, options,
                          lambda line: on_event("line", {"line": line}) if on_event else None)
    return run_plan(plan, options, on_event)


def run_log(options: RunOptions, on_output: Callable[[str], None] | None = None
            ) -> AbstractContextManager[RunLog]:
    """While active, this process's stdout and stderr (Ray's, Tune's, children's) go to
    the run's log in the store, and `RunLog.terminal` writes to the terminal; `on_output`
    (--verbose) gets each line the log receives. Gives `options` a run id if it has none."""
    from .execute.runlog import captured
    from .store import Store, new_run_id

    options.run_id = options.run_id or new_run_id()
    return captured(Store(options.resolved_store()), options.run_id, on_output)


def run_log_location(options: RunOptions) -> str:
    """Where the log of the run `options` names is in the store."""
    from .execute.runlog import run_log_of

    return run_log_of(options.resolved_store(), options.run_id)


def run_status(options: RunOptions) -> list[dict[str, Any]]:
    """Every run in the store with its stages, newest last (from the journals)."""
    from .execute.status import run_summaries
    from .store import Store

    return run_summaries(Store(options.resolved_store()))


def stop_run(run_id: str, options: RunOptions, address: str | None = None,
             wait_s: float = 60.0) -> dict[str, Any]:
    """Stop a run by id: its Ray Job, or its process on this machine; journaled."""
    from .execute.stop import stop_run as _stop
    from .store import Store

    return _stop(Store(options.resolved_store()), run_id, address, wait_s)


# --- operating a deployed application ---------------------------------------------

def serve_status(target: str | Path, address: str | None = None) -> dict[str, Any]:
    """A deployed application's versions, weights, traffic, monitors, rollout and SLOs;
    named by its spec, also what 1,000 predictions cost (the plan's replica prices)."""
    from .compile.served import application_of, deployed_plan
    from .execute import serving

    application = application_of(target).application
    cost = deployed_plan(target).cost if Path(target).is_file() else None
    serving.attach(address)
    return serving.status(application, cost.replica_hourly if cost else None,
                          cost.currency if cost else None)


def rollout_command(target: str | Path, command: str, address: str | None = None) -> str:
    """Promote, roll back, pause or resume a rollout; raises (exit 3) when nothing was
    done. A promote of a named spec is held to the approvals the spec has now
    (compile.served.promotion_approval)."""
    from .compile.served import application_of, promotion_approval
    from .execute import serving

    application = application_of(target).application
    approval = promotion_approval(target) if command == "promote" else None
    serving.attach(address)
    return serving.command(application, command, approval, today(), str(target))


def retire(target: str | Path, address: str | None = None,
           tracking_uri: str | None = None, drain_s: float | None = None,
           options: RunOptions | None = None) -> dict[str, Any]:
    """Stop the rollout, drain and delete the application, and (retirement.archive) tag
    its versions retired in the registry the deploying run used: `tracking_uri` if given,
    else the one the deployed application records, else `run`'s default (options' store).
    Journaled in the run that deployed it (`lifecycle history` shows it)."""
    from .compile.served import application_of
    from .execute import groundtruth, serving
    from .store import Store

    served = application_of(target)
    serving.attach(address)
    options = options or RunOptions()
    done = serving.retire(served.application, served.model or served.application,
                          tracking_uri, options.resolved_tracking_uri,
                          served.archive, served.drain_s if drain_s is None else drain_s,
                          served.replaced_by)
    store = Store(options.resolved_store())
    done["journaled_in"] = groundtruth.record_retirement(store, served.application, done)
    return done


def rollout_simulate(target: str | Path, overrides: list[str] | tuple[str, ...] = (),
                     traffic: float | None = None, scenarios: list[str] | None = None,
                     repetitions: int = 200, seed: int = 0, replay: str | None = None,
                     store: str | None = None, error_rate: float = 0.005,
                     latency_ms: float = 10.0, allow_protected_overrides: bool = False) -> Any:
    """The spec's rollout decisions on seeded synthetic traffic, or (replay) on a past
    rollout's recorded observations. Imports no Ray. An analysis, like `plan`: a spec
    that fails policy rules is still simulated (the rules do not change what the rollout
    decides); one that does not compile is refused."""
    from .compile.validate import refusal
    from .execute import simulation
    from .plan.judging import DEFAULT_TRAFFIC
    from .store import Store

    result = validate_one(target, overrides,
                          allow_protected_overrides=allow_protected_overrides)
    if result.plan is None:
        raise refusal(result, target)
    plan = result.plan
    if replay is not None:
        return simulation.replay(plan, Store(RunOptions(store=store).resolved_store()),
                                 replay)
    stage = next((s for s in plan.stages if s.kind == "rollout"), None)
    rps = traffic or (stage.traffic if stage is not None else None) or DEFAULT_TRAFFIC
    return simulation.simulate(plan, rps, scenarios or ["healthy", "errors:+2pt"],
                               repetitions, seed, error_rate, latency_ms)


def prediction_logs(target: str | Path, since: float | None = None,
                    version: str | None = None, options: RunOptions | None = None) -> Any:
    """The sampled prediction log of a spec's application (serve.logging), as one Arrow
    table: the rows since a moment (epoch seconds), of one model version."""
    from .compile.served import application_of
    from .execute import groundtruth
    from .store import Store

    store = Store((options or RunOptions()).resolved_store())
    return groundtruth.read_logs(store, application_of(target).application, since, version)


def feedback_file(target: str | Path, labels: str, options: RunOptions | None = None) -> Any:
    """Labels that arrived late (Parquet or CSV: request_id, label[, row]), kept in the
    label log and joined with the prediction log: the spec's quality metrics per model
    version and slice (a groundtruth.BulkFeedback)."""
    import time

    from .compile.served import served_plan
    from .execute import groundtruth
    from .store import Store

    store = Store((options or RunOptions()).resolved_store())
    return groundtruth.bulk_feedback(store, served_plan(target), labels, time.time())


def served_history(target: str | Path, at: float | None = None,
                   options: RunOptions | None = None) -> dict[str, Any]:
    """Which version held which alias and traffic share, and the rollout decisions: the
    whole history of the application, or (at) the state at one moment."""
    from .compile.served import application_of
    from .execute import groundtruth
    from .store import Store

    application = application_of(target).application
    store = Store((options or RunOptions()).resolved_store())
    events = groundtruth.history(store, application)
    if not events:
        raise InputError(f"no deploys of '{application}' in {store.uri}", problems=(Problem(
            "history.none", f"no deploys of '{application}' in the store", "", Location(),
            "run the spec first, or pass --store where its runs are"),))
    out: dict[str, Any] = {"application": application, "events": events}
    if at is not None:
        out["at"] = groundtruth.served_at(events, at)
    return out


def monitor_report(target: str | Path, out_dir: str | None = None,
                   options: RunOptions | None = None, log: bool = True) -> dict[str, Any]:
    """Write the HTML report of a spec's monitors from the run store (no cluster needed)
    and log it to the spec's latest MLflow run."""
    import tempfile

    from .compile.served import application_of
    from .execute import monitor_report as report
    from .store import Store

    application = application_of(target).application
    store = Store((options or RunOptions()).resolved_store())
    collected = report.collect(store, application)
    if not collected.runs:
        raise InputError(f"no runs of '{application}' in {store.uri}", problems=(Problem(
            "monitor.no-runs", f"no runs of '{application}' in the store", "", Location(),
            "run the spec first, or pass --store"),))
    remote = out_dir is None and not store.is_local
    # a remote store: written here first, then copied to reports/<application> there
    folder = out_dir or (tempfile.mkdtemp(prefix="lifecycle-report-") if remote
                         else store.path("reports", application))
    done = report.write(collected, folder)
    if remote:
        store.upload_dir(folder, f"reports/{application}")
        done["stored"] = store.uri_of("reports", application)
    if log:
        done["mlflow"] = report.log_to_mlflow(collected, folder)
    return done
