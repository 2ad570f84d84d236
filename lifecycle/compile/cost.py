"""Pricing a spec with the platform's price table: one run of its training (or tuning)
and a month of serving at its minimum and maximum replicas. Pure, like the rest of the
compiler: what it cannot know (how long a run takes, which GPU) it assumes, and says so."""

from __future__ import annotations

import math

from ..plan import CostEstimate, CostLine, PriceTable
from ..spec import Spec
from ..spec.base import format_duration
from .stages import MONITOR_CPUS, ROUTER_CPUS, observed, versions


def _money(amount: float, currency: str) -> str:
    return f"{amount:,.4g} {currency}"


def _hours(hours: float) -> str:
    return format_duration(round(hours * 3600.0, 3))


def _cents(amount: float) -> float:
    return round(amount, 4)


def _training(spec: Spec, table: PriceTable, out: list[CostLine],
              assumptions: list[str]) -> float:
    if spec.train is None:
        return 0.0
    cur = table.currency
    scaling = spec.train.scaling
    gpus = scaling.gpus_per_worker if scaling.use_gpu else 0.0
    worker = table.hourly(scaling.cpus_per_worker, gpus)
    if spec.train.expected_duration is not None:
        run_h = spec.train.expected_duration / 3600.0
        assumptions.append(f"a training run takes {_hours(run_h)} (train.expected_duration)")
    else:
        run_h = table.assume.training_run_hours
        assumptions.append(f"a training run takes {_hours(run_h)} (the price table's "
                           "assumption: set train.expected_duration)")
    if scaling.resources_per_worker:
        assumptions.append("custom resources per worker ("
                           + ", ".join(sorted(scaling.resources_per_worker))
                           + ") are not priced")
    workers = scaling.num_workers
    each = f"{workers} worker(s) × {_money(worker, cur)}/h"
    if spec.tune is None:
        amount = workers * worker * run_h
        out.append(CostLine(item="training", stage="train", per="run", low=_cents(amount),
                            high=_cents(amount), basis=f"{each} × {_hours(run_h)}"))
        return amount
    t = spec.tune
    parallel = min(t.max_concurrent_trials, t.num_samples)
    wall_h = math.ceil(t.num_samples / parallel) * run_h
    bounded = t.time_budget is not None and t.time_budget / 3600.0 < wall_h
    if t.time_budget is not None:
        wall_h = min(wall_h, t.time_budget / 3600.0)
    amount = parallel * workers * worker * wall_h
    basis = (f"{parallel} trial(s) at once × {each} × {_hours(wall_h)}"
             + (" (tune.time_budget)" if bounded else f" ({t.num_samples} trials)"))
    out.append(CostLine(item="tuning", stage="tune", per="run", low=_cents(amount),
                        high=_cents(amount), basis=basis))
    assumptions.append("every tuning trial runs a whole training run and every slot stays "
                       "busy (schedulers such as ASHA stop trials early: an upper bound)")
    return amount


def _serving(spec: Spec, table: PriceTable, out: list[CostLine], assumptions: list[str],
             replica_hourly: dict[str, float]) -> tuple[float, float]:
    """A month served, by the topology the plan deploys: fused, each Router replica
    holds every version (priced at the spec's resources); routed, each version has its
    replicas and the Router its own small ones."""
    from .serve_config import router_replicas, topology

    if spec.serve is None or spec.register is None:
        return 0.0, 0.0
    s = spec.serve
    cur = table.currency
    month = table.assume.hours_per_month
    memory = s.resources.memory_mb / 1024.0 if s.resources.memory_mb else None
    replica = table.hourly(s.resources.num_cpus, s.resources.num_gpus, memory)
    routers = router_replicas(spec)
    scaling = routers.get("autoscaling_config")
    r_low, r_high = (scaling["min_replicas"], scaling["max_replicas"]) if scaling \
        else (routers["num_replicas"], routers["num_replicas"])
    slots = versions(spec)
    if topology(spec) == "fused":
        count = f"{r_low}–{r_high}" if r_low != r_high else f"{r_low}"
        out.append(CostLine(
            item="router replicas (each serves every version)", stage="deploy", per="month",
            low=_cents(r_low * replica * month), high=_cents(r_high * replica * month),
            basis=f"{count} replica(s) × {_money(replica, cur)}/h × {month:g}h"))
        replica_hourly["Router"] = _cents(replica)
        total_low, total_high = r_low * replica * month, r_high * replica * month
    else:
        if s.autoscaling is not None:
            low_n, high_n = s.autoscaling.min_replicas, s.autoscaling.max_replicas
        else:
            low_n = high_n = s.replicas or 1
        count = f"{low_n}–{high_n}" if low_n != high_n else f"{low_n}"
        out.append(CostLine(
            item="model replicas", stage="deploy", per="month",
            low=_cents(low_n * len(slots) * replica * month),
            high=_cents(high_n * len(slots) * replica * month),
            basis=f"{count} replica(s) × {len(slots)} version slot(s) × "
            f"{_money(replica, cur)}/h × {month:g}h"))
        replica_hourly.update({f"Model_{slot}": _cents(replica) for slot in slots})
        router = table.hourly(ROUTER_CPUS)
        count = f"{r_low}–{r_high}" if r_low != r_high else f"{r_low}"
        out.append(CostLine(item="router", stage="deploy", per="month",
                            low=_cents(r_low * router * month),
                            high=_cents(r_high * router * month),
                            basis=f"{count} replica(s) × {_money(router, cur)}/h × "
                            f"{month:g}h"))
        replica_hourly["Router"] = _cents(router)
        total_low = (low_n * len(slots) * replica + r_low * router) * month
        total_high = (high_n * len(slots) * replica + r_high * router) * month
    if observed(spec):
        monitor = table.hourly(MONITOR_CPUS)
        out.append(CostLine(item="monitors and prediction log", stage="monitor",
                            per="month", low=_cents(monitor * month),
                            high=_cents(monitor * month),
                            basis=f"1 Monitor replica × {_money(monitor, cur)}/h × "
                            f"{month:g}h"))
        replica_hourly["Monitor"] = _cents(monitor)
        total_low += monitor * month
        total_high += monitor * month
    assumptions.append(f"{month:g} hours served a month" + (
        "; both version slots (stable, candidate) stay deployed" if len(slots) > 1 else ""))
    return total_low, total_high


def price(spec: Spec, table: PriceTable) -> CostEstimate:
    lines: list[CostLine] = []
    assumptions: list[str] = []
    replica_hourly: dict[str, float] = {}
    training = _training(spec, table, lines, assumptions)
    low, high = _serving(spec, table, lines, assumptions, replica_hourly)
    gpus = (spec.train is not None and spec.train.scaling.use_gpu) or (
        spec.serve is not None and spec.serve.resources.num_gpus > 0)
    if gpus:
        assumptions.append(f"GPUs priced as {table.default_gpu} "
                           f"({_money(table.gpu_hour[table.default_gpu], table.currency)}/h; "
                           "specs do not name an accelerator type yet)")
    assumptions.append(f"{table.assume.memory_gb_per_cpu:g} GB of memory per CPU where none "
                       "is reserved")
    assumptions.append("data checks, evaluation, registration and monitor fitting cost "
                       "nothing (minutes of one CPU)")
    return CostEstimate(currency=table.currency, price_table=table.name,
                        price_table_hash=table.digest, training=_cents(training),
                        monthly_serving_min=_cents(low), monthly_serving_max=_cents(high),
                        lines=lines, assumptions=assumptions, replica_hourly=replica_hourly)
