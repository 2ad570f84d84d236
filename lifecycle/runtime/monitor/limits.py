"""The retrain action's brakes: a cooldown between two retrains and a cap per 7 days, so a
noisy detector cannot start a retraining loop. Pure: the monitor keeps the history."""

from __future__ import annotations

from dataclasses import dataclass, field

WEEK_S = 7 * 86400.0


@dataclass
class RetrainLimiter:
    cooldown_s: float
    max_per_week: int
    started: list[float] = field(default_factory=list)  # times retrains were started

    def check(self, now: float) -> tuple[bool, str]:
        """(allowed, why) for a retrain asked for at `now`."""
        if self.started and now - self.started[-1] < self.cooldown_s:
            wait = self.cooldown_s - (now - self.started[-1])
            return False, (f"cooldown: the last retrain started {now - self.started[-1]:.0f}s "
                           f"ago; the next may start in {wait:.0f}s")
        recent = [t for t in self.started if now - t < WEEK_S]
        if len(recent) >= self.max_per_week:
            return False, (f"weekly cap: {len(recent)} retrain(s) in the last 7 days "
                           f"(max_per_week {self.max_per_week})")
        return True, "allowed"

    def record(self, now: float) -> None:
        self.started.append(now)
