from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lifecycle.errors import LoadError
from lifecycle.load import compose

from ...conftest import MINIMAL

Write = Callable[[str, str], Path]


def _problem(exc: LoadError):  # type: ignore[no-untyped-def]
    problems = exc.all_problems()
    assert len(problems) == 1, problems
    return problems[0]


def test_values_are_indexed_to_their_line(project: Write) -> None:
    spec = project("specs/s.yaml", MINIMAL)
    loaded = compose(spec)
    loc = loaded.locate(("data", "contract", "features", "x", "type"))
    assert (loc.file, loc.line, loc.column) == ("specs/s.yaml", 9, 11)


def test_platform_preset_values_point_at_the_preset(project: Write) -> None:
    spec = project("specs/s.yaml", "defaults:\n  - /train: torch_ddp\n  - _self_\n" + MINIMAL
                   + "train: {entrypoint: 'examples.a:b'}\n")
    loaded = compose(spec)
    loc = loaded.locate(("train", "scaling", "max_failures"))
    assert loc.file is not None and loc.file.endswith("conf/train/torch_ddp.yaml")
    assert loc.origin == "preset train/torch_ddp"
    assert loaded.mapping["train"]["framework"] == "torch"
    assert loaded.presets == ("train/torch_ddp",)


def test_user_conf_next_to_spec_is_searched_first(project: Write) -> None:
    project("specs/conf/train/mine.yaml", "framework: sklearn\nscaling: {num_workers: 1}\n")
    spec = project("specs/s.yaml", "defaults:\n  - /train: mine\n  - _self_\n" + MINIMAL
                   + "train: {entrypoint: 'examples.a:b'}\n")
    loaded = compose(spec)
    assert loaded.mapping["train"]["framework"] == "sklearn"
    assert loaded.locate(("train", "framework")).file == "specs/conf/train/mine.yaml"


def test_spec_wins_over_preset_it_lists_before_self(project: Write) -> None:
    spec = project("specs/s.yaml", "defaults:\n  - /train: torch_ddp\n  - _self_\n" + MINIMAL
                   + "train:\n  entrypoint: 'examples.a:b'\n  scaling: {num_workers: 3}\n")
    loaded = compose(spec)
    assert loaded.mapping["train"]["scaling"]["num_workers"] == 3
    assert loaded.locate(("train", "scaling", "num_workers")).line == 16


def test_override_is_indexed_as_command_line(project: Write) -> None:
    spec = project("specs/s.yaml", MINIMAL)
    loaded = compose(spec, ["data.contract.label=z"])
    assert loaded.mapping["data"]["contract"]["label"] == "z"
    loc = loaded.locate(("data", "contract", "label"))
    assert loc.file is None and loc.origin == "command-line override 'data.contract.label=z'"


def test_group_override_swaps_the_preset(project: Write) -> None:
    spec = project("specs/s.yaml", "defaults:\n  - /train: torch_ddp\n  - _self_\n" + MINIMAL
                   + "train: {entrypoint: 'examples.a:b'}\n")
    loaded = compose(spec, ["train=xgboost"])
    assert loaded.mapping["train"]["framework"] == "xgboost"
    assert loaded.locate(("train", "framework")).file.endswith("conf/train/xgboost.yaml")  # type: ignore[union-attr]


def test_unknown_preset_suggests_the_nearest(project: Write) -> None:
    spec = project("specs/s.yaml", "defaults:\n  - /train: torch_dp\n  - _self_\n" + MINIMAL)
    with pytest.raises(LoadError) as info:
        compose(spec)
    p = _problem(info.value)
    assert p.code == "load.unknown-preset"
    assert (p.location.file, p.location.line) == ("specs/s.yaml", 2)
    assert "did you mean 'torch_ddp'?" in (p.hint or "")


def test_override_sets_a_key_the_yaml_left_to_its_default(project: Write) -> None:
    spec = project("specs/s.yaml", MINIMAL)
    loaded = compose(spec, ["data.contract.min_rows=10"])
    assert loaded.mapping["data"]["contract"]["min_rows"] == 10
    assert loaded.locate(("data", "contract", "min_rows")).origin == \
        "command-line override 'data.contract.min_rows=10'"


