"""Builds the review tests share: planted topics labelled by hand (rows to label) and by clusters."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
import yaml

import hf_ftbuilder

from ..conftest import LIGHT_REPORT, edit
from ..label.conftest import FILLER, TOPICS, WORDS, topic_rows, write_jsonl

#: Texts that are markup: the page must show them as text and run nothing.
HOSTILE = ['<img src=x onerror="document.title=\'pwned\'"> football goal', '<script>document.title="pwned"</script> rocket orbit']


def manual_recipe() -> dict:
    return {
        "name": "topics",
        "seed": 5,
        "report": LIGHT_REPORT,
        "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
        "clean": {"html": False},
        "dedup": {"near": {"enabled": True, "threshold": 0.7}},
        "label": {"method": "manual", "labels": TOPICS, "annotations": "seed_labels.csv"},
        "split": {"method": "random"},
    }


def write_manual_corpus(folder: Path) -> list[dict]:
    """30 rows per topic, two hostile rows, two near-copies of row 0 (the duplicates queue), eight
    pairs that leak across splits;
    22 rows labelled by a person already (two per topic, and the pairs), the rest wait as not_annotated."""
    rows = topic_rows(30, seed=3)
    rows += [{"text": t, "gold": "sports"} for t in HOSTILE]
    rows += [{"text": rows[0]["text"] + " extra", "gold": rows[0]["gold"]},
             {"text": "again " + rows[0]["text"], "gold": rows[0]["gold"]}]
    # Pairs alike enough for the leakage check (Jaccard about 0.6), not for near dedup (0.7).
    rng = random.Random(11)
    for k in range(8):
        topic = TOPICS[k % 3]
        long = " ".join(rng.choice(WORDS[topic] + FILLER) for _ in range(60)) + f" pair {k}"
        rows += [{"text": long, "gold": topic}, {"text": edit(long, [12, 30, 48]), "gold": topic}]
    write_jsonl(folder / "corpus.jsonl", rows)
    return rows


@pytest.fixture(scope="session")
def manual_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built recipe (method manual, 22 rows labelled): its folder, read-only; copy it to edit."""
    folder = tmp_path_factory.mktemp("review-manual")
    write_manual_corpus(folder)
    # The ids are the build's: build once without the seed labels to learn them.
    (folder / "recipe.yaml").write_text(yaml.safe_dump({**manual_recipe(), "label": {"method": "column", "column": "gold"}}))
    first = hf_ftbuilder.build(folder / "recipe.yaml", output_dir=folder / "ids", until="dedup", progress=False)
    ids = first.dataset["train"]["id"]
    golds = first.dataset["train"]["gold"]
    texts = first.dataset["train"]["text"]
    picked = [(i, g) for t in TOPICS for i, g in [(i, g) for i, g in zip(ids, golds) if g == t][:2]]
    picked += [(i, g) for i, g, text in zip(ids, golds, texts) if " pair " in text]  # so that they can leak
    (folder / "seed_labels.csv").write_text("id,label\n" + "".join(f"{i},{g}\n" for i, g in picked))
    shutil.rmtree(folder / "ids")
    (folder / "recipe.yaml").write_text(yaml.safe_dump(manual_recipe(), sort_keys=False))
    hf_ftbuilder.build(folder / "recipe.yaml", output_dir=folder / "out", progress=False)
    return folder


def private_copy(project: Path, tmp_path: Path) -> Path:
    """A copy of a session's project (recipe, inputs, cache, build) that one test may change."""
    folder = tmp_path / "project"
    shutil.copytree(project, folder)
    return folder


@pytest.fixture
def manual_copy(manual_build: Path, tmp_path: Path) -> Path:
    """A private copy of the manual build's folder for a test that decides."""
    return private_copy(manual_build, tmp_path)


def kmeans_recipe() -> dict:
    return {
        "name": "clusters",
        "seed": 7,
        "report": {**LIGHT_REPORT, "plots": False},
        "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
        "dedup": {"near": {"enabled": False}},
        "label": {"method": "kmeans", "labels": TOPICS, "kmeans": {"k": 3}, "min_score": 0.63},
    }


@pytest.fixture(scope="session")
def kmeans_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three planted topics clustered by KMeans (not named yet); the scores of some rows fall
    below min_score, so they wait for a person once the clusters are named. Read-only."""
    folder = tmp_path_factory.mktemp("review-kmeans")
    write_jsonl(folder / "corpus.jsonl", topic_rows(30, seed=1))
    (folder / "recipe.yaml").write_text(yaml.safe_dump(kmeans_recipe(), sort_keys=False))
    hf_ftbuilder.build(folder / "recipe.yaml", output_dir=folder / "out", progress=False)
    return folder


@pytest.fixture
def kmeans_project(kmeans_build: Path, tmp_path: Path) -> Path:
    """A private copy of the KMeans project (its cache holds the fitted clusterer)."""
    return private_copy(kmeans_build, tmp_path)


def topic_of(text: str) -> str:
    """The planted topic whose words a text holds most."""
    return max(TOPICS, key=lambda t: sum(text.count(w) for w in WORDS[t]))


#: Label sets of the multi-label review build: one topic, or two.
KINDS = (["sports"], ["space"], ["sports", "space"])


def many_recipe() -> dict:
    return {
        "name": "tags", "seed": 3, "report": {**LIGHT_REPORT, "plots": False},
        "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
        "dedup": {"near": {"enabled": False}},
        "label": {"method": "manual", "labels": TOPICS, "labels_per_row": "many", "annotations": "seed.csv"},
        "split": {"method": "random"},
    }


def gold_set(text: str) -> list[str]:
    """The planted labels of a multi-label review row: the topics whose words it holds."""
    return [t for t in TOPICS if any(w in text.split() for w in WORDS[t])]


@pytest.fixture(scope="session")
def many_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """36 rows with one topic or two (sports, space), 12 labelled by a person already (as label sets);
    the other 24 wait as not_annotated. Read-only."""
    folder = tmp_path_factory.mktemp("review-many")
    rng = random.Random(4)
    rows = []
    for i in range(36):
        words = [w for t in KINDS[i % 3] for w in rng.sample(WORDS[t], 4)] + rng.sample(FILLER, 3)
        rows.append({"text": f"{' '.join(words)} number {i}"})
    write_jsonl(folder / "corpus.jsonl", rows)
    (folder / "seed.csv").write_text("id,labels\n")
    (folder / "recipe.yaml").write_text(yaml.safe_dump({**many_recipe(), "label": {"method": "column", "column": "text"}}))
    ids = hf_ftbuilder.build(folder / "recipe.yaml", output_dir=folder / "ids", until="dedup", progress=False)
    train = ids.dataset["train"]
    seed = [(i, ";".join(gold_set(t))) for i, t in zip(train["id"], train["text"])][:12]
    (folder / "seed.csv").write_text("id,labels\n" + "".join(f"{i},{s}\n" for i, s in seed))
    shutil.rmtree(folder / "ids")
    (folder / "recipe.yaml").write_text(yaml.safe_dump(many_recipe(), sort_keys=False))
    hf_ftbuilder.build(folder / "recipe.yaml", output_dir=folder / "out", progress=False)
    return folder


@pytest.fixture
def many_copy(many_build: Path, tmp_path: Path) -> Path:
    """A private copy of the multi-label build's folder for a test that decides."""
    return private_copy(many_build, tmp_path)
