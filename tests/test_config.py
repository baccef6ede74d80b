from __future__ import annotations

import pytest

from hf_ftbuilder.config import Recipe, load_config, parse_config
from hf_ftbuilder.errors import ConfigError

BASE = {"name": "t", "sources": [{"type": "csv", "path": "a.csv"}], "label": {"column": "label"}}


def _error(data: dict) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return str(info.value)


def test_defaults_fill_every_section() -> None:
    recipe = parse_config(BASE)
    assert recipe.seed == 42
    assert recipe.split.method == "stratified"
    assert recipe.split.fractions == {"train": 0.8, "validation": 0.1, "test": 0.1}
    assert recipe.dedup.exact is True and recipe.dedup.keep == "first"
    assert recipe.clean.unicode == "NFC" and recipe.clean.lowercase is False
    assert str(recipe.output_dir()) == "build/t"


def test_misspelled_key_names_its_path_and_value() -> None:
    msg = _error({**BASE, "dedup": {"exct": True}})
    assert msg == "dedup.exct: Extra inputs are not permitted (got True)"


def test_misspelled_key_inside_a_source_names_the_index() -> None:
    msg = _error({**BASE, "sources": [{"type": "csv", "path": "a.csv", "text_colum": "body"}]})
    assert msg == "sources[0].text_colum: not a key of source type csv (got 'body')"


def test_wrong_type_names_path_and_value() -> None:
    msg = _error({**BASE, "seed": "forty-two"})
    assert msg.startswith("seed: Input should be a valid integer")
    assert "(got 'forty-two')" in msg


def test_unknown_source_type_is_named() -> None:
    msg = _error({**BASE, "sources": [{"type": "ftp", "path": "x"}]})
    assert msg.startswith("sources[0]: Input tag 'ftp' found using 'type' does not match")
    assert "(got 'ftp')" in msg


def test_fractions_must_add_up_to_one() -> None:
    msg = _error({**BASE, "split": {"fractions": {"train": 0.8, "test": 0.1}}})
    assert msg == "split: fractions must add up to 1; got {'train': 0.8, 'test': 0.1} (sum 0.9)"


def test_unknown_split_name_is_refused() -> None:
    msg = _error({**BASE, "split": {"fractions": {"train": 0.8, "dev": 0.2}}})
    assert msg.startswith("split.fractions.dev.[key]: Input should be 'train', 'validation' or 'test'")


def test_duplicate_label_names_are_refused() -> None:
    msg = _error({**BASE, "label": {"labels": ["a", "b", "a"]}})
    assert msg == "label: labels must be unique; got ['a'] more than once"


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ({"method": "zero_shot", "labels": ["a", "b"]}, "label.model: field required"),
        ({"method": "embedding"}, "label: method embedding needs labels: the ClassLabel names, e.g. labels: [spam, ham]"),
        ({"method": "embedding", "labels": ["a"], "descriptions": {"b": "x"}},
         "label: descriptions name labels that are not in labels: ['b']"),
        ({"method": "zero_shot", "model": "m", "labels": ["a"], "hypothesis_template": "About"},
         "label.hypothesis_template: must contain {} where the label goes (got 'About')"),
        ({"method": "kmeans", "kmeans": {"k_range": [5, 3]}},
         "label.kmeans: k_range must be [low, high] with 2 <= low <= high; got [5, 3]"),
        ({"method": "manual", "labels": ["a"], "suggest": "zero_shot"}, "label.suggest.model: field required"),
        ({"method": "llm"},
         "label.method: unknown method (got 'llm'); expected one of 'column', 'zero_shot', 'embedding', 'kmeans', 'manual'"),
        ({"method": "column", "model": "m"}, "label.model: not a key of label method column (got 'm')"),
        ({"method": "manual", "labels": ["a"], "suggest": {"method": "embedding", "hypothesis_template": "x {}"}},
         "label.suggest.hypothesis_template: not a key of suggest method embedding (got 'x {}')"),
    ],
)
def test_label_method_settings_are_checked(label, message) -> None:
    assert _error({**BASE, "label": label}) == message


def test_missing_name_and_empty_sources() -> None:
    msg = _error({"sources": []})
    assert "name: field required" in msg
    assert "sources: List should have at least 1 item" in msg


