"""The Monitor's threads yield the CPU to serving (a real OS call, Linux niceness)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from lifecycle.runtime.monitor.priority import lower_priority


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness")
def test_a_thread_is_lowered_once_and_never_raised() -> None:
    seen: dict[str, int] = {}

    def work() -> None:
        tid = threading.get_native_id()
        start = os.getpriority(os.PRIO_PROCESS, tid)
        lower_priority(start + 5)
        seen["lowered"] = os.getpriority(os.PRIO_PROCESS, tid) - start
        lower_priority(start)  # asking for more priority back is ignored, not an error
        seen["after"] = os.getpriority(os.PRIO_PROCESS, tid) - start
        child = threading.Thread(target=lambda: seen.update(
            child=os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) - start))
        child.start()
        child.join()

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert seen == {"lowered": 5, "after": 5, "child": 5}


def test_a_thread_that_is_gone_is_no_error() -> None:
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    assert t.native_id is not None
    lower_priority(19, tid=t.native_id)  # ended: the OS answers "no such thread"
