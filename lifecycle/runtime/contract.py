"""The typed seam between the driver (`lifecycle.execute`) and the code that runs inside
Ray (`lifecycle.runtime`): every config, request, statistic and status that crosses,
the enums, the application's deployment and slot names, and the Ray namespace — once.

The driver builds these models; Serve carries them as the JSON of `user_config` and
`args` (a config deploy can only carry JSON), and the runtime reads them back with
`model_validate`, so a key that one side writes and the other does not know is an error
at the seam, not a silent default. Values that come from the spec (the shadow's
`max_queued`, a retrain's cooldown) are required fields here: the compiler fills them
from the spec models, and nothing in the runtime restates a spec default.

Pure pydantic: importing this module loads no Ray, so the compiler may import it to
write the Serve config it emits, and unit tests read it without a cluster."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from ..plan import (
    ApprovalRecord,
    MonitorParams,
    RolloutGateParams,
    RolloutStepParams,
    SloParams,
)

NAMESPACE = "lifecycle"  # the Ray namespace of lifecycle's named actors
APP_IMPORT_PATH = "lifecycle.runtime.app:build_app"
ROUTER = "Router"
MONITOR = "Monitor"
MODEL_PREFIX = "Model_"
CHAMPION_ALIAS = "champion"  # the registry alias of the version the stable slot serves
# Ray Serve's high-throughput mode (Ray >= 2.56): direct gRPC between replicas, HAProxy
# in front of the ingress replicas, which answer HTTP themselves (the throughput setting
# alone, without HAProxy, was slower than Serve's default: benchmarks/results). The local
# Ray lifecycle starts runs with it; `lifecycle status` says whether a cluster does.
SERVE_FAST_MODE = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_HA_PROXY": "1"}
# lifecycle's routes are idempotent (scoring changes nothing; a label posted twice counts
# once), so HAProxy may replay a request whose replica closed the connection without
# answering (a replica killed mid-request) on another; its default replays connection
# failures only
HAPROXY_RETRIES = {"RAY_SERVE_HAPROXY_RETRY_ON": "conn-failure empty-response junk-response",
                   "RAY_SERVE_HAPROXY_RETRIES": "2"}


class Slot(StrEnum):
    """A version slot of an application: the stable version (the champion) and the
    candidate being rolled out (the only slot when there is no champion yet)."""

    STABLE = "stable"
    CANDIDATE = "candidate"


def model_deployment(slot: Slot | str) -> str:
    """The Serve deployment that serves a slot's version."""
    return f"{MODEL_PREFIX}{Slot(slot).value}"


def slot_of(deployment: str) -> Slot | None:
    """The slot a deployment serves, or None for the Router and the Monitor."""
    if not deployment.startswith(MODEL_PREFIX):
        return None
    return Slot(deployment[len(MODEL_PREFIX):])


def controller_name(application: str) -> str:
    """The detached rollout controller actor of an application (in NAMESPACE)."""
    return f"rollout:{application}"


def collector_name(application: str) -> str:
    """The detached actor that gathers an application's evidence (in NAMESPACE)."""
    return f"evidence:{application}"


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- where cluster-side writers write --------------------------------------------------

class JournalRef(Contract):
    """The run journal a cluster-side writer (the rollout controller, the Monitor)
    appends to."""

    store: str = Field(description="Store URI (a folder or a pyarrow.fs location).")
    run_id: str


# --- the Serve application ---------------------------------------------------------------

# a contract feature type as a pyarrow type name; category and timestamp keep the type
# the rows give them when scoring, and are logged as text
ARROW_TYPES = {"float": "float64", "int": "int64", "bool": "bool_", "string": "string"}


class FeatureCheck(Contract):
    """What the Router checks each request row against (from the data contract)."""

    type: Literal["float", "int", "category", "bool", "string", "timestamp"]
    categories: list[JsonValue] | None = None
    min: float | None = None
    max: float | None = None


class BatchingConfig(Contract):
    max_batch_size: int = Field(ge=1)
    batch_wait_timeout: float = Field(ge=0)


