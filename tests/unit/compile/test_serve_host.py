"""Serve binds loopback unless the spec or the run says otherwise (issue 18, item 10): the
compiled Serve config once carried `0.0.0.0`, exposing every application on every
interface of every node."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifecycle.api import compile_spec, validate_one
from lifecycle.execute import RunOptions

from ...conftest import ROOT, compile_approved
from ..diff.test_classify import _diff, _one

FRAUD = ROOT / "specs" / "fraud.yaml"


def test_the_compiled_serve_config_binds_loopback_by_default() -> None:
    plan = compile_spec(FRAUD)
    assert plan.serve_config is not None
    assert plan.serve_config["http_options"] == {"host": "127.0.0.1", "port": 8000}
    assert RunOptions().serve_http(plan.serve_config) == ("127.0.0.1", 8000)


def test_exposure_is_an_explicit_setting_of_the_spec_or_the_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIFECYCLE_SERVE_HOST", raising=False)
    plan = compile_approved(FRAUD, ["serve.host=0.0.0.0"])
    assert plan.serve_config is not None
    assert plan.serve_config["http_options"]["host"] == "0.0.0.0"
    loopback = compile_spec(FRAUD).serve_config
    assert loopback is not None
    assert RunOptions(serve_host="0.0.0.0").serve_http(loopback)[0] == "0.0.0.0"


def test_a_host_that_is_not_an_ip_address_is_refused_in_words() -> None:
    [problem] = validate_one(FRAUD, ["serve.host=everywhere"]).problems
    assert (problem.key_path, problem.message) == (
        "serve.host", "expected an IP address such as 127.0.0.1 or 0.0.0.0, got 'everywhere'")


def test_diff_calls_exposing_serving_a_loosening(tmp_path: Path) -> None:
    d = _diff(tmp_path, ("  route_prefix: /fraud\n", "  route_prefix: /fraud\n  host: 0.0.0.0\n"))
    c = _one(d, "serve.host")
    assert (c.direction, c.reason) == ("loosens", "serving exposed beyond the node (0.0.0.0)")
