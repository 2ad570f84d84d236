"""The library surface: what the CLI calls, and what users may call from Python.

    validate(paths, overrides)  -> list[Validation]   all problems of each spec
    compile_spec(path, ...)     -> Plan               raises InputError / PolicyError
    load_plan(path)             -> Plan               a compiled plan.json read back
    spec_schema()               -> dict               JSON Schema of the spec (for editors)
    run_spec(path, overrides, options, on_event) -> RunResult | ExitCode
    run_plan(plan, options, on_event)            -> RunResult
    run_status(options)         -> list[dict]         runs and stages from the journals
    stop_run(run_id, options)   -> dict               stop a run (its Ray Job or process)
    diff_files(old, new)        -> DiffReport         two specs or two compiled plans
    diff_git(rev, paths)        -> DiffReport         the working tree against a revision

Only run_spec / run_plan import ray and mlflow, lazily, through lifecycle.execute.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .compile import compile_plan, spec_json
from .diff import DiffReport, Where, compare, report
from .errors import ExitCode, InputError, LifecycleError, Location, PolicyError, Problem
from .load import LoadedSpec, compose, display_path, format_path, parse_path, platform_conf_dir
from .plan import Plan, PolicyReport
from .plan import today as plan_today
from .policy import check_bundle, check_bundle_tier, evaluate, load_bundle, select_bundle_name
from .policy.references import bundle_reads
from .spec import Retirement, Spec
from .spec import checks as _checks  # noqa: F401  (registers the cross-field checks)
from .spec.problems import CHECKS as REGISTERED_CHECKS
from .spec.problems import SpecFinding, from_validation_error, non_finite_numbers

__all__ = [
    "Platform",
    "Validation",
    "compile_spec",
    "diff_files",
    "diff_git",
    "diff_schema",
    "load_plan",
    "monitor_report",
    "plan_from_json",
    "policy_dirs",
    "retire",
    "rollout_command",
    "rollout_simulate",
    "run_plan",
    "run_spec",
    "run_status",
    "serve_status",
    "spec_schema",
    "stop_run",
    "today",
    "validate",
    "validate_one",
]


@dataclass
class Validation:
    """The outcome of validating one spec."""

    path: str
    problems: list[Problem] = field(default_factory=list)
    loaded: LoadedSpec | None = None
    spec: Spec | None = None
    policy: PolicyReport | None = None
    plan: Plan | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def exit_code(self) -> ExitCode:
        if any(p.severity == "error" and not _is_policy(p) for p in self.problems):
            return ExitCode.INVALID_INPUT
        if self.errors:
            return ExitCode.POLICY
        return ExitCode.OK


def _is_policy(p: Problem) -> bool:
    return not (p.code.startswith(("yaml.", "load.", "schema.", "policy.")))


def today() -> dt.date:
    """The date waivers are checked against (LIFECYCLE_TODAY=YYYY-MM-DD pins it)."""
    return plan_today()


@dataclass(frozen=True)
class Platform:
    """Where the platform's presets and policy bundles come from. `lifecycle diff --git`
    builds one for the old revision when they are files of the same repository."""

    conf: Path
    policy_path: tuple[Path, ...]

    @classmethod
    def current(cls) -> Platform:
        extra = tuple(Path(p) for p in os.environ.get("LIFECYCLE_POLICY_PATH", "")
                      .split(os.pathsep) if p)
        return cls(platform_conf_dir(), extra)

    @property
    def policy_dirs(self) -> list[Path]:
        return [*self.policy_path, self.conf / "policy"]


def policy_dirs() -> list[Path]:
    """Platform policy folders: LIFECYCLE_POLICY_PATH entries first, then conf/policy.
    Never the user's conf/: a spec cannot bring its own rules."""
    return Platform.current().policy_dirs


def _locate(loaded: LoadedSpec, key_path: tuple[str | int, ...]) -> Location:
    return loaded.locate(key_path)


def _finding(loaded: LoadedSpec, f: SpecFinding) -> Problem:
    return Problem(f.code, f.message, format_path(f.key_path), _locate(loaded, f.key_path),
                   f.hint)


