"""YAML 1.1 reads NO, yes, on, off (any case) and true/false as booleans. Where the schema
wants text or a number, such a value is refused at its file:line with the fix (quote it),
never compiled silently as 0, 1 or 'False' (issue 18 item 20)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lifecycle.api import validate_one

from ...conftest import MINIMAL

Write = Callable[[str, str], Path]


def _errors(spec: Path) -> list[tuple[str, str, int | None, str, str | None]]:
    return [(p.code, p.key_path, p.location.line, p.message, p.hint)
            for p in validate_one(spec).errors]


@pytest.mark.parametrize("word, as_bool, number", [
    ("NO", "false", 0), ("no", "false", 0), ("Yes", "true", 1), ("off", "false", 0),
    ("ON", "true", 1), ("true", "true", 1),
])
def test_boolean_word_in_a_list_of_categories_is_refused(project: Write, word: str,
                                                         as_bool: str, number: int) -> None:
    spec = project("specs/s.yaml", MINIMAL.replace(
        "x: {type: float}", f"x: {{type: category, categories: [SE, DK, {word}]}}"))
    assert _errors(spec) == [(
        "schema.yaml-boolean", "data.contract.features.x.categories[2]", 9,
        f"{word} is read by YAML as the boolean {as_bool}, which this key would take as "
        f"{number}", f"quote it to mean the text: '{word}'; write the value itself otherwise")]


def test_quoted_word_is_the_text_written(project: Write) -> None:
    spec = project("specs/s.yaml", MINIMAL.replace(
        "x: {type: float}", "x: {type: category, categories: [SE, DK, 'NO']}"))
    r = validate_one(spec)
    assert r.errors == [] and r.plan is not None
    features = r.plan.spec["data"]["contract"]["features"]  # type: ignore[index, call-overload]
    assert features["x"]["categories"] == ["SE", "DK", "NO"]


def test_boolean_word_where_a_number_is_expected_is_refused(project: Write) -> None:
    spec = project("specs/s.yaml", MINIMAL.replace("x: {type: float}", "x: {type: float, min: no}"))
    assert [e[:3] for e in _errors(spec)] == [
        ("schema.yaml-boolean", "data.contract.features.x.min", 9)]


def test_boolean_word_where_text_is_expected_says_to_quote_it(project: Write) -> None:
    spec = project("specs/s.yaml", MINIMAL + "description: yes\nlabels: {team: off}\n")
    assert _errors(spec) == [
        ("schema.yaml-boolean", "description", 10,
         "yes is read by YAML as the boolean true, which this key does not take",
         "quote it to mean the text: 'yes'"),
        ("schema.yaml-boolean", "labels.team", 11,
         "off is read by YAML as the boolean false, which this key does not take",
         "quote it to mean the text: 'off'")]


def test_boolean_word_as_a_key_is_refused_by_the_reader(project: Write) -> None:
    spec = project("specs/s.yaml", MINIMAL.replace("x: {type: float}", "on: {type: float}"))
    [p] = validate_one(spec).errors
    assert (p.code, p.key_path, p.location.line, p.hint) == (
        "yaml.boolean-key", "data.contract.features.on", 9, "quote it: 'on':")


def test_boolean_words_where_booleans_are_wanted_are_kept(project: Write) -> None:
    spec = project("specs/s.yaml", MINIMAL + "train:\n  entrypoint: examples.a:b\n"
                   "  scaling: {use_gpu: no}\n  config: {shuffle: yes}\n")
    r = validate_one(spec)
    assert [p.code for p in r.errors if p.code.startswith(("schema", "yaml"))] == []
    assert r.spec is not None and r.spec.train is not None
    assert r.spec.train.scaling.use_gpu is False and r.spec.train.config == {"shuffle": True}


def test_boolean_word_in_a_preset_is_located_in_the_preset(project: Write) -> None:
    project("specs/conf/data/countries.yaml",
            "contract:\n  label: y\n  features:\n    c: {type: category, categories: [NO]}\n")
    spec = project("specs/s.yaml", "defaults:\n  - /data: countries\n  - _self_\n" + MINIMAL
                   .replace("  contract:\n    label: y\n    features:\n      x: {type: float}\n",
                            ""))
    [p] = validate_one(spec).errors
    assert (p.code, p.location.file, p.location.line) == (
        "schema.yaml-boolean", "specs/conf/data/countries.yaml", 4)


def test_overriding_the_word_on_the_command_line_clears_it(project: Write) -> None:
    spec = project("specs/s.yaml", MINIMAL + "description: yes\n")
    assert validate_one(spec, ["description=yes"]).errors == []
