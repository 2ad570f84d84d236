"""The monitor's pure logic: encoding, windows and sampling, the retrain brakes, alert
delivery (a real local HTTP server and a real command), and how the rollout controller
reads monitor signals. No Ray, no alibi-detect."""

from __future__ import annotations

import http.server
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lifecycle.plan import AlertParams, RolloutGateParams
from lifecycle.runtime.contract import VersionEvidence, WatchSummary, WindowRecord
from lifecycle.runtime.monitor.actions import deliver
from lifecycle.runtime.monitor.encode import Encoder
from lifecycle.runtime.monitor.limits import WEEK_S, RetrainLimiter
from lifecycle.runtime.monitor.windows import WindowBuffer

INFO = {"features": {"amount": "float", "hour": "int", "channel": "category",
                     "promo": "category"},
        "categories": {"channel": ["web", "pos", "app"], "promo": ["False", "True"]}}


def test_rows_and_columns_encode_alike() -> None:
    enc = Encoder.of(["amount", "channel", "promo"], INFO, "ordinal")
    rows = [{"amount": 1.5, "channel": "pos", "promo": True},
            {"amount": 2.0, "channel": "atm", "promo": False}]  # atm: not in the list
    x = enc.rows(rows)
    assert x.dtype == np.float32
    assert x.tolist() == [[1.5, 1.0, 1.0], [2.0, 3.0, 0.0]]  # unknown -> the extra code
    cols = {"amount": [1.5, 2.0], "channel": ["pos", "atm"], "promo": [True, False]}
    assert np.array_equal(enc.columns_of(cols), x)
    assert enc.categorical_columns() == [1, 2]
    assert Encoder.from_dict(enc.to_dict()) == enc


def test_onehot_expands_categories() -> None:
    enc = Encoder.of(["channel", "hour"], INFO, "onehot")
    assert enc.columns == ["channel=web", "channel=pos", "channel=app", "channel=<other>",
                           "hour"]
    assert enc.rows([{"channel": "app", "hour": 3}]).tolist() == [[0, 0, 1, 0, 3]]
    assert enc.categorical_columns() == []  # one-hot columns are numeric to a detector


def test_windows_close_by_size_even_inside_one_batch() -> None:
    buf = WindowBuffer(size=4)
    buf.add(np.ones((10, 2), dtype=np.float32), now=1.0)
    assert [len(w.x) for w in buf.queue] == [4, 4] and buf.rows == 2
    assert buf.take().index == 0  # type: ignore[union-attr]


def test_a_window_closes_by_time_only_with_enough_rows() -> None:
    buf = WindowBuffer(size=100, duration_s=5.0, min_rows=3)
    buf.add(np.ones((2, 1), dtype=np.float32), now=0.0)
    buf.tick(10.0)
    assert not buf.queue  # 2 rows < min_rows: stays open
    buf.add(np.ones((1, 1), dtype=np.float32), now=11.0)
    [w] = buf.queue
    assert (len(w.x), w.reason, w.opened, w.closed) == (3, "time", 0.0, 11.0)


def test_a_lagging_detector_drops_the_oldest_windows_and_says_so() -> None:
    buf = WindowBuffer(size=2, max_queued=2)
    buf.add(np.arange(20, dtype=np.float32).reshape(10, 2), now=0.0)  # 5 windows closed
    assert [w.index for w in buf.queue] == [3, 4]
    c = buf.counts()
    assert (c["windows_closed"], c["windows_dropped"], c["rows_dropped"]) == (5, 3, 6)
    buf.take()
    buf.take()
    assert buf.counts()["sampled_fraction"] == pytest.approx(2 / 5)


def test_rows_with_missing_values_are_counted_not_detected() -> None:
    buf = WindowBuffer(size=2)
    buf.add(np.array([[1.0], [np.nan], [2.0]], dtype=np.float32), now=0.0)
    assert buf.counts()["rows_invalid"] == 1 and len(buf.queue) == 1


def test_retrain_cooldown_and_weekly_cap() -> None:
    lim = RetrainLimiter(cooldown_s=3600, max_per_week=2)
    assert lim.check(0.0)[0]
    lim.record(0.0)
    allowed, why = lim.check(600.0)
    assert not allowed and why.startswith("cooldown")
    assert lim.check(3600.0)[0]
    lim.record(3600.0)
    allowed, why = lim.check(3 * 86400.0)
    assert not allowed and why.startswith("weekly cap: 2")
    assert lim.check(WEEK_S + 1.0)[0]  # the first retrain has aged out


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    fail_first = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if _Hook.fail_first > 0:
            _Hook.fail_first -= 1
            self.send_response(500)
        else:
            _Hook.received.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def hook() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Hook.received, _Hook.fail_first = [], 0
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    server.shutdown()
    thread.join()