Topology = Literal["fused", "routed"]
FUSED_SCORING_THREADS = 2  # per version in each fused Router replica: a slow version
# holds only its own callers


class AppArgs(Contract):
    """`build_app`'s args: what never changes during a rollout (changing any of it
    restarts every replica)."""

    application: str
    model: str
    slots: list[Slot]
    features: dict[str, FeatureCheck]
    topology: Topology = Field(description="fused: the Router replicas score both versions "
                               "themselves (no second hop); routed: one model deployment "
                               "per slot behind the Router (GPUs, batching, large models).")
    batching: BatchingConfig | None = None
    monitor: bool = False


class ShadowConfig(Contract):
    target: Slot = Field(description="The slot that receives the copies.")
    fraction: float = Field(ge=0, le=1)
    max_queued: int = Field(ge=1, description="Most copies in flight at once.")


class ModelConfig(Contract):
    """A model slot's `user_config`: which registered version it serves."""

    model_uri: str
    slot: Slot
    version: str | None = Field(None, description="Pinned by the deploy stage.")
    tracking_uri: str | None = None


DATA_TIME_TAG = "lifecycle.data_read_at"  # a registered version's training data time


class Freshness(Contract):
    """When a served version was made: its model registered (MLflow's creation time) and
    its training data read (Unix seconds; None when not known)."""

    trained_at: float | None = None
    data_at: float | None = None


class RouterConfig(Contract):
    """The Router's `user_config`: changed live by the rollout controller and the
    operating commands (a config deploy that changes only this restarts nothing)."""

    weights: dict[Slot, float]
    step: int = Field(0, description="The rollout step (-1 after a rollback).")
    sticky_key: str | None = None
    shadow: ShadowConfig | None = None
    capacity: dict[Slot, int] = Field(default_factory=dict,
                                      description="Requests each slot takes at once.")
    draining: bool = Field(False, description="`retire`: new requests are refused.")
    feed: Literal["none", "sampled", "all"] = Field(
        "none", description="What the Router sends the Monitor: every answered request "
        "(monitors watch them), only the sampled ones (a prediction log alone), or none.")
    log_sample: float = Field(0.0, ge=0, le=1, description="Share of requests logged.")
    feedback_token: str | None = Field(
        None, description="The feedback route's credential, as a secret reference "
        "(secret://NAME: the environment variable NAME of the Router's processes).")
    models: dict[Slot, ModelConfig] = Field(
        default_factory=dict, description="The fused topology: the version each slot "
        "serves, scored in the Router's replicas (empty when routed).")
    freshness: dict[Slot, Freshness] = Field(
        default_factory=dict, description="Each slot's model and data times, exported as "
        "the freshness gauges of the metric contract.")
    generation: int = Field(0, description="Raised by every change, so a change is known "
                            "applied once every live Router replica reports it.")


# --- monitors --------------------------------------------------------------------------

class CalibrationConfig(Contract):
    """Score -> probability of the positive class (an isotonic step function fitted on
    the evaluation data by the monitor stage): what a quality monitor's estimate uses."""

    x: list[float]
    y: list[float]


class WatchConfig(Contract):
    """One spec monitor as the Monitor deployment loads it: the plan's parameters and,
    for a detector, where the monitor stage saved it (with the hash its loader checks
    and the answer it gave on a probe window); for a quality monitor with an estimate,
    the calibration."""

    params: MonitorParams
    path: str | None = None
    manifest_sha256: str | None = None
    calibration: CalibrationConfig | None = None
    probe: dict[str, JsonValue] | None = None
    artifact_uri: str | None = None
    tracking_uri: str | None = None


# --- a run's provenance and Ray Job (run-plan reads both from its environment) --------

SOURCE_ENV = "LIFECYCLE_SOURCE"  # where `run-plan` in a Ray Job finds its Source (JSON)
JOB_ENV = "LIFECYCLE_RAY_JOB"  # ... and the JobRef it runs as (JSON)


class JobRef(Contract):
    """The Ray Job a run runs as: what `lifecycle stop RUN_ID` stops."""

    id: str = Field(description="The job's submission id.")
    address: str = Field(description="The Jobs API it was submitted to, as the submitter "
                         "reached it.")


