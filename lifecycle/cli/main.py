"""`lifecycle` — validate, plan, compile and schema (no ray/mlflow/torch imports)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ExitCode, LifecycleError

if TYPE_CHECKING:
    from rich.console import Console

    from ..api import RunOptions, RunResult
    from ..plan import Plan

EPILOG = """exit codes: 0 ok · 1 policy violation (or failed gate) · 2 invalid input ·
3 runtime failure · 4 internal error · 130 interrupted · 143 stopped.
Set LIFECYCLE_FULL_ERROR=1 for tracebacks."""


def _split(args: list[str]) -> tuple[list[str], list[str]]:
    """Positional words with '=' (or a leading '~') are overrides; the rest are specs."""
    specs: list[str] = []
    overrides: list[str] = []
    for a in args:
        (overrides if ("=" in a or a.startswith("~")) else specs).append(a)
    return specs, overrides


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lifecycle", description="Declarative ML lifecycle specs: "
                                "validate, plan, compile, run on Ray.", epilog=EPILOG)
    p.add_argument("--no-color", action="store_true", help="plain output")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    v = sub.add_parser("validate", help="check specs against the schema and policy",
                       epilog=EPILOG)
    v.add_argument("args", nargs="+", metavar="SPEC|KEY=VALUE",
                   help="spec files, then Hydra overrides (key=value, +key=value, ~key)")
    v.add_argument("--format", choices=["text", "json"], default="text")
    _protected(v)
    v.add_argument("--no-cache", action="store_true", help="check every spec again instead "
                   "of reusing unchanged results (cache: .lifecycle/cache, or "
                   "$LIFECYCLE_CACHE_DIR)")
    v.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                   help="worker processes for many specs (default: one per CPU)")

    pl = sub.add_parser("plan", help="show the compiled plan for a person", epilog=EPILOG)
    pl.add_argument("args", nargs="+", metavar="SPEC|KEY=VALUE")
    _protected(pl)

    c = sub.add_parser("compile", help="write the plan as canonical JSON", epilog=EPILOG)
    c.add_argument("args", nargs="+", metavar="SPEC|KEY=VALUE")
    _protected(c)
    c.add_argument("-o", "--output", default="-", help="file to write (default: stdout)")
    c.add_argument("--serve-config", help="also write the Ray Serve config (serve deploy "
                   "schema) to this file")
    c.add_argument("--prometheus-rules", metavar="FILE", help="also write the SLOs' "
                   "Prometheus recording and burn-rate alerting rules (docs/slo.md)")
    c.add_argument("--grafana", metavar="FILE", help="also write a Grafana dashboard (JSON) "
                   "of traffic, errors, latency, drift, live quality and error budgets")

    a = sub.add_parser("approve", help="sign an approval of the spec's plan with your SSH key "
                       "(written beside the spec, in SPEC.approvals/)", epilog=EPILOG)
    a.add_argument("args", nargs="+", metavar="SPEC|KEY=VALUE")
    a.add_argument("--role", required=True, help="the role you approve for (conf/approvers/"
                   "roles.yaml says which you may sign for)")
    a.add_argument("--key", required=True, metavar="KEYFILE", help="your ed25519 private key "
                   "(its public half must be in conf/approvers/allowed_signers)")
    a.add_argument("--ticket", help="change or review ticket")
    a.add_argument("--expires", metavar="YYYY-MM-DD", help="last day the approval holds")
    a.add_argument("--by", help="your identity, when your key is listed under several")
    _protected(a)

    r = sub.add_parser("run", help="run the plan on Ray (local by default)", epilog=EPILOG)
    r.add_argument("args", nargs="+", metavar="SPEC|KEY=VALUE")
    _run_options(r)
    _protected(r)
    r.add_argument("--address", help="an existing cluster: its dashboard URL "
                   "(http://head:8265) submits the plan as a Ray Job; on a cluster node, "
                   "`auto` or HOST:6379 runs it from here, attached (serving outlives the "
                   "command). Default: RAY_ADDRESS, else a local Ray for this run")

    rp = sub.add_parser("run-plan", help=argparse.SUPPRESS)  # what a Ray Job runs
    rp.add_argument("plan", nargs="?", help="plan.json (default: $LIFECYCLE_PLAN_JSON)")
    _run_options(rp)
    rp.add_argument("--spec-path", default="")
    rp.add_argument("--run-id", default=None, help=argparse.SUPPRESS)
    rp.add_argument("--events", choices=["text", "json"], default="text",
                    help=argparse.SUPPRESS)  # json: for the client that submitted the job

    st = sub.add_parser("status", help="runs and their stages; with SPEC, its deployment: "
                        "versions, weights, rollout step and gate values")
    st.add_argument("target", nargs="?", metavar="SPEC|APP")
    _store(st)
    st.add_argument("--format", choices=["text", "json"], default="text")
    _address(st)
    sp = sub.add_parser("stop", help="stop a run by its id (its Ray Job, or its process "
                        "here); it journals `stopped`", epilog=EPILOG)
    sp.add_argument("run_id", metavar="RUN_ID", help="as `lifecycle status` lists it")
    _store(sp)
    sp.add_argument("--address", help="the cluster's dashboard (http://head:8265) when the "
                    "store does not say (default: the address the run was submitted to, "
                    "then $RAY_ADDRESS)")
    sp.add_argument("--no-wait", action="store_true", help="return once the stop is asked "
                    "for, without waiting for the run to record it")
    for name, text in (("promote", "make the candidate champion now and send it all traffic"),
                       ("rollback", "send all traffic back to the stable version now"),
                       ("pause", "hold the rollout at its current step"),
                       ("resume", "continue a paused rollout")):
        op = sub.add_parser(name, help=text, epilog=EPILOG)
        op.add_argument("target", metavar="SPEC|APP")
        _address(op)
    rt = sub.add_parser("retire", help="stop the rollout, delete the Serve application and "
                        "tag its versions retired (retirement.archive)", epilog=EPILOG)
    rt.add_argument("target", metavar="SPEC|APP")
    _store(rt, tracking=True)
    rt.add_argument("--drain", type=_duration, metavar="DURATION",
                    help="longest wait for requests in flight, e.g. 30s (default: the spec's "
                    "retirement.drain, 5m); new requests get 503 meanwhile")
    _address(rt)

    ro = sub.add_parser("rollout", help="the rollout's decisions, before deploying")
    ro_sub = ro.add_subparsers(dest="rollout_command", required=True, metavar="SUBCOMMAND")
    sim = ro_sub.add_parser(
        "simulate", help="run the spec's rollout decisions on synthetic traffic (seeded), "
        "or on a past rollout's recorded observations (--replay RUN)", epilog=EPILOG)
    sim.add_argument("args", nargs="+", metavar="SPEC|KEY=VALUE")
    sim.add_argument("--traffic", type=float, default=None, metavar="RPS",
                     help="requests per second (default: serve.rollout.traffic, else 10)")
    sim.add_argument("--scenario", action="append", default=None,
                     help="healthy | errors:+2pt | latency:x1.5 | drift (repeatable; "
                     "default: healthy and errors:+2pt)")
    sim.add_argument("-n", "--repetitions", type=int, default=200)
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--error-rate", type=float, default=0.005,
                     help="the stable version's error rate (assumed; default 0.005)")
    sim.add_argument("--latency-ms", type=float, default=10.0,
                     help="its median latency (assumed, log-normal; default 10)")
    sim.add_argument("--replay", metavar="RUN", help="a run id whose rollout to replay")
    _store(sim)
    _protected(sim)

    mo = sub.add_parser("monitor", help="what the monitors saw")
    mo_sub = mo.add_subparsers(dest="monitor_command", required=True, metavar="SUBCOMMAND")
    rep = mo_sub.add_parser("report", help="HTML report with PNG charts: p-values over time, "
                            "window decisions, outlier rates, reference vs recent "
                            "distributions, actions (from the run store; logged to MLflow)")
    rep.add_argument("target", metavar="SPEC|APP")
    rep.add_argument("-o", "--output", default=None,
                     help="folder (default: <store>/reports/<name>)")
    _store(rep)
    rep.add_argument("--no-mlflow", action="store_true", help="do not log it to MLflow")

    lg = sub.add_parser("logs", help="the sampled prediction log (serve.logging) as one "
                        "Parquet file", epilog=EPILOG)
    lg.add_argument("target", metavar="SPEC|APP")
    lg.add_argument("--since", type=_moment, metavar="TIME",
                    help="rows from then on: an ISO time (2026-11-29T10:00Z) or a duration "
                    "ago (2h, 3d)")
    lg.add_argument("--version", help="rows one model version served")
    lg.add_argument("-o", "--output", required=True, help="Parquet file to write")
    _store(lg)

    fb = sub.add_parser("feedback", help="labels that arrived late, joined with the "
                        "prediction log: quality per model version and slice", epilog=EPILOG)
    fb.add_argument("target", metavar="SPEC")
    fb.add_argument("labels", metavar="LABELS", help="Parquet or CSV with request_id, label "
                    "(and row, for a request of several rows)")
    _store(fb)
    fb.add_argument("--format", choices=["text", "json"], default="text")

    hi = sub.add_parser("history", help="which version held which alias and traffic share, "
                        "and the rollout decisions between (from the run journals)",
                        epilog=EPILOG)
    hi.add_argument("target", metavar="SPEC|APP")
    hi.add_argument("--at", type=_moment, metavar="TIME",
                    help="the state at one moment: an ISO time or a duration ago")
    _store(hi)
    hi.add_argument("--format", choices=["text", "json"], default="text")

    d = sub.add_parser(
        "diff", help="what a change does to risk: two specs, two plans, or --git REV",
        epilog="exit codes: 0 nothing loosened · 1 something loosened (see --fail-on) · "
        "2 invalid input. Cosmetic changes (order, comments, equal values) are not shown.")
    d.add_argument("files", nargs="*", metavar="OLD NEW | SPEC",
                   help="two specs or two compiled plans; with --git, specs to limit to")
    d.add_argument("--git", metavar="REV", help="compare every spec in the working tree with "
                   "the same path at REV (presets and policy bundles of REV included)")
    d.add_argument("--format", choices=["text", "markdown", "json", "sarif"], default="text")
    d.add_argument("--fail-on", choices=["loosens", "review", "never"], default="loosens",
                   help="exit 1 when something loosens (default), or also on changes to "
                   "review (entrypoint, data source, strategy)")
    d.add_argument("-o", "--output", default="-", help="file to write (default: stdout)")

    s = sub.add_parser("schema", help="print the spec's JSON Schema (for editors)")
    s.add_argument("-o", "--output", default="-", help="file to write (default: stdout)")
    s.add_argument("--diff", action="store_true",
                   help="the schema of `lifecycle diff --format json` instead")
    return p


def _protected(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-protected-overrides", action="store_true",
                   help="let overrides change keys the policy bundle protects (risk_tier, "
                   "policy, waivers, approvals by default); each one is recorded in the "
                   "plan, the run's journal, MLflow and the model card")


def _address(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", help="the cluster: HOST:6379, or `auto` on a cluster node "
                   "(default: $RAY_ADDRESS)")


def _store(p: argparse.ArgumentParser, tracking: bool = False) -> None:
    """Where runs keep state: every command resolves it the way `run` does."""
    p.add_argument("--store", help="run store: a folder or pyarrow.fs URI (default: "
                   "$LIFECYCLE_STORE, else .lifecycle in the current folder)")
    if tracking:
        p.add_argument("--tracking-uri", help="MLflow tracking URI (default: "
                       "$MLFLOW_TRACKING_URI, else sqlite in the store)")


def _locations(ns: argparse.Namespace) -> RunOptions:
    """The store and tracking URI a command uses: the same defaults as `run`."""
    from ..api import RunOptions

    return RunOptions(store=getattr(ns, "store", None),
                      tracking_uri=getattr(ns, "tracking_uri", None))


def _run_options(p: argparse.ArgumentParser) -> None:
    _store(p, tracking=True)
    p.add_argument("--force", action="store_true", help="redo stages even if unchanged")
    p.add_argument("-v", "--verbose", action="store_true", help="stream Ray's and Tune's "
                   "output too (it is always kept in the run's log, <store>/runs/RUN_ID/"
                   "run.log)")
    p.add_argument("--serve-host", metavar="HOST", help="the address Serve's HTTP proxy "
                   "binds (default: serve.host, 127.0.0.1: this machine only; 0.0.0.0 "
                   "exposes it on every interface)")
    p.add_argument("--wait", action="store_true", help="follow a rollout to its end (without "
                   "it, run returns once the first step is live; on a local Ray that ends "
                   "with this process it always waits)")


def _options(ns: argparse.Namespace) -> RunOptions:
    from ..api import RunOptions

    run_plan = ns.command == "run-plan"  # a Ray Job: what started it says so in the env
    return RunOptions(store=ns.store, tracking_uri=ns.tracking_uri, force=ns.force,
                      wait=ns.wait, address=getattr(ns, "address", None),
                      spec_path=getattr(ns, "spec_path", ""),
                      run_id=getattr(ns, "run_id", None), verbose=ns.verbose,
                      serve_host=ns.serve_host,
                      retrain=RunOptions.retrain_from_env() if run_plan else None,
                      source=RunOptions.source_from_env() if run_plan else None)


def _finish_run(result: RunResult | ExitCode, console: Console, log: str | None) -> int:
    from rich.markup import escape

    from ..render.run_text import render_run_summary

    if isinstance(result, ExitCode):  # a Ray Job: its events were shown as they came
        return int(result)
    render_run_summary(console, result)
    if log:
        console.print(f"[dim]Ray's and Tune's output: {escape(log)} (--verbose "
                      "streams it)[/]")
    return int(result.exit_code)


def _run_logged(plan: Plan, options: RunOptions, ns: argparse.Namespace,
                json_events: bool = False) -> int:
    """Run with the process's output in the run's log (<store>/runs/RUN_ID/run.log) and
    lifecycle's progress on the terminal (or, in a Ray Job, as JSON events for the
    client that submitted it)."""
    from .. import api
    from ..render import make_console
    from ..render.progress import JsonEvents, RunProgress

    shown: list[Callable[[str], object]] = []

    def stream(line: str) -> None:  # --verbose: the log as it grows
        if shown:
            shown[0](line)

    with api.run_log(options, stream if options.verbose else None) as log:
        console = make_console(no_color=ns.no_color, wrap=True, file=log.terminal)
        if json_events:
            events = JsonEvents(log.terminal)
            shown.append(lambda line: log.terminal.write(line + "\n"))
            result = api.run_plan(plan, options, events.event)
            log.drain()
            events.event("run_summary", dataclasses.asdict(result))
            return int(result.exit_code)
        with RunProgress(console) as display:
            shown.append(lambda line: display.event("line", {"line": line}))
            result = api.run_plan(plan, options, display.event)
            log.drain()
            shown.clear()
        return _finish_run(result, console, log.location)


def cmd_run(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from rich.markup import escape

    from .. import api
    from ..render import make_console
    from ..render.progress import RunProgress

    spec, overrides = _one_spec(parser, ns.args)
    options = _options(ns)
    if options.submits_job:  # a Ray Job on a cluster: its log stays there
        console = make_console(no_color=ns.no_color, wrap=True)
        with RunProgress(console) as display:
            code = api.run_spec(spec, overrides, options, display.event,
                                allow_protected_overrides=ns.allow_protected_overrides)
        console.print(f"[dim]Ray's and Tune's output: {escape(api.run_log_location(options))}"
                      " as the cluster sees the store (--verbose streams it)[/]")
        return _finish_run(code, console, None)
    # a refused spec, or a credential in --tracking-uri, is said before any capture
    plan = api.compile_spec(spec, overrides,
                            allow_protected_overrides=ns.allow_protected_overrides)
    options.resolved_tracking_uri()
    options.spec_path = spec
    return _run_logged(plan, options, ns)


def cmd_run_plan(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .. import api

    if ns.plan:
        plan = api.load_plan(ns.plan)
    else:
        text = os.environ.get("LIFECYCLE_PLAN_JSON")
        if not text:
            parser.error("give plan.json or set LIFECYCLE_PLAN_JSON")
        plan = api.plan_from_json(text)
    return _run_logged(plan, _options(ns), ns, json_events=ns.events == "json")


def cmd_status(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .. import api
    from ..render import make_console
    from ..render.run_text import render_status

    if ns.target is not None:
        from ..render.serve_text import render_serving

        state = api.serve_status(ns.target, ns.address)
        if ns.format == "json":
            print(json.dumps(state, indent=2, sort_keys=True, default=str))
        else:
            render_serving(make_console(no_color=ns.no_color, wrap=True), state)
        return 0
    runs = api.run_status(_locations(ns))
    if ns.format == "json":
        print(json.dumps(runs, indent=2, default=str))
    else:
        render_status(make_console(no_color=ns.no_color, wrap=True), runs)
    return 0


def cmd_stop(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .. import api
    from ..render import make_console

    done = api.stop_run(ns.run_id, _locations(ns), ns.address, 0.0 if ns.no_wait else 60.0)
    ended = done["status"] if done["status"] not in (None, "running", "incomplete") else None
    make_console(no_color=ns.no_color).print(
        f"stop requested: {done['how']}; " + (f"run {ns.run_id} ended {ended}" if ended else
                                               f"run {ns.run_id} has not recorded its ending "
                                               "yet (`lifecycle status` will show it)"))
    return 0


def cmd_rollout(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .. import api
    from ..render import make_console

    said = api.rollout_command(ns.target, ns.command, ns.address)
    make_console(no_color=ns.no_color).print(f"{ns.command}: {said}")
    return 0


def _duration(text: str) -> float:
    from ..spec.base import parse_duration

    try:
        return float(parse_duration(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_retire(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .. import api
    from ..render import make_console

    done = api.retire(ns.target, ns.address, ns.tracking_uri, ns.drain, _locations(ns))
    archived = ", ".join(done["archived_versions"]) or "none"
    drained = done.get("drained")
    drain = "" if not drained else (
        f"drained in {drained['seconds']:.1f} s; " if not drained["in_flight_left"] else
        f"{drained['in_flight_left']} request(s) still in flight after the drain; ")
    make_console(no_color=ns.no_color).print(
        f"retired {done['application']}: {drain}application "
        f"{'deleted' if done['deleted'] else 'was not deployed'}; versions archived: {archived}")
    return 0


def _moment(text: str) -> float:
    """An ISO time (a naive one is UTC) or a duration ago, as epoch seconds."""
    import datetime as dt
    import time

    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            return time.time() - _duration(text)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"'{text}' is neither an ISO time (2026-11-29T10:00:00Z) nor a duration "
                "(90s, 2h, 3d)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def cmd_logs(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import pyarrow.parquet as pq

    from .. import api
    from ..render import make_console

    table = api.prediction_logs(ns.target, ns.since, ns.version, _locations(ns))
    try:
        pq.write_table(table, ns.output)
    except OSError as exc:
        from ..errors import InputError, Location, Problem

        loc = Location(file=ns.output)
        raise InputError(f"cannot write {ns.output}: {exc}", location=loc, problems=(Problem(
            "logs.output", f"cannot write {ns.output}", "", loc,
            "give -o a path in a folder you can write"),)) from None
    make_console(no_color=ns.no_color).print(f"{table.num_rows} rows written to {ns.output}")
    return 0


def cmd_feedback(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from dataclasses import asdict

    from .. import api
    from ..render import make_console
    from ..render.serve_text import render_feedback

    done = api.feedback_file(ns.target, ns.labels, _locations(ns))
    if ns.format == "json":
        print(json.dumps(asdict(done), indent=2, sort_keys=True))
    else:
        render_feedback(make_console(no_color=ns.no_color, wrap=True), done)
    return 0


def cmd_history(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from dataclasses import asdict

    from .. import api
    from ..render import make_console
    from ..render.serve_text import render_history

    done = api.served_history(ns.target, ns.at, _locations(ns))
    if ns.format == "json":
        if "at" in done:
            done["at"] = asdict(done["at"])
        print(json.dumps(done, indent=2, sort_keys=True, default=str))
    else:
        render_history(make_console(no_color=ns.no_color, wrap=True), done)
    return 0


def cmd_rollout_simulate(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .. import api
    from ..render import make_console
    from ..render.rollout_text import render_simulation

    spec, overrides = _one_spec(parser, ns.args)
    result = api.rollout_simulate(spec, overrides, traffic=ns.traffic,
                                  scenarios=ns.scenario or ["healthy", "errors:+2pt"],
                                  repetitions=ns.repetitions, seed=ns.seed,
                                  replay=ns.replay, store=ns.store,
                                  error_rate=ns.error_rate, latency_ms=ns.latency_ms,
                                  allow_protected_overrides=ns.allow_protected_overrides)
    render_simulation(make_console(no_color=ns.no_color, wrap=True), result)
    return 0


def cmd_monitor(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .. import api
    from ..render import make_console

    done = api.monitor_report(ns.target, ns.output, _locations(ns), log=not ns.no_mlflow)
    out = make_console(no_color=ns.no_color)
    seen = ", ".join(f"{k}: {v} windows" for k, v in sorted(done["windows"].items()))
    out.print(f"report: {done['report']}  ({seen or 'no windows yet'}; "
              f"{done['actions']} actions)")
    if done.get("stored"):
        out.print(f"copied to the store: {done['stored']}")
    if done.get("mlflow"):
        out.print(f"logged to MLflow: {done['mlflow']}")
    return 0


def _one_spec(parser: argparse.ArgumentParser, args: list[str]) -> tuple[str, list[str]]:
    specs, overrides = _split(args)
    if len(specs) != 1:
        parser.error(f"give exactly one spec file (got {len(specs)}: {' '.join(specs) or '-'})")
    return specs[0], overrides


def _write(output: str, text: str) -> None:
    if output == "-":
        sys.stdout.write(text)
    else:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text, encoding="utf-8")


def cmd_validate(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .. import api
    from ..render import make_console, problems_json, render_problems, summary_line

    specs, overrides = _split(ns.args)
    if not specs:
        parser.error("give at least one spec file")
    results = api.validate(specs, overrides,
                           allow_protected_overrides=ns.allow_protected_overrides,
                           problems_only=True, cache=not ns.no_cache, workers=ns.jobs)
    worst = max((r.exit_code for r in results), default=ExitCode.OK)
    if ns.format == "json":
        print(problems_json([(r.path, int(r.exit_code), r.problems) for r in results]))
        return int(worst)
    out = make_console(no_color=ns.no_color)
    for r in results:
        render_problems(out, r.problems)
        out.print(summary_line(r.path, r.problems))
    return int(worst)


def cmd_plan(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .. import api
    from ..render import make_console, render_plan, render_problems

    spec, overrides = _one_spec(parser, ns.args)
    r = api.validate_one(spec, overrides,
                         allow_protected_overrides=ns.allow_protected_overrides)
    if r.plan is not None:
        render_plan(make_console(no_color=ns.no_color, wrap=True), r.plan, spec)
    render_problems(make_console(no_color=ns.no_color),
                    [p for p in r.problems if p.severity != "info"])
    return int(r.exit_code)


def cmd_compile(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .. import api
    from ..render import make_console

    spec, overrides = _one_spec(parser, ns.args)
    plan = api.compile_spec(spec, overrides,
                            allow_protected_overrides=ns.allow_protected_overrides)
    _write(ns.output, plan.to_json())
    if ns.serve_config and plan.serve_config is not None:
        _write(ns.serve_config, json.dumps(plan.serve_config, indent=2, sort_keys=True) + "\n")
    if ns.prometheus_rules:
        _write(ns.prometheus_rules, api.prometheus_rules(plan))
    if ns.grafana:
        _write(ns.grafana, json.dumps(api.grafana_dashboard(plan), indent=2) + "\n")
    if ns.output != "-":
        make_console(stderr=True, no_color=ns.no_color).print(
            f"[ok]✓[/] wrote {ns.output} (plan {plan.plan_hash[:12]}, {len(plan.stages)} stages)")
    return 0


def cmd_diff(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .. import __version__, api
    from ..render import diff_json, diff_markdown, diff_sarif, diff_text, make_console, render_diff

    if ns.git:
        diff = api.diff_git(ns.git, ns.files)
    elif len(ns.files) == 2:
        diff = api.diff_files(ns.files[0], ns.files[1])
    else:
        parser.error("give two files (OLD NEW), or --git REV")
    if ns.format == "text" and ns.output == "-":
        render_diff(make_console(no_color=ns.no_color), diff)
    else:
        text = {"markdown": diff_markdown, "json": diff_json,
                "sarif": lambda d: diff_sarif(d, __version__),
                "text": diff_text}[ns.format](diff)
        _write(ns.output, text)
    counts = diff.counts
    failing = {"loosens": counts.get("loosens", 0),
               "review": counts.get("loosens", 0) + counts.get("review", 0),
               "never": 0}[ns.fail_on]
    return int(ExitCode.POLICY) if failing else 0


def _passphrase() -> bytes:
    import getpass

    if not sys.stdin.isatty():
        raise LifecycleError("the key is protected by a passphrase and there is no terminal "
                             "to ask for it")
    return getpass.getpass("passphrase for the key: ").encode()


def cmd_approve(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .. import api
    from ..load import display_path
    from ..render import make_console
    from ..render.plan_text import render_approval

    spec, overrides = _one_spec(parser, ns.args)
    done = api.approve(spec, ns.role, ns.key, ns.ticket, ns.expires, ns.by, overrides,
                       passphrase=_passphrase,
                       allow_protected_overrides=ns.allow_protected_overrides)
    s = done.statement
    render_approval(make_console(no_color=ns.no_color, wrap=True),
                    display_path(done.statement_path), s.by, s.role, s.ticket,
                    s.expires.isoformat() if s.expires else None, s.digest, done.key,
                    done.failing)
    return 0


def cmd_schema(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .. import api

    schema = api.diff_schema() if ns.diff else api.spec_schema()
    _write(ns.output, json.dumps(schema, indent=2, sort_keys=True) + "\n")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace, argparse.ArgumentParser], int]] = {
    "validate": cmd_validate, "plan": cmd_plan, "compile": cmd_compile, "schema": cmd_schema,
    "approve": cmd_approve,
    "run": cmd_run, "run-plan": cmd_run_plan, "status": cmd_status, "diff": cmd_diff,
    "stop": cmd_stop,
    "promote": cmd_rollout, "rollback": cmd_rollout, "pause": cmd_rollout,
    "resume": cmd_rollout, "retire": cmd_retire, "monitor": cmd_monitor,
    "rollout": cmd_rollout_simulate, "logs": cmd_logs, "feedback": cmd_feedback,
    "history": cmd_history,
}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    ns = parser.parse_args(argv)
    full = os.environ.get("LIFECYCLE_FULL_ERROR") == "1"
    try:
        return COMMANDS[ns.command](ns, parser)
    except LifecycleError as exc:
        from ..render import make_console, render_problems

        err = make_console(stderr=True, no_color=ns.no_color)
        render_problems(err, exc.all_problems())
        if full:
            traceback.print_exc()
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug in lifecycle: say so, and how to see it
        if full:
            traceback.print_exc()
        else:
            print(f"lifecycle: internal error: {type(exc).__name__}: {exc}\n"
                  "This is a bug in lifecycle. Rerun with LIFECYCLE_FULL_ERROR=1 and report "
                  "the traceback.", file=sys.stderr)
        return int(ExitCode.INTERNAL)


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
