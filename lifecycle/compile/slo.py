"""Lowering `slos` to the plan's SloParams, and the compiler's own check on them: a
latency threshold is counted under a histogram bucket bound, so the compiler says which
bound it uses when the spec's threshold is not one."""

from __future__ import annotations

from collections.abc import Iterator

from ..plan import BurnAlertParams, SloParams
from ..plan.metrics import LATENCY_BUCKETS_MS, latency_bucket
from ..spec import Spec
from ..spec.problems import SpecFinding, check


def slo_params(spec: Spec) -> list[SloParams]:
    out = []
    for s in spec.slos:
        out.append(SloParams(
            name=s.name, sli=s.sli, objective=s.objective, window_s=s.window,
            threshold_ms=s.threshold_ms,
            bucket_ms=latency_bucket(s.threshold_ms) if s.threshold_ms is not None else None,
            metric=s.metric, min=s.min, max=s.max, of=s.of, max_age_s=s.max_age,
            burn_alerts=[BurnAlertParams(long_s=a.long_window, short_s=a.short_window,
                                         factor=a.factor, severity=a.severity)
                         for a in s.burn_alerts],
            on_burn=sorted(set(s.on_burn))))
    return out


@check
def latency_threshold_is_a_bucket(spec: Spec) -> Iterator[SpecFinding]:
    bounds = ", ".join(f"{b:g}" for b in LATENCY_BUCKETS_MS)
    for i, slo in enumerate(spec.slos):
        if slo.sli != "latency" or slo.threshold_ms is None:
            continue
        bucket = latency_bucket(slo.threshold_ms)
        if bucket is None:
            yield SpecFinding(("slos", i, "threshold_ms"), "schema.out-of-range",
                              f"threshold_ms {slo.threshold_ms:g} is below the smallest "
                              f"latency bucket ({LATENCY_BUCKETS_MS[0]:g} ms)",
                              f"use one of the bucket bounds: {bounds}")
        elif bucket != slo.threshold_ms:
            yield SpecFinding(("slos", i, "threshold_ms"), "schema.latency-bucket",
                              f"threshold_ms {slo.threshold_ms:g} is not a latency bucket "
                              f"bound: the SLO counts requests answered in {bucket:g} ms or "
                              "less (the nearest bound below)",
                              f"use one of the bucket bounds: {bounds}", severity="warning")
