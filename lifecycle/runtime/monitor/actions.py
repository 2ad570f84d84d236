"""Alert delivery: a JSON POST to the spec's webhook and/or the spec's command with the
event as JSON on stdin, each retried with backoff. Delivery never raises: the outcome
(attempts, last error) is returned for the journal."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from ...plan import AlertParams

TIMEOUT_S = 10.0


def _retry(attempts: int, send: Callable[[], None],
           sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    error = None
    for attempt in range(1, attempts + 1):
        try:
            send()
            return {"delivered": True, "attempts": attempt}
        except Exception as exc:  # every failure is retried, then reported
            error = f"{type(exc).__name__}: {exc}"
            if attempt < attempts:
                sleep(min(0.5 * 2 ** (attempt - 1), 8.0))
    return {"delivered": False, "attempts": attempts, "error": error}


def post_webhook(url: str, event: dict[str, Any]) -> None:
    data = json.dumps(event, default=str).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
        if resp.status >= 300:
            raise urllib.error.HTTPError(url, resp.status, "not accepted", resp.headers, None)


def run_command(command: list[str], event: dict[str, Any]) -> None:
    out = subprocess.run(command, input=json.dumps(event, default=str), text=True,
                         capture_output=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"exit {out.returncode}: {out.stderr.strip()[-300:]}")


def deliver(alert: AlertParams | None, event: dict[str, Any],
            sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Send one alert where the spec says; {} when the spec names no hook (the alert is
    then the journal record and the metric only)."""
    if alert is None:
        return {}
    attempts = 1 + alert.retries
    out: dict[str, Any] = {}
    if alert.webhook:
        url = alert.webhook
        out["webhook"] = _retry(attempts, lambda: post_webhook(url, event), sleep)
    if alert.command:
        cmd = list(alert.command)
        out["command"] = _retry(attempts, lambda: run_command(cmd, event), sleep)
    return out