def validate_one(path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                 on: dt.date | None = None, platform: Platform | None = None) -> Validation:
    platform = platform or Platform.current()
    result = Validation(path=str(path))
    try:
        loaded = compose(path, overrides, conf=platform.conf)
    except InputError as exc:
        result.problems.extend(exc.all_problems())
        return result
    result.loaded = loaded
    result.problems.extend(_finding(loaded, f) for f in non_finite_numbers(loaded.mapping))
    if result.problems:
        return result
    try:
        spec = Spec.model_validate(loaded.mapping)
    except ValidationError as exc:
        result.problems.extend(_finding(loaded, f)
                               for f in from_validation_error(Spec, exc, loaded.mapping))
        return result
    result.spec = spec
    for check in REGISTERED_CHECKS:
        result.problems.extend(_finding(loaded, f) for f in check(spec))
    if result.errors:
        return result
    resolved = spec_json(spec)
    try:
        bundle = load_bundle(select_bundle_name(resolved), platform.policy_dirs)
    except InputError as exc:
        loc = _locate(loaded, ("policy",)) if spec.policy else _locate(loaded, ("risk_tier",))
        result.problems.extend(replace(p, location=loc) if p.location.file is None else p
                               for p in exc.all_problems())
        return result
    tier_problem = check_bundle_tier(bundle, spec.risk_tier)
    if tier_problem is not None:
        result.problems.append(replace(tier_problem, location=_locate(loaded, ("policy",))))
    syntax = check_bundle(bundle)
    if syntax:
        result.problems.extend(syntax)
        return result
    report = evaluate(resolved, bundle, on or today())
    result.policy = report
    for r in report.results:
        if r.status == "pass" or r.status == "not_applicable":
            continue
        loc = _locate(loaded, parse_path(r.key_path))
        if r.status == "waived" and r.waiver is not None:
            w = r.waiver
            result.problems.append(Problem(
                r.rule, f"waived: {r.message}", r.key_path, loc,
                f"waiver by {w.approved_by} until {w.expires.isoformat()}: {w.reason}",
                severity="info"))
        else:
            result.problems.append(Problem(r.rule, r.message, r.key_path, loc, r.hint,
                                           severity=r.severity))
    if result.exit_code != ExitCode.INVALID_INPUT:  # a plan that fails policy is still shown
        result.plan = compile_plan(spec, report, loaded.presets, loaded.overrides)
    return result


def validate(paths: list[str] | tuple[str, ...], overrides: list[str] | tuple[str, ...] = (),
             on: dt.date | None = None) -> list[Validation]:
    return [validate_one(p, overrides, on) for p in paths]


def _refusal(result: Validation, path: str | Path,
             policy_fails: bool = False) -> LifecycleError:
    """The error for a spec that did not compile (with policy_fails, one that failed
    policy too), carrying every problem found."""
    errors = tuple(p for p in result.problems if p.severity == "error")
    cls: type[LifecycleError] = (PolicyError if policy_fails
                                 and result.exit_code == ExitCode.POLICY else InputError)
    return cls(f"{path}: {len(errors)} problem(s)", problems=errors)


def compile_spec(path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                 on: dt.date | None = None) -> Plan:
    """Compile a spec into a plan; raises InputError or PolicyError with every problem."""
    result = validate_one(path, overrides, on)
    if result.plan is None or result.errors:
        raise _refusal(result, path, policy_fails=True)
    return result.plan


def load_plan(path: str | Path) -> Plan:
    """Read a compiled plan.json back, checking its schema version."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        loc = Location(file=str(p))
        raise InputError(f"cannot read plan {p}: {exc.strerror}", location=loc, problems=(
            Problem("load.missing-file", f"cannot read plan: {exc.strerror}", "", loc),)) from None
    return plan_from_json(text, Location(file=str(p)))


def spec_schema() -> dict[str, Any]:
    """JSON Schema of the spec language, with Hydra's `defaults` list allowed."""
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
    return DiffReport.model_json_schema()


