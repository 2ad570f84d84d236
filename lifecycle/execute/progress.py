"""How far the long stages are, for the person watching (`progress` events; never
journaled): a tune stage's trials, from a Tune callback in this process; a train stage's
epochs (each `ray.train.report`), from a Train callback in Ray Train's controller, which
runs in another process — it writes its count to the store, and a thread here reads it.

Tune pickles its run config (callbacks included) with the experiment: the callback holds
only a key into this module's sinks, never the console behind `emit`."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..plan import TrainParams
from ..store import Store

Emit = Callable[[str, dict[str, Any]], None]
_SINKS: dict[str, Emit] = {}
_KEYS = itertools.count()


def send(key: str, fields: dict[str, Any]) -> None:
    emit = _SINKS.get(key)
    if emit is not None:
        emit("progress", fields)


@contextmanager
def sink(emit: Emit) -> Iterator[str]:
    key = f"sink-{next(_KEYS)}"
    _SINKS[key] = emit
    try:
        yield key
    finally:
        _SINKS.pop(key, None)


def epochs_of(params: TrainParams) -> int | None:
    """The entrypoint's epoch count, when its config names one (`epochs`)."""
    epochs = params.config.get("epochs")
    return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None


def tune_callback(key: str, stage_id: str, metric: str, mode: str, trials: int) -> Any:
    """A Tune callback: trials finished of `trials`, the running ones' epochs, the best
    value of the tune metric so far."""
    from ray.tune import Callback

    class TrialProgress(Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.finished: set[str] = set()
            self.best: float | None = None
            self.epochs: dict[str, int] = {}

        def _send(self) -> None:
            running = len(self.epochs) - len(self.finished)
            bits = [f"{running} running"] if running > 0 else []
            if self.best is not None:
                bits.append(f"best {metric} {self.best:.4g}")
            send(key, {"stage": stage_id, "unit": "trials", "done": len(self.finished),
                       "total": trials, "detail": " · ".join(bits)})

        def on_trial_result(self, iteration: int, trials: list[Any], trial: Any,
                            result: dict[str, Any], **info: Any) -> None:
            self.epochs[trial.trial_id] = int(result.get("training_iteration") or 0)
            value = result.get(metric)
            if isinstance(value, (int, float)):
                better = self.best is None or (value > self.best if mode == "max"
                                               else value < self.best)
                self.best = float(value) if better else self.best
            self._send()

        def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any,
                              **info: Any) -> None:
            self.epochs.setdefault(trial.trial_id, 0)
            self.finished.add(trial.trial_id)
            self._send()

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any,
                           **info: Any) -> None:
            self.on_trial_complete(iteration, trials, trial)

    return TrialProgress()


def train_callback(store_uri: str, rel: str) -> Any:
    """A Ray Train callback (it runs in Train's controller): after each report, the
    count and rank 0's metrics to `rel` in the store."""
    from ray.train import UserCallback

    class ReportCount(UserCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.reports = 0

        def after_report(self, run_context: Any, metrics: list[dict[str, Any]],
                         checkpoint: Any) -> None:
            self.reports += 1
            first = metrics[0] if metrics else {}
            try:
                Store(store_uri).write_json(rel, {"reports": self.reports, "metrics": {
                    k: v for k, v in first.items() if isinstance(v, (int, float))}})
            except Exception:  # progress is for show; training goes on
                pass

    return ReportCount()


@contextmanager
def train_progress(store: Store, run_id: str, stage_id: str, params: TrainParams,
                   emit: Emit) -> Iterator[Any]:
    """Yields the Train callback; while training runs, a thread here turns what it
    writes into `progress` events (epochs done of `train.config.epochs`)."""
    rel = f"runs/{run_id}/progress/{stage_id}.json"
    total = epochs_of(params)
    stop = threading.Event()

    def watch() -> None:
        seen = None
        while True:
            stopping = stop.wait(1.0)  # one last look after training: its last report
            state = store.read_json(rel)
            if state is None or state == seen:
                if stopping:
                    break
                continue
            seen = state
            shown = dict([(k, v) for k, v in state["metrics"].items() if k != "epoch"][:2])
            emit("progress", {"stage": stage_id, "unit": "epochs", "done": state["reports"],
                              "total": total, "detail": " · ".join(
                                  f"{k} {v:.4g}" for k, v in shown.items())})
            if stopping:
                break

    thread = threading.Thread(target=watch, name="train-progress", daemon=True)
    thread.start()
    try:
        yield train_callback(store.uri, rel)
    finally:
        stop.set()
        thread.join(timeout=5)