class Source(Contract):
    """The code a run ran, as the machine that started it saw it. A Ray Job's working
    dir has no .git, so the client records this and it travels with the plan (and with
    a retrain, which reruns the same package)."""

    git_commit: str | None = Field(None, description="HEAD of the project's repository.")
    git_dirty: bool | None = Field(None, description="Uncommitted changes to tracked files "
                                   "(the code that ran is not exactly the commit).")


class RetrainConfig(Contract):
    """What a Monitor needs to start a new run of the plan as a Ray Job."""

    plan: str = Field(description="The stored plan, relative to the store.")
    store: str
    tracking_uri: str | None
    spec_path: str
    project: str = Field(description="The project's code as the deploying run had it: "
                         "the package URI of its Ray Job, or a folder on the cluster's node.")
    project_is_local: bool = Field(description="`project` is a folder on the node (a local "
                                   "Ray), not a package to unpack.")
    serve_host: str | None = None
    serve_port: int | None = None
    source: Source | None = Field(None, description="The deploying run's code commit: a "
                                  "retrain reruns the same package.")


class LogConfig(Contract):
    """The prediction log the Monitor writes (serve.logging)."""

    store: str
    sample: float
    redact: list[str]
    redaction: Literal["hash", "drop"]
    retention_s: float
    flush_rows: int
    flush_interval_s: float
    max_buffered: int


class MonitorConfig(Contract):
    """The Monitor deployment's `user_config`."""

    monitors: list[WatchConfig] = Field(default_factory=list)
    logging: LogConfig | None = None
    labels_store: str | None = Field(None, description="Where posted labels are kept "
                                     "(the run store).")
    features: dict[str, FeatureCheck] = Field(default_factory=dict,
                                              description="The contract's features (the "
                                              "logs' columns).")
    max_queued_windows: int = Field(2, ge=1, description="Closed windows waiting for the "
                                    "detector before the oldest is dropped (counted).")
    journal: JournalRef | None = None
    retrain: RetrainConfig | None = None


RETRAIN_ENV = "LIFECYCLE_RETRAIN"  # where `run-plan` finds its RetrainRequest (JSON)


class RetrainRequest(Contract):
    """A retrain a Monitor submits: the new run journals all of it."""

    run_id: str
    reason: str
    monitor: str
    recent_data_s: float | None = None
    history: list[float] = Field(default_factory=list,
                                 description="When earlier retrains of this monitor started "
                                 "(the cooldown and weekly cap are judged on these).")


# --- statistics the driver reads back --------------------------------------------------

# Latency buckets of the evidence histograms (upper edges, ms): 18 per decade from 0.1 ms
# to 100 s, every round threshold (1, 2, 2.5, 5, 10, 20, 25, 50 ... ms) among them, so a
# percentile is known to within ~10% and an SLO threshold is an exact edge.
_MANTISSAS = (1.0, 1.1, 1.2, 1.3, 1.5, 1.7, 2.0, 2.2, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0,
              7.0, 8.0, 9.0)
LATENCY_EDGES_MS: tuple[float, ...] = tuple(
    round(m * 10.0 ** e, 6) for e in range(-1, 5) for m in _MANTISSAS) + (100_000.0,)


class VersionEvidence(Contract):
    """What serving saw of one model version: cumulative counters (a window's evidence
    is the difference of two snapshots). `latency_ms` counts answers per bucket of
    LATENCY_EDGES_MS (one more bucket than edges: the last is above 100 s)."""

    requests: int = 0
    errors: int = 0  # answered 5xx: the model or its replica failed
    latency_ms: list[int] = Field(default_factory=list)
    # shadow copies this version answered (as the shadow target), off the response path
    shadow_requests: int = 0
    shadow_errors: int = 0
    shadow_latency_ms: list[int] = Field(default_factory=list)
    shadow_compared: int = 0  # copies whose answer was compared with the primary's
    shadow_abs_diff: float = 0.0  # sum over compared copies of the mean |difference|
    shadow_sq_diff: float = 0.0  # ... and of its square (for an interval)


