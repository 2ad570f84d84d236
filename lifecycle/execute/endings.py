"""How a run ends, recorded as what it was. A walk that completes is `succeeded` or
`failed` (a stage failed); anything else that stops it is recorded before the process
goes: Ctrl-C is `interrupted`, SIGTERM or SIGHUP (`lifecycle stop`, `ray job stop`, a
closed terminal) `stopped`, an exception `failed` with its message. Only a hard kill
(SIGKILL, a lost node) leaves no ending: `lifecycle status` shows such a run as
`incomplete`, and the client of a Ray Job records the job's ending for it.

Ray's driver turns SIGTERM into `sys.exit(15)`, a SystemExit that walks through every
`except Exception` and would let a `finally` believe the walk went well: while a run is
in progress our own handler raises `RunStopped` instead, and a SystemExit still met is
a stop all the same."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from ..errors import ExitCode, LifecycleError
from ..runtime.contract import RunStatus

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class RunStopped(BaseException):
    """A stop signal arrived. A BaseException, like KeyboardInterrupt: no stage's
    `except Exception` may swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


@dataclass(frozen=True)
class Ending:
    status: RunStatus
    exit_code: ExitCode
    message: str


def ending_of(exc: BaseException) -> Ending:
    """What an exception that stopped the walk means for the run."""
    if isinstance(exc, KeyboardInterrupt):
        return Ending(RunStatus.INTERRUPTED, ExitCode.INTERRUPTED, "interrupted (Ctrl-C)")
    if isinstance(exc, RunStopped):
        return Ending(RunStatus.STOPPED, ExitCode.STOPPED, str(exc))
    if isinstance(exc, SystemExit):  # Ray's own SIGTERM handler, or sys.exit in our process
        return Ending(RunStatus.STOPPED, ExitCode.STOPPED, f"stopped (exit {exc.code})")
    if isinstance(exc, LifecycleError):  # e.g. a cluster that could not be reached
        hint = f" ({exc.hint})" if exc.hint else ""
        return Ending(RunStatus.FAILED, exc.exit_code, exc.message + hint)
    message = f"{type(exc).__name__}: {exc}"
    return Ending(RunStatus.FAILED, ExitCode.RUNTIME, message)


class StopSignals:
    """SIGTERM and SIGHUP raise RunStopped in the main thread while active; the previous
    handlers come back on exit. `install()` again after something (ray.init) replaced
    them."""

    def __init__(self) -> None:
        self.previous: dict[int, object] = {}
        self.main = threading.current_thread() is threading.main_thread()

    def _raise(self, signum: int, _frame: FrameType | None) -> None:
        raise RunStopped(signum)

    def install(self) -> None:
        if not self.main:  # signals reach only the main thread; elsewhere nothing to do
            return
        for sig in STOP_SIGNALS:
            current = signal.signal(sig, self._raise)
            self.previous.setdefault(sig, current)

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self.previous.clear()


@contextmanager
def stop_signals() -> Iterator[StopSignals]:
    signals = StopSignals()
    signals.install()
    try:
        yield signals
    finally:
        signals.restore()
