"""The demo recipe, as `make build` runs it, meets the acceptance figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from datasets import ClassLabel, load_dataset

import hf_ftbuilder

from .conftest import REPO


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "demo"
    hf_ftbuilder.build(REPO / "dataset_scripts" / "demo.yaml", output_dir=out)
    return out


def test_demo_loads_with_class_labels_and_counts_agree(demo: Path) -> None:
    dd = load_dataset(str(demo))
    assert list(dd) == ["train", "validation", "test"]
    assert dd["train"].features["label"] == ClassLabel(names=["ham", "spam"])
    quality = json.loads((demo / "quality.json").read_text())
    card_yaml = yaml.safe_load((demo / "README.md").read_text().split("---\n")[1])
    declared = {s["name"]: s["num_examples"] for s in card_yaml["dataset_info"]["splits"]}
    for name, ds in dd.items():
        assert ds.num_rows == quality["splits"][name]["num_rows"] == declared[name]
    assert card_yaml["license"] == "cc-by-4.0"
    # The collection's exact-duplicate copies are gone (403 byte-identical, a dozen more differing in case/space).
    dedup = next(s for s in quality["stages"] if s["name"] == "dedup")
    assert dedup["rows_in"] == 5574 and dedup["dropped"]["exact_duplicate"] >= 403


def test_demo_split_is_stratified_and_disjoint(demo: Path) -> None:
    dd = load_dataset(str(demo))
    labels = {name: ds["label"] for name, ds in dd.items()}
    everything = [x for v in labels.values() for x in v]
    spam_share = everything.count(1) / len(everything)
    for name, values in labels.items():
        assert abs(values.count(1) / len(values) - spam_share) < 0.02, name
    ids = [i for ds in dd.values() for i in ds["id"]]
    assert len(ids) == len(set(ids))


def test_demo_text_is_free_of_entities_and_control_characters(demo: Path) -> None:
    import csv
    import re

    raw = [row["text"] for row in csv.DictReader((REPO / "dataset_scripts" / "data" / "sms_spam.csv").open(newline=""))]
    artefact = re.compile(r"&(?:lt|gt|amp|quot|#\d+);|[\x80-\x9f]")
    assert sum(bool(artefact.search(t)) for t in raw) > 100  # the sample has them...
    dd = load_dataset(str(demo))
    texts = [t for ds in dd.values() for t in ds["text"]]
    assert not any(artefact.search(t) for t in texts)  # ...the build does not
    quality = json.loads((demo / "quality.json").read_text())
    clean = next(s for s in quality["stages"] if s["name"] == "clean")["details"]
    assert clean["touched"]["html"] > 100 and clean["touched"]["fix_unicode"] > 10  # rows each rule changed
    card = (demo / "README.md").read_text()
    assert f"html {clean['touched']['html']}" in card
