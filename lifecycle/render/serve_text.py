"""`lifecycle status SPEC`: a deployed application's versions, weights, per-version
traffic, its monitors' last windows, the rollout's step and gate values, and its last
events."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from ..runtime.contract import MODEL_PREFIX


def _ms(v: Any) -> str:
    return "—" if v is None else f"{v:.1f} ms"


def _rate(v: Any) -> str:
    return "—" if v is None else f"{v:.2%}"


def render_serving(out: Console, state: dict[str, Any]) -> None:
    out.print(f"[bold]{escape(state['application'])}[/]  {state['status']}")
    router = state.get("router") or {}
    weights = router.get("weights") or {}
    evidence = router.get("versions") or {}
    for slot, version in sorted(state.get("versions", {}).items()):
        live = evidence.get(str(version)) or {}  # counted per version, not per slot
        dep = state.get("deployments", {}).get(f"{MODEL_PREFIX}{slot}", {})
        out.print(f"  [stage]{slot:<9}[/] v{version}  weight {weights.get(slot, 0):g}%  "
                  f"{live.get('requests', 0)} requests, errors "
                  f"{_rate(live.get('error_rate'))}, p50 {_ms(live.get('latency_p50_ms'))}, "
                  f"p99 {_ms(live.get('latency_p99_ms'))}  [dim]{dep.get('status', '')} "
                  f"{dep.get('replicas', '')}[/]")
    mode = state.get("serve_mode") or {}
    if mode.get("high_throughput") is False:
        out.print("  [warning]Ray Serve runs in its default mode on this cluster: start its "
                  "nodes with RAY_SERVE_THROUGHPUT_OPTIMIZED=1 for its high-throughput data "
                  "plane (docs/serve.md)[/]")
    if router.get("replicas") is not None:
        out.print(f"  router: {router['replicas']} replica(s) reporting, "
                  f"{router.get('in_flight', 0)} in flight, "
                  f"{router.get('bad_requests', 0)} bad requests")
    shadow = router.get("shadow") or {}
    if shadow.get("target"):
        out.print(f"  shadow → {shadow['target']}: {shadow.get('compared', 0)} compared, "
                  f"{shadow.get('dropped', 0) + shadow.get('busy', 0)} dropped "
                  f"({shadow.get('busy', 0)} target busy), {shadow.get('failed', 0)} failed, "
                  f"mean |Δ| {shadow.get('mean_abs_diff') or 0:.4f}")
    if router.get("error"):
        out.print(f"  [warning]router: {escape(router['error'])}[/]")
    cost = state.get("cost") or {}
    if cost.get("error"):
        out.print(f"  [warning]cost: {escape(cost['error'])}[/]")
    elif cost:
        per = cost.get("per_1000_predictions")
        out.print(f"  cost: {'—' if per is None else f'{per:.4f}'} {cost.get('currency') or ''} "
                  f"per 1,000 predictions (last {cost['window_s'] / 60:.0f} min, "
                  f"{cost['predictions']} predictions, replicas "
                  + ", ".join(f"{n} {k}" for n, k in sorted(cost["replicas"].items())) + ")")
    _monitors(out, state.get("monitors"), router.get("monitor"))
    rollout = state.get("rollout")
    if rollout:
        out.print(f"  rollout ({rollout['strategy']}): [bold]{rollout['phase']}[/] at step "
                  f"{rollout['step'] + 1}" + (f" — {escape(str(rollout['reason']))}"
                                             if rollout.get("reason") else ""))
        for version, ev in sorted((rollout.get("live") or {}).items()):
            out.print(f"    this step, v{version}: {ev.get('requests', 0)} requests, errors "
                      f"{_rate(ev.get('error_rate'))}, p99 {_ms(ev.get('latency_p99_ms'))}"
                      + (f"; {ev['shadow_requests']} shadow copies" if ev.get("shadow_requests")
                         else ""))
        for check in rollout.get("gates") or []:
            g = check["gate"]
            bound = (f"max +{g['max_increase']}" if g.get("max_increase") is not None else
                     f"max x{g['max_ratio']}" if g.get("max_ratio") is not None else
                     f"≤ {g['max']}" if g.get("max") is not None else f"≥ {g.get('min')}")
            value = "—" if check.get("value") is None else f"{check['value']:.4g}"
            style = {"failed": "error", "passed": "ok"}.get(check["verdict"], "dim")
            interval = check.get("interval")
            shown = "" if not interval else f" [{interval[0]:.4g}, {interval[1]:.4g}]"
            out.print(f"    [{style}]{check['verdict']:<12}[/] {g['metric']}"
                      f"{' vs stable' if g.get('vs') else ''} {value}{shown} {bound}"
                      + (f"  [dim]{escape(check['detail'])}[/]" if check.get("detail") else ""))
        if rollout.get("frozen"):
            out.print(f"    [warning]promotion frozen: {escape(str(rollout['frozen']))}[/]")
        for r in rollout.get("slo") or []:
            who = "application" if r["version"] == "*" else f"v{r['version']}"
            rates = ", ".join(f"{w} {'—' if v is None else f'{v:.1f}x'}"
                              for w, v in r["burn_rates"].items())
            style = "error" if r["firing"] else "warning" if r["budget_left"] <= 0 else "dim"
            out.print(f"    [{style}]SLO {escape(r['slo'])} ({r['sli']}) {who}: budget left "
                      f"{r['budget_left']:.0%}, burn {rates}"
                      + (f" — firing {escape('; '.join(r['firing']))}" if r["firing"] else "")
                      + "[/]")
        if rollout.get("restarts"):
            out.print(f"    [warning]the controller was restarted {rollout['restarts']} "
                      "time(s); it resumed from its journal[/]")
        for e in rollout.get("events") or []:
            detail = {k: v for k, v in (e.get("fields") or {}).items() if v is not None}
            out.print(f"    [dim]{e['event']} {escape(str(detail))}[/]")


def _monitors(out: Console, watched: dict[str, Any] | None, fed: dict[str, Any] | None
              ) -> None:
    if not watched:
        return
    if watched.get("error"):
        out.print(f"  [warning]monitors: {escape(watched['error'])}[/]")
        return
    sent = f"{watched.get('observed_rows', 0)} rows observed"
    if fed and fed.get("dropped_rows"):
        sent += f", {fed['dropped_rows']} dropped by the router (monitor behind)"
    out.print(f"  monitors: {sent}")
    log = watched.get("predictions_log")
    if log:
        out.print(f"  prediction log: {log.get('written', 0)} records written, "
                  f"{log.get('dropped', 0)} dropped"
                  + (f", [warning]{log['failed_writes']} failed write(s): "
                     f"{escape(str(log.get('last_error')))}[/]" if log.get("failed_writes")
                     else ""))
    labels = watched.get("labels") or {}
    if any(labels.values()):
        out.print(f"  labels: {labels.get('accepted', 0)} joined, "
                  f"{labels.get('duplicates', 0)} repeated, "
                  f"{labels.get('unknown', 0)} unknown or expired; "
                  f"{labels.get('stored', 0)} kept in the label log, "
                  f"{labels.get('dropped', 0)} not kept")
    for name, m in sorted(watched.get("monitors", {}).items()):
        last = m.get("last") or {}
        if m.get("detector") == "quality":
            _quality(out, name, m)
            continue
        if "p_value" in last:
            seen = f"last window p={last['p_value']:.3g}" + (" [error]drift[/]"
                                                             if last.get("is_drift") else "")
        elif last.get("online"):
            seen = (f"last window {last.get('detection_count', 0)} detection(s)"
                    + (" [error]drift[/]" if last.get("is_drift") else "")
                    + (f", statistic {last['distance']:.3g} vs threshold "
                       f"{last['threshold']:.3g}" if last.get("distance") is not None else ""))
        elif "outlier_rate" in last:
            seen = f"last window outliers {last['outlier_rate']:.2%}" + (
                " [error]above max[/]" if last.get("is_outlier_window") else "")
        else:
            seen = f"no window yet ({m.get('rows_pending', 0)}/{m.get('window')} rows)"
        sampled = "" if m.get("windows_dropped", 0) == 0 else (
            f", [warning]{m['windows_dropped']} window(s) skipped (sampled "
            f"{m.get('sampled_fraction', 1):.0%})[/]")
        verified = " verified" if m.get("verified") else ""
        out.print(f"    {escape(name)} ({m['detector']}{verified}): "
                  f"{m.get('windows_detected', 0)} "
                  f"windows, {m.get('flagged_since', 0)} flagged; {seen}{sampled}")


def _values(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {'—' if v is None else f'{v:.4f}'}" for k, v in sorted(
        values.items())) or "—"


def _quality(out: Console, name: str, m: dict[str, Any]) -> None:
    out.print(f"    {escape(name)} (quality): {m.get('windows_detected', 0)} windows, "
              f"{m.get('flagged_since', 0)} flagged")
    for version, q in sorted((m.get("quality") or {}).items()):
        estimated = {k: v for k, v in (q.get("estimated") or {}).items() if v is not None}
        out.print(f"      v{version}: {q.get('labels', 0)} labelled of "
                  f"{q.get('predictions', 0)} answered; {_values(q.get('values') or {})}"
                  + (f"; estimated {_values(estimated)}" if estimated else ""))
        for key, values in sorted((q.get("slices") or {}).items()):
            out.print(f"        [dim]{escape(key)}: {_values(values)}[/]")


def render_feedback(out: Console, done: Any) -> None:
    """`lifecycle feedback`: what was joined, and the quality per version and slice."""
    out.print(f"{done.labels} labels: {done.joined} joined with logged predictions, "
              f"{done.unknown} not in the log (not sampled, or expired), "
              f"{done.duplicates} repeated; kept in {done.stored}")
    for version, v in sorted(done.versions.items()):
        out.print(f"  v{version}: {v['labels']} labelled; {_values(v['values'])}")
        for key, values in sorted(v["slices"].items()):
            out.print(f"    [dim]{escape(key)}: {_values(values)}[/]")


def _when(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")


def render_history(out: Console, done: dict[str, Any]) -> None:
    """`lifecycle history`: every deploy and rollout decision, or the state at a moment."""
    at = done.get("at")
    if at is not None:
        out.print(f"[bold]{escape(done['application'])}[/] at {_when(at.at)}")
        if at.run_id is None:
            out.print("  nothing was deployed yet")
            return
        out.print(f"  champion: v{at.champion}" if at.champion else
                  "  no champion (first deploy, candidate only)")
        for slot, (version, weight) in sorted(at.weights.items()):
            if version is not None:
                out.print(f"  {slot:<9} v{version}  {weight:g}% of traffic")
        out.print(f"  since the deploy of run {at.run_id}:")
        events = at.events
    else:
        out.print(f"[bold]{escape(done['application'])}[/]")
        events = done["events"]
    for e in events:
        detail = ", ".join(f"{k} {v}" for k, v in e.items()
                           if k not in ("time", "event", "run_id"))
        out.print(f"  {_when(e['time'])}  {e['event']:<12} {escape(detail)}  "
                  f"[dim]{e['run_id']}[/]")