def plan_from_json(text: str, where: Location | None = None) -> Plan:
    """A plan from its JSON (a file's text, or LIFECYCLE_PLAN_JSON inside a Ray Job)."""
    loc = where or Location(origin="LIFECYCLE_PLAN_JSON")
    try:
        return Plan.model_validate_json(text)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = f"not a valid plan: {format_path(tuple(err['loc']))}: {err['msg']}"
        raise InputError(msg, location=loc, problems=(
            Problem("plan.invalid", msg, "", loc,
                    "recompile it with `lifecycle compile`; plans from another schema "
                    "version are not read"),)) from None


def run_plan(plan: Plan, options: Any, on_event: Any = None) -> Any:
    """Execute a compiled plan on the local (or current) Ray; journaled and resumable."""
    from .execute.runner import run_plan as _run

    return _run(plan, options, on_event)


def run_spec(path: str | Path, overrides: list[str] | tuple[str, ...], options: Any,
             on_event: Any = None) -> Any:
    """Compile (refusing invalid or policy-failing specs) and run. With an address, the
    plan is submitted as a Ray Job and its exit code is returned instead of a result."""
    plan = compile_spec(path, overrides)
    options.spec_path = str(path)
    if options.submits_job:
        from .execute.connection import submit_job

        return submit_job(plan, options,
                          lambda line: on_event("line", {"line": line}) if on_event else None)
    return run_plan(plan, options, on_event)


def run_status(options: Any) -> list[dict[str, Any]]:
    from .execute.status import run_summaries
    from .store import Store

    return run_summaries(Store(options.resolved_store()))


def stop_run(run_id: str, options: Any, address: str | None = None,
             wait_s: float = 60.0) -> dict[str, Any]:
    """Stop a run by id: its Ray Job, or its process on this machine; journaled."""
    from .execute.stop import stop_run as _stop
    from .store import Store

    return _stop(Store(options.resolved_store()), run_id, address, wait_s)


# --- operating a deployed application ---------------------------------------------

@dataclass(frozen=True)
class Served:
    """What the operating commands need of a spec: its application, registered model and
    `retirement` settings."""
    application: str
    model: str | None = None
    archive: bool = Retirement.model_fields["archive"].default
    drain_s: float = Retirement.model_fields["drain"].default
    replaced_by: str | None = None


def application_of(target: str | Path) -> Served:
    """The application of a spec file, or the name itself when `target` is not a file
    (an application deployed earlier: retirement defaults apply)."""
    path = Path(target)
    if not path.is_file():
        return Served(str(target))
    result = validate_one(path)
    if result.plan is None:
        raise _refusal(result, path)
    plan = result.plan
    deploy = next((s for s in plan.stages if s.kind == "deploy"), None)
    if deploy is None:
        loc = Location(file=str(path))
        raise InputError(f"{path} has no serve section", location=loc, problems=(Problem(
            "plan.not-served", "the spec deploys nothing", "serve", loc,
            "add a serve section, or name the application instead of the spec"),))
    retire = next((s for s in plan.stages if s.kind == "retire"), None)
    if retire is None:  # no retirement section: its defaults
        return Served(deploy.application, deploy.model)
    return Served(deploy.application, deploy.model, retire.archive, retire.drain_s,
                  retire.replaced_by)


def serve_status(target: str | Path, address: str | None = None) -> dict[str, Any]:
    from .execute import serving

    application = application_of(target).application
    serving.attach(address)
    return serving.status(application)


def rollout_command(target: str | Path, command: str, address: str | None = None) -> str:
    """promote / rollback / pause / resume; raises (exit 3) when nothing was done."""
    from .execute import serving

    application = application_of(target).application
    serving.attach(address)
    return serving.command(application, command, str(target))


def retire(target: str | Path, address: str | None = None,
           tracking_uri: str | None = None, drain_s: float | None = None,
           options: Any = None) -> dict[str, Any]:
    """Drain and delete the application, and (retirement.archive) tag its versions in
    the registry the deploying run used: `tracking_uri` if given, else the one the
    deployed application records, else `run`'s default (options' store)."""
    from .execute import serving
    from .execute.options import RunOptions

    served = application_of(target)
    serving.attach(address)
    default = (options or RunOptions()).resolved_tracking_uri
    return serving.retire(served.application, served.model or served.application,
                          tracking_uri, default, served.archive,
                          served.drain_s if drain_s is None else drain_s, served.replaced_by)


