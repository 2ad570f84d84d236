"""The Monitor's threads run below the model replicas' CPU priority: detection takes what
serving leaves (and windows are sampled when that is not enough)."""

from __future__ import annotations

import os
import threading


def lower_priority(nice: int, tid: int | None = None) -> None:
    """Lower one thread's CPU priority to `nice` (on Linux niceness is per thread, and a
    new thread inherits its creator's). Raising it back needs privileges: never tried."""
    try:
        tid = threading.get_native_id() if tid is None else tid
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    except (OSError, AttributeError):  # another OS, or the thread is gone: run as is
        pass
