"""Windows of live rows, closed by size (and, if the spec says, by time), queued for the
detector. The detector may lag the traffic (an MMD permutation test takes about a second):
the queue is bounded, and when it is full the oldest closed window is dropped and counted,
so the monitor samples windows instead of slowing or failing the serving path."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Window:
    index: int  # 0, 1, 2 ... in the order windows closed
    opened: float
    closed: float
    x: np.ndarray
    reason: str  # "size" or "time"


@dataclass
class WindowBuffer:
    size: int
    duration_s: float | None = None
    min_rows: int = 1  # a window closed by time needs at least this many rows
    max_queued: int = 2
    parts: list[np.ndarray] = field(default_factory=list)
    rows: int = 0
    opened: float | None = None
    queue: collections.deque[Window] = field(default_factory=collections.deque)
    closed_count: int = 0
    dropped_windows: int = 0
    dropped_rows: int = 0  # rows in windows the detector never saw
    invalid_rows: int = 0  # rows with a missing value (detectors take none)

    def add(self, x: np.ndarray, now: float) -> None:
        """Append rows; close every full window (a large batch may close several)."""
        if x.size and np.isnan(x).any():  # rare: copy only when a row must go
            keep = ~np.isnan(x).any(axis=1)
            self.invalid_rows += int((~keep).sum())
            x = x[keep]
        while len(x):
            if self.opened is None:
                self.opened = now
            take = min(self.size - self.rows, len(x))
            self.parts.append(x[:take])
            self.rows += take
            x = x[take:]
            if self.rows >= self.size:
                self._close(now, "size")
        self.tick(now)

    def tick(self, now: float) -> None:
        """Close a window that has been open longer than `duration_s`."""
        if (self.duration_s is not None and self.opened is not None
                and now - self.opened >= self.duration_s and self.rows >= self.min_rows):
            self._close(now, "time")

    def _close(self, now: float, reason: str) -> None:
        assert self.opened is not None
        window = Window(self.closed_count, self.opened, now, np.vstack(self.parts), reason)
        self.closed_count += 1
        self.parts, self.rows, self.opened = [], 0, None
        self.queue.append(window)
        while len(self.queue) > self.max_queued:
            old = self.queue.popleft()
            self.dropped_windows += 1
            self.dropped_rows += len(old.x)

    def take(self) -> Window | None:
        return self.queue.popleft() if self.queue else None

    def counts(self) -> dict[str, int | float]:
        seen = self.closed_count - self.dropped_windows - len(self.queue)
        return {"windows_closed": self.closed_count, "windows_dropped": self.dropped_windows,
                "rows_dropped": self.dropped_rows, "rows_invalid": self.invalid_rows,
                "rows_pending": self.rows, "windows_detected": seen,
                "sampled_fraction": (seen / (seen + self.dropped_windows))
                if seen + self.dropped_windows else 1.0}