def rollout_simulate(target: str | Path, overrides: list[str] | tuple[str, ...] = (),
                     traffic: float | None = None, scenarios: list[str] | None = None,
                     repetitions: int = 200, seed: int = 0, replay: str | None = None,
                     store: str | None = None, error_rate: float = 0.005,
                     latency_ms: float = 10.0) -> Any:
    """The spec's rollout decisions on seeded synthetic traffic, or (replay) on a past
    rollout's recorded observations. Imports no Ray."""
    from .execute import simulation
    from .execute.options import RunOptions
    from .plan.judging import DEFAULT_TRAFFIC
    from .store import Store

    plan = compile_spec(target, overrides)
    if replay is not None:
        return simulation.replay(plan, Store(RunOptions(store=store).resolved_store()),
                                 replay)
    stage = next((s for s in plan.stages if s.kind == "rollout"), None)
    rps = traffic or (stage.traffic if stage is not None else None) or DEFAULT_TRAFFIC
    return simulation.simulate(plan, rps, scenarios or ["healthy", "errors:+2pt"],
                               repetitions, seed, error_rate, latency_ms)


def monitor_report(target: str | Path, out_dir: str | None = None, options: Any = None,
                   log: bool = True) -> dict[str, Any]:
    """Write the HTML report of a spec's monitors from the run store (no cluster needed)
    and log it to the spec's latest MLflow run."""
    from .execute import monitor_report as report
    from .execute.options import RunOptions
    from .store import Store

    application = application_of(target).application
    store = Store((options or RunOptions()).resolved_store())
    collected = report.collect(store, application)
    if not collected.runs:
        raise InputError(f"no runs of '{application}' in {store.uri}", problems=(Problem(
            "monitor.no-runs", f"no runs of '{application}' in the store", "", Location(),
            "run the spec first, or pass --store"),))
    folder = out_dir or store.path("reports", application)
    if "://" in folder:
        raise InputError(f"the report is written to a local folder, not {folder}",
                         problems=(Problem("monitor.report-folder", "not a local folder", "",
                                           Location(), "pass -o DIR"),))
    done = report.write(collected, folder)
    if log:
        done["mlflow"] = report.log_to_mlflow(collected, folder)
    return done


# --- diff --------------------------------------------------------------------------

_Side = tuple[Plan, Any]  # the plan, and a locate(key_path) -> Where | None for its spec


def _side(path: Path, on: dt.date | None, platform: Platform | None = None,
          base: Path | None = None) -> _Side:
    """A compiled plan from a spec (.yaml) or a plan file (.json). Specs that fail policy
    still compile (diff shows the rules); specs that break the schema raise InputError."""
    if path.suffix == ".json":
        return load_plan(path), None
    result = validate_one(path, (), on, platform)
    if result.plan is None or result.loaded is None:
        raise _refusal(result, display_path(path))
    loaded = result.loaded

    def locate(key_path: tuple[str | int, ...]) -> Where | None:
        loc = loaded.locate(key_path)
        file = loc.file
        if file is not None and base is not None:
            try:
                file = Path(file).resolve().relative_to(base).as_posix()
            except ValueError:
                pass
        return Where(file=file, line=loc.line, column=loc.column, origin=loc.origin)

    return result.plan, locate


def _rule_reads(plan: Plan, platform: Platform | None = None) -> dict[str, tuple[str, ...]]:
    try:
        return bundle_reads(load_bundle(plan.policy.bundle,
                                        (platform or Platform.current()).policy_dirs))
    except LifecycleError:
        return {}  # a plan compiled under a bundle this machine does not have


def diff_files(old: str | Path, new: str | Path, on: dt.date | None = None) -> DiffReport:
    """Two specs (composed and compiled) or two compiled plans of the same model."""
    a, _ = _side(Path(old), on)
    b, locate = _side(Path(new), on)
    return report(str(old), str(new), [compare(a, b, path=str(new), old_path=str(old),
                                               rule_reads=_rule_reads(b),
                                               locate_new=locate)])