def test_webhook_alert_is_retried_until_delivered(hook: str) -> None:
    _Hook.fail_first = 2
    out = deliver(AlertParams(webhook=hook, retries=3), {"monitor": "input-drift"},
                  sleep=lambda _s: None)
    assert out == {"webhook": {"delivered": True, "attempts": 3}}
    assert _Hook.received == [{"monitor": "input-drift"}]


def test_undeliverable_alert_is_reported_not_raised(hook: str) -> None:
    _Hook.fail_first = 10
    out = deliver(AlertParams(webhook=hook, retries=1), {"x": 1}, sleep=lambda _s: None)
    assert out["webhook"]["delivered"] is False and out["webhook"]["attempts"] == 2
    assert "500" in out["webhook"]["error"]


def test_command_alert_gets_the_event_on_stdin(tmp_path: Path) -> None:
    target = tmp_path / "event.json"
    cmd = [sys.executable, "-c",
           f"import sys; open({str(target)!r}, 'w').write(sys.stdin.read())"]
    out = deliver(AlertParams(command=cmd, retries=0), {"monitor": "m", "p": 0.001})
    assert out == {"command": {"delivered": True, "attempts": 1}}
    assert json.loads(target.read_text()) == {"monitor": "m", "p": 0.001}
    assert deliver(None, {"x": 1}) == {}


def _watch(windows: int, flagged: int, drift: bool, outlier_rate: float | None = None,
           last_p: float | None = None) -> WatchSummary:
    last = None if last_p is None else WindowRecord(
        monitor="m", window=0, opened=0.0, closed=1.0, closed_by="size", flagged=True,
        kind="drift", rows=100, p_value=last_p)
    return WatchSummary(
        detector="ks" if drift else "iforest", features=["amount"], verified=True,
        window=100, p_val=0.01, actions=[], windows_closed=windows, windows_dropped=0,
        rows_dropped=0, rows_invalid=0, rows_pending=0, windows_detected=windows,
        sampled_fraction=1.0, windows_since=windows, flagged_since=flagged,
        drift_since=flagged if drift else 0, detections_since=0,
        outlier_rate_since=outlier_rate, last=last, recent=[], retrains=[])


def test_rollout_reads_drift_and_outlier_gates_from_monitor_windows() -> None:
    from lifecycle.runtime.rollout.gates import Live, blocking, check_gates

    live = Live(versions={"2": VersionEvidence(requests=50, errors=0)}, candidate="2",
                monitors={
        "input-drift": _watch(3, 1, drift=True, last_p=0.001),
        "outliers": _watch(2, 0, drift=False, outlier_rate=0.02),
        "quiet": _watch(0, 0, drift=True)})
    gates = [RolloutGateParams(metric="drift", monitor="input-drift", max=0),
             RolloutGateParams(metric="outlier_rate", monitor="outliers", max=0.05),
             RolloutGateParams(metric="drift", monitor="quiet", max=0),
             RolloutGateParams(metric="error_rate", max=0.01)]
    checks, _ = check_gates(gates, live, 0.95)
    assert [(c.value, c.verdict) for c in checks] == [
        (1.0, "failed"), (0.02, "passed"), (None, "inconclusive"),  # no window yet
        (0.0, "passed")]
    [reason] = blocking(live, ["input-drift", "outliers"])
    assert reason == "monitor input-drift: 1 flagged window(s) since the step began " \
        "(last p=0.001)"
    assert blocking(Live(), ["input-drift"]) == []


def test_histograms_on_reference_bins() -> None:
    from lifecycle.runtime.monitor.histograms import counts, edges_of, labels

    rng = np.random.default_rng(0)
    x_ref = np.column_stack([rng.normal(size=1000), rng.integers(0, 3, 1000)]).astype(np.float32)
    bins = edges_of(x_ref, categorical=[1])
    assert len(bins[0]["edges"]) == 9 and bins[1] == {"codes": [0, 1, 2]}
    ref = counts(x_ref, bins)
    assert sum(ref[0]) == 1000 and all(90 <= c <= 110 for c in ref[0])  # deciles
    assert ref[1][-1] == 0  # no "other" code in the reference
    live = counts(np.array([[-9.0, 0.0], [9.0, 5.0]], dtype=np.float32), bins)
    assert live[0][0] == 1 and live[0][-1] == 1 and live[1] == [1, 0, 0, 1]
    assert labels(bins[1], ["web", "pos", "app"]) == ["web", "pos", "app", "other"]
    assert labels(bins[0])[0].startswith("< ") and len(labels(bins[0])) == 10