class ReplicaReport(Contract):
    """What one Router replica pushes to the Evidence actor about once a second."""

    replica: str
    time: float
    versions: dict[str, VersionEvidence] = Field(description="Cumulative, by version.")
    slots: dict[Slot, str] = Field(description="The version each slot serves.")
    config: int = Field(description="The generation of the RouterConfig it applies.")
    weights: dict[Slot, float]
    draining: bool
    in_flight: int
    bad_requests: int
    refused: int = Field(description="Requests refused while draining (503).")
    shadow: ShadowStats
    monitor: MonitorFeed | None = None


class Evidence(Contract):
    """The application's evidence as the controller, gates and `status` read it: merged
    over Router replicas, cumulative (or, from `window`, for a time range)."""

    time: float
    since: float | None = Field(None, description="Start of the window (None: since the "
                                "application started).")
    versions: dict[str, VersionEvidence]
    slots: dict[Slot, str]
    replicas: list[ReplicaReport] = Field(description="Live Router replicas' last reports.")
    bad_requests: int = 0
    refused: int = 0

class VersionSummary(Contract):
    """A version's evidence as people and gates read it (from `evidence.summarize`)."""

    requests: int = 0
    errors: int = 0
    error_rate: float | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    shadow_requests: int = 0
    shadow_error_rate: float | None = None
    shadow_latency_p99_ms: float | None = None
    shadow_mean_abs_diff: float | None = None


class ShadowRecord(Contract):
    time: float
    primary_version: str
    shadow_version: str
    latency_ms: float
    primary: list[float]
    shadow: list[float]


class ShadowStats(Contract):
    sent: int = 0
    dropped: int = 0  # max_queued copies were already in flight
    busy: int = 0  # the application was saturated, or the target had no spare slot
    failed: int = 0
    compared: int = 0
    pending: int = 0
    target: Slot | None = None
    mean_abs_diff: float | None = None
    recent: list[ShadowRecord] = Field(default_factory=list)


class MonitorFeed(Contract):
    """Rows the Router sent the Monitor (fire-and-forget, dropped when it lags)."""

    sent_rows: int = 0
    dropped_rows: int = 0
    failed_batches: int = 0
    pending_batches: int = 0


class AnsweredBatch(Contract):
    """Requests the Router answered, sent to the Monitor in batches, off the response
    path: per request its time, id, version, slot, latency and whether it is logged;
    per row its features, the request it belongs to and the prediction."""

    time: list[float] = Field(default_factory=list)
    request_id: list[str] = Field(default_factory=list)
    version: list[str] = Field(default_factory=list)
    slot: list[str] = Field(default_factory=list)
    latency_ms: list[float] = Field(default_factory=list)
    logged: list[bool] = Field(default_factory=list)
    rows: list[dict[str, JsonValue]] = Field(default_factory=list)
    row_of: list[int] = Field(default_factory=list, description="Each row's request index.")
    row_index: list[int] = Field(default_factory=list, description="Each row's place in its "
                                 "request.")
    predictions: list[float] = Field(default_factory=list)


class LabelItem(Contract):
    """One label posted back: for a request id (and a row of it; the first by default)."""

    request_id: str = Field(min_length=1, max_length=200)
    label: float | int | bool
    row: int = Field(0, ge=0, le=10_000)


class FeedbackResult(Contract):
    """What a feedback post did: labels joined to an answered prediction, posted again
    for one already labelled, for an id the Monitor does not hold (never answered here,
    or older than the join horizon: expired), and all of them kept in the label log."""

    accepted: int = 0
    duplicates: int = 0
    unknown: int = 0
    stored: int = 0
    dropped: int = 0


class VersionQuality(Contract):
    """A quality monitor's view of one version since a moment: the labelled pairs and the
    metrics on them (overall and per slice), and the estimate from all its predictions."""

    labels: int = 0
    positives: int = Field(0, description="Labels of the positive class (above 0.5).")
    predictions: int = 0
    values: dict[str, float | None] = Field(default_factory=dict)
    slices: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    estimated: dict[str, float | None] = Field(default_factory=dict)