def test_load_config_names_missing_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"^recipe not found: .*nope\.yaml$"):
        load_config(tmp_path / "nope.yaml")


def test_load_config_names_yaml_line(tmp_path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("name: t\nsources: [\n  - {type: csv\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:")
    assert "not valid YAML" in str(info.value)


def test_load_config_prefixes_the_file(tmp_path, write_recipe) -> None:
    path = write_recipe({**BASE, "clean": {"min_words": -1}})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: clean.min_words: Input should be greater than or equal to 0 (got -1)"


def test_sources_resolve_against_the_recipe_folder(tmp_path, write_recipe) -> None:
    recipe = load_config(write_recipe(BASE))
    assert recipe.base_dir == tmp_path.resolve()
    assert recipe.resolved_cache_dir() == tmp_path.resolve() / ".ftbuild" / "t"


def test_to_yaml_round_trips() -> None:
    import yaml

    recipe = parse_config({**BASE, "clean": {"min_words": 3}})
    again = Recipe.model_validate(yaml.safe_load(recipe.to_yaml()))
    assert again.model_dump() == recipe.model_dump()


@pytest.mark.parametrize(("text", "message"), [
    ("name: x\nseed: 1\nsources: [{type: csv, path: a.csv}]\nseed: 2\n", "key 'seed' given twice (lines 2 and 4)"),
    ("name: x\nsources: [{type: csv, path: a.csv}]\nlabel: {method: column}\nlabel:\n  method: kmeans\n",
     "key 'label' given twice (lines 3 and 4)"),
    ("name: x\nsources:\n  - {type: csv, path: a.csv, path: b.csv}\n", "key 'path' given twice (lines 3 and 3)"),
])
def test_a_key_given_twice_is_an_error_naming_both_lines(tmp_path, text: str, message: str) -> None:
    (tmp_path / "r.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "r.yaml")
    assert str(info.value) == f"{tmp_path / 'r.yaml'}: not valid YAML ({message})"


def test_a_billion_laughs_recipe_is_refused_before_it_is_expanded(tmp_path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 80)]
    (tmp_path / "r.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not valid YAML \(more than 100 aliases"):
        load_config(tmp_path / "r.yaml")


def test_a_recipe_is_read_with_a_bound(tmp_path) -> None:
    (tmp_path / "r.yaml").write_bytes(b"name: x\n" + b"#" * 1_100_000)
    with pytest.raises(ConfigError, match=r"r\.yaml is larger than 1,000,000 bytes"):
        load_config(tmp_path / "r.yaml")


@pytest.mark.parametrize(("split", "message"), [
    ({"method": "random", "rare_classes": "train_only"}, "split.rare_classes: not a key of split method random (got 'train_only')"),
    ({"method": "stratified", "time_column": "when"}, "split.time_column: not a key of split method stratified (got 'when')"),
    ({"method": "group"}, "split: method group needs group_column, or group_by: near_duplicates"),
    ({"method": "time", "embargo": "a week"}, "split.embargo: a number of days, such as 7 or 7d (got 'a week')"),
])
def test_split_keys_belong_to_their_method(split, message) -> None:
    assert _error({**BASE, "split": split}) == message


def test_a_label_or_split_section_takes_exactly_its_methods_keys() -> None:
    from hf_ftbuilder.config import ColumnLabel, EmbeddingLabel, GroupSplit, ManualLabel, StratifiedSplit, TimeSplit

    recipe = parse_config({**BASE, "label": {"method": "manual", "labels": ["a", "b"], "suggest": "embedding"},
                           "split": {"method": "time", "embargo": "7d"}})
    assert isinstance(recipe.label, ManualLabel) and recipe.label.suggest.method == "embedding"
    assert isinstance(recipe.split, TimeSplit) and recipe.split.embargo == 7
    assert isinstance(parse_config(BASE).split, StratifiedSplit) and isinstance(parse_config(BASE).label, ColumnLabel)
    assert "descriptions" in EmbeddingLabel.model_fields and "descriptions" not in ColumnLabel.model_fields
    assert "group_column" in GroupSplit.model_fields and "group_column" not in StratifiedSplit.model_fields
