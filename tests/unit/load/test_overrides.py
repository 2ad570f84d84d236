"""Command-line overrides: every problem they cause is reported at the override as typed
(`command-line override '…'`), whatever file the surrounding keys came from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lifecycle.api import validate_one
from lifecycle.errors import LoadError
from lifecycle.load import compose

from ...conftest import MINIMAL

Write = Callable[[str, str], Path]
ROOT = Path(__file__).resolve().parents[3]
FRAUD = ROOT / "specs" / "fraud.yaml"
ROLLOUT_PRESET = ("defaults:\n  - /serve/rollout@serve.rollout: canary_safe\n  - _self_\n"
                  + MINIMAL + "register: {model: tiny}\nserve: {route_prefix: /tiny}\n")


def _only_error(spec: Path, override: str):  # type: ignore[no-untyped-def]
    errors = [p for p in validate_one(spec, [override]).problems if p.severity == "error"]
    assert len(errors) == 1, errors
    return errors[0]


@pytest.mark.parametrize("override, key_path", [
    ("serve.rollout.stepz.0.weight=5", "serve.rollout.stepz"),    # under a preset's keys
    ("serve.rollout.steps.0.wieght=5", "serve.rollout.steps[0].wieght"),
    ("serve.rolout.strategy=canary", "serve.rolout"),             # under the spec's keys
    ("+serve.rolout.x=1", "serve.rolout"),
    ("serv.replicas=2", "serv"),                                  # at the top level
])
def test_misspelt_override_key_is_reported_at_the_override(
        project: Write, override: str, key_path: str) -> None:
    spec = project("specs/s.yaml", ROLLOUT_PRESET)
    p = _only_error(spec, override)
    assert (p.code, p.key_path) == ("schema.unknown-key", key_path)
    assert p.location.file is None
    assert p.location.origin == f"command-line override '{override}'"


def test_misspelt_key_in_the_fraud_example_is_not_blamed_on_the_spec() -> None:
    p = _only_error(FRAUD, "serve.rollout.stepz.0.weight=5")
    assert p.location.origin == "command-line override 'serve.rollout.stepz.0.weight=5'"
    assert p.hint == "did you mean 'steps'?"


def test_misspelt_preset_choice_is_reported_at_the_override(project: Write) -> None:
    spec = project("specs/s.yaml", ROLLOUT_PRESET)
    with pytest.raises(LoadError) as info:
        compose(spec, ["serve/rollout=canary_saf"])
    (p,) = info.value.all_problems()
    assert (p.code, p.location.origin) == (
        "load.unknown-preset", "command-line override 'serve/rollout=canary_saf'")
    assert p.hint == ("did you mean 'canary_safe'? available serve/rollout presets: "
                      "blue_green, canary_safe")


@pytest.mark.parametrize("override, message, hint", [
    ("+train=xgboost", "the spec already composes a 'train' preset",
     "swap it without the '+': train=xgboost"),
    ("serve/rollout=canary_safe", "the spec composes no 'serve/rollout' preset to swap",
     "add one: +serve/rollout=canary_safe"),
    ("train@elsewhere=xgboost",
     "presets of 'train' are composed under 'train'; '@elsewhere' cannot move them",
     "write train=xgboost"),
    ("name=a,b", "'name' is given several values; lifecycle composes one spec at a time",
     "give one value, or quote a value that contains a comma: name='...'"),
    ("serve.rollout.steps.9.weight=5", "'serve.rollout.steps' has 3 item(s): there is no item 9",
     "a list is replaced whole from the command line: serve.rollout.steps=[...]"),
    ("name.first=x", "'name' is a single value, so it has no key 'first'",
     "set 'name' itself: name=..."),
    ("~owner=someone@example.com",
     "cannot delete 'owner': its value is 'risk-ml@example.com', not 'someone@example.com'",
     "delete it whatever its value: ~owner"),
])
def test_refused_override_names_itself_and_the_fix(override: str, message: str,
                                                   hint: str) -> None:
    with pytest.raises(LoadError) as info:
        compose(FRAUD, [override])
    (p,) = info.value.all_problems()
    assert (p.code, p.message, p.hint) == ("load.override", message, hint)
    assert p.location.origin == f"command-line override '{override}'"


def test_unparsable_override_is_reported_as_typed_without_lifecycles_rewrite() -> None:
    with pytest.raises(LoadError) as info:
        compose(FRAUD, ["name=[1"])
    (p,) = info.value.all_problems()
    assert p.message == "cannot parse override 'name=[1'"
    assert p.location.origin == "command-line override 'name=[1'"


def test_overrides_apply_in_command_line_order() -> None:
    loaded = compose(FRAUD, ["~serve.shadow", "+serve.shadow={fraction: 0.5}"])
    assert loaded.mapping["serve"]["shadow"] == {"fraction": 0.5}
    assert "shadow" not in compose(FRAUD, ["serve.shadow.fraction=0.5",
                                           "~serve.shadow"]).mapping["serve"]