def diff_git(rev: str, paths: list[str] | tuple[str, ...] = (), on: dt.date | None = None,
             cwd: str | Path | None = None) -> DiffReport:
    """Each spec in the working tree against the same path at `rev`: the specs whose file
    changed, and (when a preset or policy bundle changed) every spec composed from it."""
    import tempfile

    from .load import git

    here = Path(cwd or os.getcwd()).resolve()
    root = git.repo_root(here)
    commit = git.resolve(root, rev)
    changed = git.changed_since(root, commit)
    now_files = git.working_files(root)
    old_files = git.files_at(root, commit)
    platform = Platform.current()

    def rel(p: Path) -> str | None:
        try:
            return p.resolve().relative_to(root).as_posix()
        except ValueError:
            return None  # outside the repository: the same on both sides

    if paths:
        wanted = [rel(here / p) for p in paths]
        missing = [p for p, r in zip(paths, wanted) if r is None]
        if missing:
            raise InputError(f"{missing[0]} is outside the repository", problems=(Problem(
                "diff.git", f"{missing[0]} is outside the repository {root}", "",
                Location(file=str(missing[0])), "name specs inside the repository"),))
        candidates = [w for w in wanted if w is not None]
    else:
        yaml_now = [f for f in now_files if f.endswith(".yaml") and (root / f).is_file()]
        candidates = [f for f in yaml_now
                      if git.looks_like_spec(f, (root / f).read_bytes())]
        gone = [f for f in old_files if f.endswith(".yaml") and not (root / f).is_file()]
        old_blobs = git.read_at(root, commit, gone)
        candidates += [f for f, data in old_blobs.items() if git.looks_like_spec(f, data)]
    old_set = set(old_files)
    platform_dirs = [d for d in (platform.conf, *platform.policy_path) if rel(d) is not None]
    shared = [rel(d) for d in platform_dirs]

    def in_conf(f: str) -> bool:
        return "conf" in f.split("/")[:-1] or any(
            s is not None and (f == s or f.startswith(s + "/")) for s in shared)

    conf_changed = sorted(f for f in changed if in_conf(f))
    specs = sorted(set(candidates))
    affected = [f for f in specs if f in changed or (conf_changed and _composed_from(
        root / f, conf_changed, root, platform, on))]
    with tempfile.TemporaryDirectory(prefix="lifecycle-diff-") as tmp:
        old_root = Path(tmp)
        needed = [f for f in old_set if f in set(affected) or in_conf(f)]
        git.write_tree(git.read_at(root, commit, needed), old_root)
        old_platform = Platform(
            conf=_mapped(platform.conf, root, old_root),
            policy_path=tuple(_mapped(p, root, old_root) for p in platform.policy_path))
        results = []
        for f in affected:
            new_path, old_path = root / f, old_root / f
            b = _side(new_path, on, platform, root) if new_path.exists() else None
            try:
                a = _side(old_path, on, old_platform) if f in old_set else None
            except InputError:
                a = None  # it did not compile at `rev`: shown as added
            if a is None and b is None:
                continue
            reads = _rule_reads((b or a)[0], platform)  # type: ignore[index]
            results.append(compare(a[0] if a else None, b[0] if b else None, path=f,
                                   old_path=f if a else None, rule_reads=reads,
                                   locate_new=b[1] if b else None))
    return report(f"{rev} ({commit[:10]})", "working tree", results)


def _mapped(path: Path, root: Path, old_root: Path) -> Path:
    try:
        return old_root / path.resolve().relative_to(root)
    except ValueError:
        return path


def _composed_from(spec: Path, changed: list[str], root: Path, platform: Platform,
                   on: dt.date | None) -> bool:
    """Whether a spec whose file did not change is touched by a changed preset or bundle."""
    if not spec.exists():
        return False
    result = validate_one(spec, (), on, platform)
    if result.loaded is None:
        return True
    used = {str(p.resolve()) for p in result.loaded.sources}
    if result.policy is not None:
        try:
            used |= {str(p.resolve()) for p in
                     load_bundle(result.policy.bundle, platform.policy_dirs).files}
        except LifecycleError:
            pass
    return any(str((root / f).resolve()) in used for f in changed)
