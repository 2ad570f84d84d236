"""`lifecycle rollout simulate`: each scenario's outcomes over the seeded repetitions
(the rates with a 95% interval), the time to a decision, and one rollout's decisions."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.markup import escape


def _interval(k: int, n: int, z: float = 1.96) -> str:
    if n == 0:
        return ""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return f" [dim](95%: {max(0.0, centre - half):.1%}–{min(1.0, centre + half):.1%})[/]"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"


def render_simulation(out: Console, result: Any) -> None:
    if result.replay_phase is not None:
        out.print(f"[bold]{escape(result.application)}[/]: {result.replayed} recorded "
                  f"observations replayed through this spec's gates")
        for t, what in result.timeline:
            out.print(f"  {t:>12.0f}  {escape(what)}")
        out.print(f"  → [bold]{result.replay_phase}[/]"
                  + (f": {escape(result.replay_reason)}" if result.replay_reason else ""))
        return
    for s in result.summaries:
        n = len(s.outcomes)
        counts: dict[str, int] = {}
        for o in s.outcomes:
            counts[o.phase.value] = counts.get(o.phase.value, 0) + 1
        out.print(f"[bold]{escape(s.scenario.name)}[/] at {s.traffic:g} req/s (stable: "
                  f"{s.error_rate:.2%} errors, median {s.median_ms:g} ms), {n} seeded "
                  "rollouts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        wrong = round(s.wrong * n)
        label = "missed regressions" if s.scenario.regressed else "false rollbacks"
        out.print(f"  {label}: {s.wrong:.1%}{_interval(wrong, n)}")
        out.print(f"  median time to a decision: {_duration(s.median_seconds())}")
        first = s.outcomes[0]
        for t, what in first.timeline[:12]:
            out.print(f"    [dim]{_duration(t):>10}  {escape(what)}[/]")