class WindowRecord(Contract):
    """One closed monitor window and what its detector found (journaled as
    `monitor_window`; the report reads these back)."""

    model_config = ConfigDict(extra="forbid")

    monitor: str
    window: int
    opened: float
    closed: float
    closed_by: Literal["size", "time"]
    flagged: bool
    kind: Literal["drift", "outlier", "quality"]
    rows: int
    # drift
    is_drift: bool | None = None
    p_value: float | None = None
    distance: float | None = None
    threshold: float | None = None
    features: dict[str, float] | None = None  # feature-wise p-values
    # online drift
    online: bool = False
    detections: list[dict[str, float]] | None = None
    detection_count: int | None = None
    ert: int | None = None
    feature_stats: dict[str, float] | None = None
    # outliers
    outlier_rate: float | None = None
    is_outlier_window: bool | None = None
    mean_score: float | None = None
    # counts on the reference's bins, per feature (for the report)
    histograms: list[list[int]] | None = None
    # quality: one version's labelled predictions of the window
    version: str | None = None
    values: dict[str, float | None] | None = None
    slices: dict[str, dict[str, float | None]] | None = None
    estimated: dict[str, float | None] | None = None
    dropped: list[str] | None = None  # the metrics that broke their bound

    def journal_fields(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class MonitorEvent(Contract):
    event: str
    monitor: str
    time: float
    action: str | None = None
    reason: str | None = None
    window: int | None = None
    outcome: dict[str, JsonValue] | None = None


class WatchSummary(Contract):
    """One monitor as `lifecycle status` and the rollout controller see it."""

    detector: str
    features: list[str]
    verified: bool | None
    window: int
    p_val: float
    actions: list[str]
    windows_closed: int
    windows_dropped: int
    rows_dropped: int
    rows_invalid: int
    rows_pending: int
    windows_detected: int
    sampled_fraction: float
    windows_since: int = Field(description="Windows opened and closed since `since`.")
    flagged_since: int
    drift_since: int
    detections_since: int
    outlier_rate_since: float | None
    last: WindowRecord | None
    recent: list[WindowRecord]
    retrains: list[float]
    quality: dict[str, VersionQuality] | None = Field(
        None, description="A quality monitor: each version since the moment asked.")


class LogSummary(Contract):
    written: int = 0
    dropped: int = 0
    failed_writes: int = 0
    last_error: str | None = None


class MonitorStatus(Contract):
    observed_rows: int
    monitors: dict[str, WatchSummary]
    events: list[MonitorEvent]
    predictions_log: LogSummary | None = None
    labels: FeedbackResult = Field(default_factory=FeedbackResult,
                                   description="Every label posted so far.")


# --- the rollout ---------------------------------------------------------------------

class RolloutPhase(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    BLOCKED = "blocked"  # a monitor with block_promotion flagged a window
    PAUSED = "paused"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"

    @property
    def ended(self) -> bool:
        return self in ENDED


ENDED = frozenset({RolloutPhase.PROMOTED, RolloutPhase.ROLLED_BACK, RolloutPhase.FAILED})


class RolloutCommand(StrEnum):
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    PAUSE = "pause"
    RESUME = "resume"


class ControllerConfig(Contract):
    """What the rollout stage hands the application's rollout controller."""

    application: str
    model: str
    topology: Topology
    strategy: Literal["canary", "blue_green", "ab"]
    on_failure: Literal["rollback", "pause", "alert"]
    on_inconclusive: Literal["extend", "pause", "rollback"] = "extend"
    confidence: float = Field(0.95, gt=0, lt=1)
    steps: list[RolloutStepParams]
    gate_interval_s: float = Field(gt=0)
    versions: dict[Slot, str | None]
    shadow: ShadowConfig | None = Field(description="The spec's shadow (a blue/green "
                                        "preview sends copies to the candidate instead).")
    preview_max_queued: int = Field(ge=1, description="Copies in flight during a blue/green "
                                    "preview (the spec's serve.shadow.max_queued).")
    champion_alias: str = CHAMPION_ALIAS
    tracking_uri: str | None
    mlflow_run_id: str | None
    journal: JournalRef | None
    monitors: list[str] = Field(default_factory=list)
    block_promotion: list[str] = Field(default_factory=list)
    approved_digest: str | None = Field(
        None, description="The digest the plan's signed approvals cover (None: nothing to "
        "hold the promotion to).")
    approvals: list[ApprovalRecord] = Field(default_factory=list, description="Those "
                                            "approvals (their expiry is checked at promotion).")
    candidate_digest: str | None = Field(
        None, description="The approval digest the candidate version carries in its tags "
        "(read by the rollout stage).")
    slos: list[SloParams] = Field(default_factory=list, description="The plan's SLOs: "
                                  "their burn acts on the rollout (on_burn).")
    freshness: dict[Slot, Freshness] = Field(
        default_factory=dict, description="When each slot's model and training data were "
        "made (freshness SLOs).")


Verdict = Literal["passed", "failed", "inconclusive"]


class GateCheck(Contract):
    """A gate with the value it saw, its verdict, and why."""

    gate: RolloutGateParams
    value: float | None
    verdict: Verdict
    interval: tuple[float, float] | None = Field(
        None, description="A confidence interval of the candidate's value, where there is one.")
    detail: str = ""


class RolloutEvent(Contract):
    event: str
    time: float
    fields: dict[str, JsonValue] = Field(default_factory=dict)


class Route(Contract):
    """Send the candidate `weights` of traffic (a preview: shadow copies only)."""

    kind: Literal["route"] = "route"
    weights: dict[Slot, float]
    step: int
    preview: bool = False


class Promote(Contract):
    """Make the candidate champion: alias, tags, the stable slot serves it, all traffic."""

    kind: Literal["promote"] = "promote"
    version: str


class RollBack(Contract):
    """All traffic to the stable version."""

    kind: Literal["rollback"] = "rollback"
    reason: str


class Alert(Contract):
    kind: Literal["alert"] = "alert"
    reason: str


class Record(Contract):
    """A journal record (the decisions and what they were based on)."""

    kind: Literal["record"] = "record"
    event: str
    fields: dict[str, JsonValue] = Field(default_factory=dict)


Action = Annotated[Route | Promote | RollBack | Alert | Record, Field(discriminator="kind")]


class Command(Contract):
    """An operator's (or a monitor's) command, numbered so it is carried out once."""

    seq: int
    kind: RolloutCommand
    reason: str | None = None


APPLICATION = "*"  # an SLO reading over every version the application served


class SloReading(Contract):
    """One SLO of one version (or of the whole application: version '*') at one look:
    the error budget left over its window, the burn rate over each window its alerts
    use, and the alerts firing (burn above the factor over both windows)."""

    slo: str
    sli: str
    version: str
    slot: Slot | None = None
    budget_left: float = Field(description="1: untouched; 0: spent; negative: overspent.")
    burn_rates: dict[str, float | None] = Field(description="Window (e.g. '1h') -> burn "
                                                "rate over it (None: no events).")
    firing: list[str] = Field(default_factory=list, description="Alerts firing, e.g. "
                              "'1h/5m above 14.4x'.")
    events: float = Field(0, description="Events (requests, or evaluations) in its window.")

    @property
    def exhausted(self) -> bool:
        return self.budget_left <= 0.0


class Observation(Contract):
    """What the controller gathered for one decision."""

    time: float
    evidence: dict[str, VersionEvidence] | None = Field(
        None, description="Cumulative evidence per version; None when it could not be read.")
    monitors: dict[str, WatchSummary] | None = Field(
        None, description="Windows opened and closed since the step began; None when the "
        "Monitor could not be read (or there is none).")
    slo: list[SloReading] | None = Field(
        None, description="Each SLO per version and for the application; None when the "
        "evidence could not be read (or the plan has no SLO).")
    error: str | None = None


class GateMemory(Contract):
    """What a gate vs stable carries from look to look within a step: its sequential
    test's log-likelihood ratio, the counts it has already added, the latency threshold
    it froze, and a decision once the test reached one (an SPRT stops there)."""

    llr: float = 0.0
    c_events: int = 0
    c_trials: int = 0
    s_events: int = 0
    s_trials: int = 0
    threshold: float | None = None
    decided: Verdict | None = None


class RolloutState(Contract):
    """The controller's whole state. Journaled at every decision (`rollout_state`): the
    journal is the source of truth, and a restarted controller resumes from it."""

    phase: RolloutPhase = RolloutPhase.STARTING
    step: int = 0
    step_started: float | None = Field(
        None, description="None while the step's weights are being applied: its evidence "
        "starts at the next look.")
    baseline: dict[str, VersionEvidence] = Field(
        default_factory=dict, description="Cumulative evidence when the step began.")
    weights: dict[Slot, float] | None = None
    versions: dict[Slot, str | None] = Field(default_factory=dict)
    gates: list[GateCheck] = Field(default_factory=list)
    memory: dict[str, GateMemory] = Field(default_factory=dict,
                                          description="Gates vs stable, by gate name.")
    reason: str | None = None
    looks: int = 0
    extended: bool = False
    alerted: list[str] = Field(default_factory=list)
    commands: int = Field(0, description="The highest command sequence number handled.")
    restarts: int = 0
    pending: list[Action] = Field(default_factory=list,
                                  description="Decided; not yet known to be carried out.")
    live: dict[str, VersionSummary] = Field(default_factory=dict)
    frozen: str | None = Field(None, description="Why promotion is frozen (an SLO with "
                               "block_promotion burning or out of budget); None: it is not.")
    slo: list[SloReading] = Field(default_factory=list, description="The last look's SLOs.")


class RolloutStatus(Contract):
    """What the controller reports (`lifecycle status`, the rollout stage)."""

    application: str
    strategy: Literal["canary", "blue_green", "ab"]
    phase: RolloutPhase
    step: int
    weights: dict[Slot, float] | None = None
    gates: list[GateCheck] = Field(default_factory=list)
    versions: dict[Slot, str | None]
    reason: str | None = None
    step_started: float | None = None
    live: dict[str, VersionSummary] = Field(
        default_factory=dict, description="Each version's evidence since the step began.")
    restarts: int = Field(0, description="Times the controller was restarted (its state "
                          "read back from the journal).")
    events: list[RolloutEvent] = Field(default_factory=list)
    frozen: str | None = None
    slo: list[SloReading] = Field(default_factory=list)
    model: str | None = Field(None, description="The registered model it promotes.")
    tracking_uri: str | None = Field(None, description="Where its registry is.")


# --- how a run ended; an operator's command answered -----------------------------------


class RunStatus(StrEnum):
    """How a run ended, as the journal's `run_finished` (and `lifecycle status`) say."""

    SUCCEEDED = "succeeded"  # every stage walked, none failed
    FAILED = "failed"  # a stage failed, an error stopped the walk, or its Ray Job failed
    INTERRUPTED = "interrupted"  # Ctrl-C (SIGINT)
    STOPPED = "stopped"  # SIGTERM or SIGHUP: `lifecycle stop`, `ray job stop`, a closed shell
    # never written, only read: no ending recorded
    RUNNING = "running"  # ... and its process is alive on this machine
    INCOMPLETE = "incomplete"  # ... and it is not (killed hard), or ran on another machine


def command_refusal(phase: RolloutPhase, command: RolloutCommand) -> str | None:
    """Why `command` would do nothing in `phase` (None: it applies). The controller
    answers with it at once, so an operator's command that changes nothing says so."""
    if phase.ended:
        return f"the rollout has ended ({phase.value})"
    if command == RolloutCommand.PAUSE and phase == RolloutPhase.PAUSED:
        return "the rollout is already paused"
    if command == RolloutCommand.RESUME and phase not in (RolloutPhase.PAUSED,
                                                          RolloutPhase.BLOCKED):
        return f"the rollout is not paused ({phase.value})"
    return None


class CommandReply(Contract):
    """The controller's answer to `lifecycle promote | rollback | pause | resume`."""

    accepted: bool
    phase: RolloutPhase = Field(description="The rollout's phase when the command arrived.")
    message: str
