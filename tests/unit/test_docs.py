"""Docs change with the behaviour: generated references are in sync, every error code
the code can emit is documented, and the example specs pass the editor schema."""

from __future__ import annotations

import json
import re

import jsonschema
import yaml

from lifecycle.api import spec_schema
from lifecycle.render.spec_docs import generate

from ..conftest import ROOT


def test_spec_reference_is_generated_from_the_models() -> None:
    assert (ROOT / "docs" / "spec.md").read_text() == generate(), \
        "run: python -m lifecycle.render.spec_docs > docs/spec.md"


def test_committed_json_schema_is_current() -> None:
    committed = json.loads((ROOT / "docs" / "spec.schema.json").read_text())
    assert committed == spec_schema(), "run: lifecycle schema -o docs/spec.schema.json"


def test_example_specs_pass_the_editor_schema() -> None:
    schema = spec_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in (ROOT / "specs").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        # presets fill in what the spec leaves out, so check only what it writes
        errors = [e for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)
                  if e.validator != "required"]
        assert errors == [], (path.name, [e.message for e in errors])


def test_every_error_code_is_documented() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "lifecycle").rglob("*.py"))
    prefixes = ("yaml|load|schema|policy|plan|diff|serving|approve|promote|monitor|logs|"
                "feedback|history|cluster|stop|store|rollout")
    codes = set(re.findall(rf'"((?:{prefixes})\.[a-z-]+)"', source))
    codes |= set(re.findall(r'"((?:POL|APR)-\d{3})"', source))
    docs = (ROOT / "docs" / "errors.md").read_text()
    missing = sorted(c for c in codes if f"`{c}`" not in docs)
    assert missing == []


def test_every_shipped_rule_is_documented() -> None:
    docs = (ROOT / "docs" / "policy.md").read_text()
    ids = re.findall(r"id: ([A-Z]+-\d{3})", "\n".join(
        p.read_text() for p in (ROOT / "conf" / "policy").glob("*.yaml")))
    assert [i for i in ids if f"`{i}`" not in docs] == []
