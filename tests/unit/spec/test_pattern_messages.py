"""A value that does not have a field's form is told, in words with an example, what is
expected: never the regular expression (issue 18 item 23)."""

from __future__ import annotations

from typing import Any

import pytest

from lifecycle.api import spec_schema, validate_one
from lifecycle.spec.base import PATTERN_WORDS

from ...conftest import ROOT

FRAUD = ROOT / "specs" / "fraud.yaml"


def _patterns(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["pattern"]} if isinstance(node.get("pattern"), str) else set()
        return found.union(*(_patterns(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_patterns(v) for v in node))
    return set()


def test_every_pattern_of_the_spec_language_is_said_in_words() -> None:
    patterns = _patterns(spec_schema())
    assert len(patterns) >= 5
    assert patterns <= set(PATTERN_WORDS), patterns - set(PATTERN_WORDS)


@pytest.mark.parametrize("override, key_path, message, hint", [
    ("train.entrypoint=examples/fraud/model.py", "train.entrypoint",
     "expected an importable module path, a colon and a function name: "
     "'package.module:function' (got 'examples/fraud/model.py')",
     "for example: examples.fraud.model:train_loop"),
    ("+approvals=[{by: alice, role: model-risk}]", "approvals[0].by",
     "expected an email address (got 'alice')", "for example: risk-ml@example.com"),
    ("+approvals=[{by: alice@example.com, role: model risk}]", "approvals[0].role",
     "expected letters, digits, '_', '.' and '-', starting with a letter or '_' (at most 128; "
     "no spaces) (got 'model risk')", "for example: model-risk"),
    ("name=Fraud_Detector", "name",
     "expected lowercase letters, digits and dashes, starting with a letter (at most 63) "
     "(got 'Fraud_Detector')", "for example: fraud-detector"),
    ("serve.route_prefix=fraud", "serve.route_prefix",
     "expected a URL path starting with '/': letters, digits, '/', '_' and '-' (got 'fraud')",
     "for example: /fraud"),
    ("+waivers=[{rule: HR-002, reason: 'a pilot with one merchant', approved_by: bob, "
     "expires: 2030-01-01}]", "waivers[0].approved_by",
     "expected an email address (got 'bob')", "for example: risk-ml@example.com"),
])
def test_pattern_mismatch_says_what_is_expected(override: str, key_path: str, message: str,
                                                hint: str) -> None:
    r = validate_one(FRAUD, [override])
    found = [(p.code, p.message, p.hint) for p in r.errors if p.key_path == key_path]
    assert found == [("schema.out-of-range", message, hint)]


def test_no_message_shows_a_regular_expression() -> None:
    r = validate_one(FRAUD, ["name='X Y'", "owner=x", "train.entrypoint=a-b:c",
                             "register.model='a b'",
                             "+approvals=[{by: a@example.com, role: '?'}]"])
    assert len(r.errors) == 5
    for p in r.errors:
        assert "pattern" not in p.message and "^" not in p.message, p
