"""The dataset card: Hub metadata passed through, personal data said, templates sandboxed, recipe.yaml."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

import hf_ftbuilder
from hf_ftbuilder.cli import main
from hf_ftbuilder.config import parse_config
from hf_ftbuilder.errors import ConfigError
from hf_ftbuilder.hub_metadata import annotations_creators

from .conftest import LIGHT_REPORT

# Report figures this module does not read are off: a card test builds in about a second.
METADATA = {
    "tags": ["sms", "spam"],
    "task_ids": ["sentiment-classification"],
    "source_datasets": ["original"],
    "multilinguality": "monolingual",
    "extra_gated_prompt": "Tell us what you use it for.",
    "extra_gated_fields": {"Affiliation": "text"},
}


def _corpus(folder: Path) -> Path:
    rows = [{"text": f"Message number {i} about topic {i % 2} and more words {i * 3}.", "label": "ab"[i % 2]}
            for i in range(40)]
    rows[3]["text"] = "Write to ann.lee@example.org or call +44 20 7946 0958 today about the offer."
    rows[8]["text"] = "Mail bob@example.com before noon, says the note about the meeting."
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder / "corpus.jsonl"


def _recipe(**card) -> dict:
    return {
        "name": "cardtest",
        "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
        "label": {"method": "column", "labels": ["a", "b"]},
        "split": {"method": "random", "fractions": {"train": 0.8, "test": 0.2}},
        "report": LIGHT_REPORT,
        "card": {"license": "mit", "language": ["en"], **card},
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("card")
    _corpus(folder)
    (folder / "recipe.yaml").write_text(yaml.safe_dump(_recipe(metadata=METADATA)), encoding="utf-8")
    return hf_ftbuilder.build(folder / "recipe.yaml", output_dir=folder / "out").output_dir


def _card_yaml(folder: Path) -> dict:
    return yaml.safe_load((folder / "README.md").read_text(encoding="utf-8").split("---\n")[1])


def test_card_metadata_passes_through_under_the_computed_fields(built: Path) -> None:
    meta = _card_yaml(built)
    for key, value in METADATA.items():
        assert meta[key] == ([value] if key == "multilinguality" else value)
    assert meta["annotations_creators"] == ["found"]  # labels from a column: found, not made
    assert meta["license"] == "mit" and meta["size_categories"] == ["n<1K"]
    assert [s["name"] for s in meta["dataset_info"]["splits"]] == ["train", "test"]
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "data/train-*"},
                                                {"split": "test", "path": "data/test-*"}]


def test_card_says_what_personal_data_was_found_and_what_is_not_searched(built: Path) -> None:
    card = (built / "README.md").read_text(encoding="utf-8")
    section = card.split("## Personal and sensitive information\n")[1].split("\n## ")[0]
    assert "e-mail addresses 2, payment card numbers 0, IBANs 0, IP addresses 0, phone numbers 1 (2 rows had at " \
           "least one)" in section
    assert "replaced each match with a typed placeholder" in section
    assert "names of people, street addresses" in section
    texts = [t for f in (built / "data").glob("*.parquet") for t in pq.read_table(f).column("text").to_pylist()]
    assert not any("example.org" in t or "example.com" in t for t in texts)


def test_load_snippet_names_the_dataset_not_a_placeholder(built: Path) -> None:
    card = (built / "README.md").read_text(encoding="utf-8")
    assert 'ds = load_dataset("cardtest")' in card
    assert "path/to" not in card


@pytest.mark.parametrize(("metadata", "message"), [
    ({"configs": []}, "card.metadata: configs is computed by the build from what it writes; leave it out"),
    ({"license": "mit"}, "card.metadata: license has its own key; set card.license instead"),
    ({"annotations_creators": ["robots"]}, "card.metadata: annotations_creators values ['robots'] are not the Hub's"),
    ({"tags": [1, 2]}, "card.metadata: tags must be a list of strings; got [1, 2]"),
])
def test_bad_card_metadata_is_named(metadata: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(_recipe(metadata=metadata))


def test_given_annotations_creators_win_over_the_derived_ones(tmp_path: Path) -> None:
    _corpus(tmp_path)
    (tmp_path / "recipe.yaml").write_text(
        yaml.safe_dump(_recipe(metadata={"annotations_creators": ["expert-generated"]})), encoding="utf-8")
    out = hf_ftbuilder.build(tmp_path / "recipe.yaml", output_dir=tmp_path / "out").output_dir
    assert _card_yaml(out)["annotations_creators"] == ["expert-generated"]


def test_annotations_creators_follow_label_source() -> None:
    assert annotations_creators(["column:label"]) == ["found"]
    assert annotations_creators(["embedding:m", "human", "cluster:3"]) == ["expert-generated", "machine-generated"]
    assert annotations_creators([]) == ["no-annotation"]


@pytest.mark.parametrize(("body", "message"), [
    ("{{ cycler.__init__.__globals__.os.popen('touch CANARY').read() }}",
     "card template: refused an unsafe operation (access to attribute '__init__' of 'type' object is unsafe.)"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}{{ lipsum.__globals__['os'].system('touch CANARY') }}",
     "card template: refused an unsafe operation (access to attribute '__class__' of 'str' object is unsafe.)"),
    ("{{ config }}", "card template: 'config' is undefined"),
])
def test_a_card_template_cannot_run_code_or_reach_outside_its_variables(built: Path, tmp_path: Path, capsys,
                                                                         body: str, message: str) -> None:
    canary = tmp_path / "canary"
    template = tmp_path / "evil.md"
    template.write_text("---\n{{ card_data }}\n---\n" + body.replace("CANARY", str(canary)) + "\n", encoding="utf-8")
    before = (built / "README.md").read_bytes()
    code = main(["card", str(built), "--template", str(template)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [f"error: {message}"]
    assert not canary.exists()
    assert (built / "README.md").read_bytes() == before  # the card is left as it was


def test_recipe_yaml_is_resolved_without_local_settings(built: Path) -> None:
    text = (built / "recipe.yaml").read_text(encoding="utf-8")
    digest = hashlib.sha256((built.parent / "corpus.jsonl").read_bytes()).hexdigest()
    assert f"#   corpus.jsonl  {digest}\n" in text
    data = yaml.safe_load(text)
    assert "cache_dir" not in data and "execution" not in data
    assert data["output"] == {"shard_rows": 100000, "write_dropped": True}
    assert data["sources"][0] == {"type": "jsonl", "text_column": "text", "date_column": None, "url_column": None,
                                  "title_column": None, "author_column": None, "language_column": None,
                                  "path": "corpus.jsonl"}
    assert data["card"]["metadata"]["tags"] == ["sms", "spam"]
    assert parse_config(data).model_dump(mode="json")["dedup"] == data["dedup"]  # every default written


def test_recipe_yaml_hides_credentials_in_urls() -> None:
    recipe = parse_config({
        "name": "web", "label": {"method": "column", "labels": ["a"]},
        "sources": [{"type": "urls", "urls": ["https://user:pw@example.org/a?token=abc&page=2"]},
                    {"type": "sitemap", "url": "https://example.org/sitemap.xml?api_key=k1"}],
    })
    text = recipe.to_build_yaml({})
    assert "pw" not in text and "abc" not in text and "k1" not in text
    data = yaml.safe_load(text)
    assert data["sources"][0]["urls"] == ["https://***@example.org/a?token=***&page=2"]
    assert data["sources"][1]["url"] == "https://example.org/sitemap.xml?api_key=***"
