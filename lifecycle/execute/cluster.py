"""Reaching a cluster: its Jobs API (`run --address`, `stop`) and its GCS (the operating
commands). What goes wrong there is nearly always configuration — no auth token, the
wrong address, a dashboard that is off, a Ray Client address — so each known case is a
clear error with the fix (docs/errors.md: exit 3, or 2 for an address of the wrong
kind), never an internal error.

Ray 2.60 token authentication: a cluster started with a token in reach of `ray start`
(~/.ray/auth_token, RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH) or with RAY_AUTH_MODE=token
requires it of every client. A client sends it only with RAY_AUTH_MODE=token: Ray turns
token mode on by itself only for a cluster it finds locally (`ray.init()`/`auto`), never
for an explicit address, and neither does lifecycle — sending a token to whatever answers
at an address is the client's decision."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ExitCode, InputError, LifecycleError, Location, Problem, RuntimeFailure

TOKEN_SOURCES = ("RAY_AUTH_TOKEN, a file named by RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token "
                 "(`ray get-auth-token` on the head node prints the cluster's token)")


def _error(code: str, message: str, hint: str, origin: str,
           exit_code: ExitCode = ExitCode.RUNTIME) -> LifecycleError:
    loc = Location(origin=origin)
    cls = InputError if exit_code == ExitCode.INVALID_INPUT else RuntimeFailure
    return cls(message, location=loc, hint=hint, problems=(Problem(code, message, "", loc,
                                                                   hint),))


def token_in_reach() -> bool:
    """Whether this process could send a token (where Ray 2.60 looks for one)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path:
        return Path(path).expanduser().is_file()
    return (Path.home() / ".ray" / "auth_token").is_file()


def dashboard_url(address: str) -> str:
    """The Jobs API's URL from what `--address`/RAY_ADDRESS gave; a Ray Client address
    (ray://) is refused: Ray Client breaks Ray Data in 2.60."""
    if address.startswith("ray://"):
        raise _error("cluster.ray-client", f"{address} is a Ray Client address, which "
                     "lifecycle does not use (it breaks Ray Data in Ray 2.60)",
                     "give the head's dashboard address instead, e.g. http://head:8265",
                     "--address", ExitCode.INVALID_INPUT)
    if address in ("auto", "local"):
        raise _error("cluster.not-a-dashboard", f"--address {address} names no Jobs API",
                     "give the head's dashboard address, e.g. http://head:8265 (on the "
                     "head node: http://127.0.0.1:8265)", "--address",
                     ExitCode.INVALID_INPUT)
    url = address if address.startswith(("http://", "https://")) else f"http://{address}"
    return url.rstrip("/")


def explain(exc: BaseException, address: str, origin: str = "--address") -> LifecycleError | None:
    """The clear error for a known misconfiguration behind `exc`; None for anything
    else (a bug: the CLI says so)."""
    text = str(exc)
    name = type(exc).__name__
    lowered = text.lower()
    if name == "AuthenticationError" or "unauthenticated" in lowered or \
            "authentication token" in lowered or "authentication required" in lowered:
        rejected = "invalid or incorrect" in lowered or "authentication failed" in lowered \
            or "forbidden" in lowered
        mode = (os.environ.get("RAY_AUTH_MODE") or "").lower()
        if rejected:
            return _error("cluster.auth-rejected", f"the cluster at {address} refused this "
                          "machine's Ray auth token", "use the cluster's own token: "
                          + TOKEN_SOURCES, origin)
        if mode == "token" and not token_in_reach():
            return _error("cluster.auth-missing", "RAY_AUTH_MODE=token is set but no Ray "
                          "auth token is in reach", "make the cluster's token available: "
                          + TOKEN_SOURCES + "; or, if the cluster runs without token "
                          "authentication, unset RAY_AUTH_MODE", origin)
        return _error("cluster.auth-missing", f"the cluster at {address} requires a Ray "
                      "auth token and this client sent none", "export RAY_AUTH_MODE=token "
                      "and make the cluster's token available: " + TOKEN_SOURCES, origin)
    if isinstance(exc, ConnectionError) or name in ("ConnectionError", "ConnectTimeout",
                                                    "ReadTimeout", "Timeout") \
            or "failed to connect" in lowered or "connection refused" in lowered:
        return _error("cluster.unreachable", f"nothing answers at {address}",
                      "is the cluster up (`ray status` on its head node)? `run --address` "
                      "and `stop` take the head's dashboard address (http://HEAD:8265; "
                      "`ray start --head --include-dashboard=true`), the operating "
                      "commands its GCS address (HEAD:6379, or `auto` on a node)", origin)
    if "version check returned 404" in lowered or "/api/version" in lowered:
        return _error("cluster.not-a-dashboard", f"{address} answers, but not as a Ray "
                      "dashboard (no Jobs API there)", "give the head's dashboard address "
                      "(http://HEAD:8265), not its GCS port", origin, ExitCode.INVALID_INPUT)
    return None


@contextmanager
def reaching(address: str, origin: str = "--address") -> Iterator[None]:
    """Known misconfigurations raised inside become clear errors."""
    try:
        yield
    except LifecycleError:
        raise
    except Exception as exc:
        known = explain(exc, address, origin)
        if known is None:
            raise
        raise known from None


def jobs_client(address: str) -> Any:
    """A JobSubmissionClient for `address` (a dashboard URL, or HOST:PORT of one)."""
    from ray.job_submission import JobSubmissionClient

    url = dashboard_url(address)
    with reaching(url):
        return JobSubmissionClient(url)
