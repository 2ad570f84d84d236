"""`monitors`: alibi-detect drift and outlier detectors on live traffic, and their actions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, HttpUrl, model_validator

from .base import Duration, Identifier, Probability, SpecModel

DriftDetector = Literal["ks", "cvm", "chisquare", "tabular", "fet", "mmd", "lsdd", "classifier"]
OutlierDetector = Literal["iforest", "mahalanobis"]
Detector = Literal["ks", "cvm", "chisquare", "tabular", "fet", "mmd", "lsdd", "classifier",
                   "iforest", "mahalanobis"]
Action = Literal["alert", "block_promotion", "rollback", "retrain"]
QualityMetric = Literal["accuracy", "auc", "f1", "precision", "recall", "logloss",
                        "rmse", "mae", "r2"]

DRIFT_DETECTORS = frozenset(DriftDetector.__args__)  # type: ignore[attr-defined]
OUTLIER_DETECTORS = frozenset(OutlierDetector.__args__)  # type: ignore[attr-defined]
ONLINE_CAPABLE = frozenset({"cvm", "fet", "mmd", "lsdd"})
# Smallest window each detector gives a usable answer for (two-sample tests need
# enough rows per window; classifier drift cross-validates within the window).
MIN_WINDOW = {"ks": 20, "cvm": 20, "chisquare": 50, "tabular": 50, "fet": 50, "mmd": 50,
              "lsdd": 50, "classifier": 200, "iforest": 1, "mahalanobis": 1}
# online detectors test the last `window` rows at every row: calibration (at fit time)
# costs bootstraps x window x reference rows, so both are bounded
ONLINE_MIN_WINDOW = 10
ONLINE_MAX_WINDOW = 500
ONLINE_MAX_BOOTSTRAPS = 100_000
# classifier on pytorch would need a model from the user: this version fits a logistic
# regression (sklearn) itself
BACKENDS = {"mmd": ("pytorch",), "lsdd": ("pytorch",), "classifier": ("sklearn",),
            "mahalanobis": ("numpy",)}


class Alert(SpecModel):
    webhook: HttpUrl | None = Field(None, description="URL that receives a JSON POST.")
    command: list[str] | None = Field(None, min_length=1, description="Command run with the "
                                      "event as JSON on stdin.")
    retries: int = Field(3, ge=0, le=20, description="Delivery attempts after the first.")


class Retrain(SpecModel):
    cooldown: Duration = Field(86400.0, ge=60, description="Least time between two retrains.")
    max_per_week: int = Field(2, ge=1, le=50, description="Most retrains in any 7 days.")
    recent_data: Duration | None = Field(
        None, gt=0, description="Train only on rows this recent (by data.time_column); "
        "default: all the data, read afresh.")


class Preprocess(SpecModel):
    categorical_encoding: Literal["ordinal", "onehot"] = Field(
        "ordinal", description="How category features become numbers.")
    reduce_dim: int | None = Field(None, ge=1, description="MMD/LSDD: project to this many "
                                   "dimensions first.")


class SliceSpec(SpecModel):
    feature: Identifier = Field(description="A contract feature.")
    bins: list[float] = Field(min_length=1, description="Numeric: the edges of its bins "
                              "(e.g. [0, 100, 1000]: below 0, 0-100, 100-1000, above).")

    @model_validator(mode="after")
    def _sorted(self) -> SliceSpec:
        if self.bins != sorted(set(self.bins)):
            raise ValueError(f"bins must increase, without repeats (got {self.bins})")
        return self


class MonitorSpec(SpecModel):
    name: Identifier = Field(description="Unique monitor name (used by rollout gates).")
    kind: Literal["detector", "quality"] = Field(
        "detector", description="detector: an alibi-detect detector on the inputs; quality: "
        "the model's live quality from the labels posted back (docs/monitors.md).")
    detector: Detector | None = Field(None, description="kind detector: the alibi-detect "
                                      "detector.")
    metrics: list[QualityMetric] = Field(
        default_factory=list, description="kind quality: the metrics computed on labelled "
        "predictions (default: the evaluation's metrics).")
    slices: list[Identifier | SliceSpec] = Field(
        default_factory=list, description="kind quality: also per slice — a category "
        "feature's values, or a numeric feature's bins.")
    min: dict[QualityMetric, float] = Field(
        default_factory=dict, description="kind quality: a window below this is a drop "
        "(higher-is-better metrics).")
    max: dict[QualityMetric, float] = Field(
        default_factory=dict, description="kind quality: a window above this is a drop "
        "(rmse, mae, logloss).")
    on_drop: list[Action] = Field(default_factory=list, description="kind quality: actions "
                                  "on a drop.")
    estimate: bool = Field(False, description="kind quality, binary classifier: also estimate "
                           "accuracy and AUC from calibrated probabilities while labels lag.")
    horizon: Duration = Field(86_400.0, gt=0, description="kind quality: how long an answered "
                              "prediction waits for its label before it expires.")
    features: Literal["all"] | list[Identifier] = Field(
        "all", description="'all' contract features, or a list of them.")
    window: int = Field(1000, ge=1, le=1_000_000, description="Rows per detection window.")
    window_duration: Duration | None = Field(None, description="Also close a window after "
                                             "this long.")
    p_val: Probability = Field(0.05, description="Drift: significance level per window.")
    correction: Literal["bonferroni", "fdr"] = Field(
        "bonferroni", description="Drift: multiple-testing correction across features.")
    online: bool = Field(False, description="Use the online variant (cvm, fet, mmd, lsdd): "
                         "tests the last `window` rows at every row instead of one test per "
                         "window; ert sets its false-alarm rate.")
    ert: int = Field(1000, ge=10, le=1_000_000, description="Online: expected run time "
                     "(rows) between false alarms on undrifted traffic.")
    n_bootstraps: int | None = Field(None, ge=100, le=1_000_000, description="Online: "
                                     "simulations that calibrate the thresholds at fit time "
                                     "(default 10 x ert, as alibi-detect advises).")
    backend: Literal["numpy", "pytorch", "sklearn", "tensorflow"] | None = Field(
        None, description="Detector backend (default: what the detector needs).")
    reference_size: int = Field(1000, ge=10, le=1_000_000, description="Reference rows "
                                "sampled from the training data.")
    threshold: float | None = Field(None, gt=0, description="Outlier: score threshold "
                                    "(default: fitted on the reference).")
    max_outlier_rate: Probability = Field(0.05, description="Outlier: rate per window that "
                                          "triggers actions.")
    preprocess: Preprocess = Field(default_factory=Preprocess, description="Feature "
                                   "preprocessing before the detector.")
    on_drift: list[Action] = Field(default_factory=list, description="Actions on drift.")
    on_outlier: list[Action] = Field(default_factory=list, description="Actions on outliers.")
    alert: Alert | None = Field(None, description="Where alerts go (default: log and metric).")
    retrain: Retrain | None = Field(None, description="Retraining limits for the retrain "
                                    "action.")

    @model_validator(mode="after")
    def _check(self) -> MonitorSpec:
        if self.kind == "quality":
            return self._check_quality()
        if self.detector is None:
            raise ValueError("a monitor needs a detector (or kind: quality)")
        quality_only = [k for k in ("metrics", "slices", "min", "max", "on_drop")
                        if getattr(self, k)] + (["estimate"] if self.estimate else [])
        if quality_only:
            raise ValueError(f"{', '.join(quality_only)} belong to kind: quality monitors")
        drift = self.detector in DRIFT_DETECTORS
        if self.on_outlier and drift:
            raise ValueError(f"'{self.detector}' is a drift detector: use on_drift, not "
                             "on_outlier")
        if self.on_drift and not drift:
            raise ValueError(f"'{self.detector}' is an outlier detector: use on_outlier, "
                             "not on_drift")
        if self.online and self.detector not in ONLINE_CAPABLE:
            raise ValueError(f"'{self.detector}' has no online variant; online works with "
                             + ", ".join(sorted(ONLINE_CAPABLE)))
        if self.online:
            self._check_online()
        elif self.n_bootstraps is not None:
            raise ValueError("n_bootstraps calibrates online detectors: set online: true "
                             "or remove it")
        minimum = MIN_WINDOW[self.detector]
        if self.window < minimum and not self.online:
            raise ValueError(f"window {self.window} is smaller than the {minimum} rows "
                             f"'{self.detector}' needs per window")
        if self.backend is not None:
            allowed = BACKENDS.get(self.detector, ("numpy",) if drift else ("sklearn",))
            if self.backend not in allowed:
                extra = (" (TensorFlow is not installed with lifecycle)"
                         if self.backend == "tensorflow" else "")
                raise ValueError(f"'{self.detector}' cannot run on backend "
                                 f"'{self.backend}'{extra}; use {' or '.join(allowed)}")
        actions = self.on_drift + self.on_outlier
        if "retrain" in actions and self.retrain is None:
            raise ValueError("the retrain action needs a retrain block (cooldown, "
                             "max_per_week) so noise cannot cause a retraining loop")
        return self

    def _check_quality(self) -> MonitorSpec:
        if self.detector is not None:
            raise ValueError("a quality monitor has no detector: remove detector, or use "
                             "kind: detector")
        if self.on_drift or self.on_outlier:
            raise ValueError("a quality monitor acts on_drop, not on_drift/on_outlier")
        if self.on_drop and not (self.min or self.max):
            raise ValueError("on_drop needs a bound: min (e.g. {auc: 0.85}) or max")
        if "retrain" in self.on_drop and self.retrain is None:
            raise ValueError("the retrain action needs a retrain block (cooldown, "
                             "max_per_week) so noise cannot cause a retraining loop")
        return self

    def _check_online(self) -> None:
        """Refused here, not after a run has trained for an hour: what alibi-detect's
        threshold calibration cannot do, or would take hours of CPU at fit time."""
        if self.window < ONLINE_MIN_WINDOW:
            raise ValueError(f"online window {self.window} is smaller than "
                             f"{ONLINE_MIN_WINDOW} rows")
        if self.window > ONLINE_MAX_WINDOW:
            raise ValueError(f"online window {self.window} is larger than "
                             f"{ONLINE_MAX_WINDOW} rows: an online detector re-tests the last "
                             "`window` rows at every row; use online: false for large windows")
        if 2 * self.window > self.reference_size:
            raise ValueError(f"online window {self.window} needs reference_size of at least "
                             f"{2 * self.window} (the reference is split into a reference "
                             "part and a first test window)")
        if self.bootstraps <= self.ert:
            raise ValueError(f"n_bootstraps {self.bootstraps} must be larger than ert "
                             f"{self.ert}: the thresholds are the 1 - 1/ert quantile of the "
                             "simulations")
        if self.bootstraps > ONLINE_MAX_BOOTSTRAPS:
            raise ValueError(f"ert {self.ert} needs {self.bootstraps} bootstrap simulations "
                             f"(more than {ONLINE_MAX_BOOTSTRAPS}: hours of CPU at fit time); "
                             "lower ert, or set n_bootstraps (more than ert)")

    @property
    def bootstraps(self) -> int:
        """Online: the simulations that calibrate the thresholds."""
        return self.n_bootstraps or max(1000, 10 * self.ert)
