from __future__ import annotations

from pathlib import Path

import pytest

from lifecycle.errors import LoadError
from lifecycle.load import read_yaml


def _code(exc: LoadError) -> str:
    return exc.all_problems()[0].code


def test_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("name: a\ndata:\n  train: {path: x\nrisk_tier: low\n")
    with pytest.raises(LoadError) as info:
        read_yaml(f)
    p = info.value.all_problems()[0]
    assert p.code == "yaml.syntax"
    assert p.location.line == 4 and p.location.column is not None


def test_duplicate_key_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("name: a\nowner: b\nname: c\n")
    with pytest.raises(LoadError) as info:
        read_yaml(f)
    p = info.value.all_problems()[0]
    assert (p.code, p.location.line, p.key_path) == ("yaml.duplicate-key", 3, "name")
    assert "first on line 1" in p.message


def test_billion_laughs_is_refused_before_expansion(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        refs = ", ".join([f"*a{i-1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    f = tmp_path / "bomb.yaml"
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(LoadError) as info:
        read_yaml(f)
    assert _code(info.value) == "yaml.too-large"
    assert "YAML bomb" in info.value.all_problems()[0].message


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "deep.yaml"
    f.write_text("a: " + "[" * 200 + "]" * 200 + "\n")
    with pytest.raises(LoadError) as info:
        read_yaml(f)
    assert _code(info.value) == "yaml.too-deep"


def test_huge_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lifecycle.load.yaml_safe as ys

    monkeypatch.setattr(ys, "MAX_BYTES", 1000)
    f = tmp_path / "big.yaml"
    f.write_text("a: " + "x" * 2000 + "\n")
    with pytest.raises(LoadError) as info:
        read_yaml(f)
    assert _code(info.value) == "yaml.too-large"


def test_top_level_list_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "l.yaml"
    f.write_text("- a\n- b\n")
    with pytest.raises(LoadError) as info:
        read_yaml(f)
    assert _code(info.value) == "yaml.not-a-mapping"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LoadError) as info:
        read_yaml(tmp_path / "nope.yaml")
    assert _code(info.value) == "load.missing-file"


def test_binary_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "b.yaml"
    f.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(LoadError) as info:
        read_yaml(f)
    assert _code(info.value) == "yaml.encoding"


def test_positions_cover_merge_keys(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text("base: &b\n  lr: 1\nother:\n  <<: *b\n  epochs: 2\n")
    y = read_yaml(f)
    assert y.positions[("other", "epochs")].line == 5
    assert y.positions[("other", "lr")].line == 2  # written in the anchor


def test_merge_idiom_overriding_a_merged_key_is_not_a_duplicate(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text("first: &first\n  weight: 5\n  hold: 10m\n"
                 "second:\n  <<: *first\n  weight: 50\n")
    y = read_yaml(f)
    assert y.positions[("second", "weight")].line == 6  # the override, not the anchor's
    assert y.positions[("second", "hold")].line == 3


def test_merge_idiom_through_an_alias_of_a_merged_mapping(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text("a: &a {lr: 1, epochs: 2}\nb: &b\n  <<: *a\n  lr: 3\nc: *b\n")
    y = read_yaml(f)
    assert y.positions[("c", "lr")].line == 4 and y.positions[("c", "epochs")].line == 1


def test_key_written_twice_beside_a_merge_is_still_a_duplicate(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text("a: &a {lr: 1}\nb:\n  <<: *a\n  lr: 2\n  lr: 3\n")
    with pytest.raises(LoadError) as info:
        read_yaml(f)
    p = info.value.all_problems()[0]
    assert (p.code, p.location.line, p.key_path) == ("yaml.duplicate-key", 5, "b.lr")