def test_plus_on_an_existing_key_says_to_drop_it(project: Write) -> None:
    spec = project("specs/s.yaml", MINIMAL)
    with pytest.raises(LoadError) as info:
        compose(spec, ["+name=other"])
    p = _problem(info.value)
    assert p.code == "load.override" and p.hint == "drop the '+': name=other"


def test_override_with_brackets_suggests_dots(project: Write) -> None:
    spec = project("specs/s.yaml", MINIMAL)
    with pytest.raises(LoadError) as info:
        compose(spec, ["a[0].b=1"])
    assert "a.0.b=1" in (_problem(info.value).hint or "")


def test_word_without_equals_is_not_an_override(project: Write) -> None:
    spec = project("specs/s.yaml", MINIMAL)
    with pytest.raises(LoadError) as info:
        compose(spec, ["nonsense"])
    assert _problem(info.value).code == "load.override"


def test_broken_interpolation_points_at_its_line(project: Write) -> None:
    spec = project("specs/s.yaml", MINIMAL + "description: ${nothing.here}\n")
    with pytest.raises(LoadError) as info:
        compose(spec)
    p = _problem(info.value)
    assert (p.code, p.key_path, p.location.line) == ("load.interpolation", "description", 10)


def test_interpolation_cycle_is_an_error(project: Write) -> None:
    spec = project("specs/s.yaml", MINIMAL + "description: ${owner}\n"
                   "labels: {a: '${labels.b}', b: '${labels.a}'}\n")
    with pytest.raises(LoadError) as info:
        compose(spec)
    p = _problem(info.value)
    assert p.code == "load.interpolation" and "cycle" in p.message


def test_interpolation_resolves(project: Write) -> None:
    spec = project("specs/s.yaml", MINIMAL + "description: model ${name}\n")
    assert compose(spec).mapping["description"] == "model tiny"


def test_env_resolver_is_refused(project: Write) -> None:
    spec = project("specs/s.yaml", MINIMAL + "description: ${oc.env:HOME}\n")
    with pytest.raises(LoadError) as info:
        compose(spec)
    p = _problem(info.value)
    assert (p.code, p.key_path, p.location.line) == ("load.resolver", "description", 10)


def test_policy_bundles_cannot_be_composed_into_a_spec(project: Write) -> None:
    spec = project("specs/s.yaml", "defaults:\n  - /policy: low\n  - _self_\n" + MINIMAL)
    with pytest.raises(LoadError) as info:
        compose(spec)
    p = _problem(info.value)
    assert p.code == "load.policy-in-defaults" and p.location.line == 2


def test_yml_extension_is_explained(project: Write) -> None:
    spec = project("specs/s.yml", MINIMAL)
    with pytest.raises(LoadError) as info:
        compose(spec)
    assert _problem(info.value).code == "load.extension"


def test_bomb_in_a_user_preset_is_caught_before_hydra(project: Write) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + [
        f"a{i}: &a{i} [{', '.join([f'*a{i-1}'] * 10)}]" for i in range(1, 9)]
    project("specs/conf/train/bomb.yaml", "\n".join(lines) + "\n")
    spec = project("specs/s.yaml", "defaults:\n  - /train: bomb\n  - _self_\n" + MINIMAL)
    with pytest.raises(LoadError) as info:
        compose(spec)
    p = _problem(info.value)
    assert p.code == "yaml.too-large" and p.location.file == "specs/conf/train/bomb.yaml"


def test_mandatory_value_left_unset(project: Write) -> None:
    spec = project("specs/s.yaml", MINIMAL + "description: ???\n")
    with pytest.raises(LoadError) as info:
        compose(spec)
    assert _problem(info.value).code == "load.missing-value"


def test_merge_idiom_composes_with_the_overriding_value(project: Write) -> None:
    spec = project("specs/s.yaml", MINIMAL.replace(
        "  train: {path: data/train.parquet}\n",
        "  train: &source {path: data/train.parquet, format: parquet}\n"
        "  eval:\n    <<: *source\n    path: data/eval.parquet\n"))
    loaded = compose(spec)
    assert loaded.mapping["data"]["eval"] == {"path": "data/eval.parquet", "format": "parquet"}
    assert loaded.locate(("data", "eval", "path")).line == 8
