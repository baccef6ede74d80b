"""label.labels_per_row: many: label sets from a column (lists and delimited strings), through the
iterative-stratified split, oversampling and the report, to a card and a folder load_dataset reads."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
import yaml
from datasets import ClassLabel, DatasetDict, List, load_dataset
from huggingface_hub import DatasetCard, DatasetCardData

import hf_ftbuilder
from hf_ftbuilder.cli import main
from hf_ftbuilder.config import Balance, ColumnLabel
from hf_ftbuilder.context import StageContext
from hf_ftbuilder.errors import ConfigError, StageError
from hf_ftbuilder.label import label
from hf_ftbuilder.split import multilabel_indices
from hf_ftbuilder.split.balance import balance

from ..conftest import LIGHT_REPORT
from .conftest import read_split_rows

NAMES = ["billing", "login", "refund", "shipping"]
WORDS = {"billing": "invoice charged price", "login": "password signin locked", "refund": "money back reimburse",
         "shipping": "parcel courier tracking"}


def _rows(n: int, seed: int) -> list[dict]:
    """Texts made of the words of one or two tags (skewed: billing common, shipping rare)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        first = rng.choices(NAMES, weights=[5, 3, 2, 1])[0]
        tags = {first} | ({rng.choice(NAMES)} if rng.random() < 0.4 else set())
        words = " ".join(WORDS[t] for t in sorted(tags))
        rows.append({"text": f"ticket {i} about {words} please help", "tags": sorted(tags)})
    return rows


def _recipe(folder: Path, **label_extra) -> dict:
    return {
        "name": "tickets", "seed": 5, "report": LIGHT_REPORT,
        "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
        "dedup": {"near": {"enabled": False}},
        "label": {"method": "column", "column": "tags", "labels_per_row": "many", **label_extra},
        "split": {"method": "stratified", "fractions": {"train": 0.8, "validation": 0.1, "test": 0.1}},
    }


def _write(folder: Path, recipe: dict, rows: list[dict] | None = None) -> Path:
    if rows is not None:
        (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


def test_label_sets_from_lists_and_delimited_strings(make_dataset) -> None:
    lists = make_dataset(["a", "b", "c", "d", "e"],
                         tags=[["refund", "billing"], ["billing", "billing"], ["gossip"], [], ["gossip", "login"]])
    out, stats = label(lists, ColumnLabel(column="tags", labels_per_row="many", labels=NAMES))
    assert out.features["labels"] == List(ClassLabel(names=NAMES))
    # Each row's labels in the order of the names, once; unknown labels left out; no label left: dropped.
    assert out["labels"] == [[0, 2], [0], [1]] and out["text"] == ["a", "b", "e"]
    assert out["label_score"] == [None] * 3 and set(out["label_source"]) == {"column:tags"}
    assert stats.dropped == {"missing_label": 2}

    strings = make_dataset(["a", "b", "c", "d"], tags=["shipping; refund", " login ;;", None, "refund|billing"])
    out, stats = label(strings, ColumnLabel(column="tags", labels_per_row="many", label_delimiter=";"))
    # No labels given: the names are the values seen, sorted; "refund|billing" is one (odd) name.
    assert out.features["labels"].feature.names == ["login", "refund", "refund|billing", "shipping"]
    assert out["labels"] == [[1, 3], [0], [2]] and stats.dropped == {"missing_label": 1}


def test_a_multilabel_build_end_to_end(tmp_path: Path) -> None:
    rows = _rows(600, seed=1)
    report = {**LIGHT_REPORT, "baseline": True, "label_noise": True, "cv_folds": 3}
    recipe = {**_recipe(tmp_path), "report": report, "balance": {"method": "oversample"}}
    result = hf_ftbuilder.build(_write(tmp_path, recipe, rows), output_dir=tmp_path / "out", progress=False)
    out = tmp_path / "out"

    loaded = load_dataset(str(out))
    assert loaded["train"].features["labels"] == List(ClassLabel(names=NAMES))
    assert sorted(loaded) == ["test", "train", "validation"]
    gold = {r["text"]: [NAMES.index(t) for t in r["tags"]] for r in rows}
    for split in ("validation", "test"):
        assert all(gold[r["text"]] == r["labels"] for r in loaded[split])

    # The card's YAML says so and round-trips through huggingface_hub's DatasetCardData.
    card = DatasetCard.load(out / "README.md")
    assert isinstance(card.data, DatasetCardData)
    feature = next(f for f in card.data.dataset_info["features"] if f["name"] == "labels")
    assert feature == {"name": "labels", "list": {"class_label": {"names": {str(i): n for i, n in enumerate(NAMES)}}}}
    assert DatasetCardData(**card.data.to_dict()).to_dict() == card.data.to_dict()

    # The report's figures, from the rows written (train holds oversampled copies too).
    q = result.quality
    written = [r["labels"] for r in read_split_rows(out)]
    assert q["labels"]["counts"] == {n: sum(i in labels for labels in written) for i, n in enumerate(NAMES)}
    assert q["labels"]["per_row"] == "many"
    sizes = [len(labels) for labels in written]
    assert q["labels"]["cardinality"] == round(sum(sizes) / len(written), 6)
    assert q["labels"]["labels_per_row"] == {"1": sizes.count(1), "2": sizes.count(2)}
    together = np.zeros((4, 4), dtype=int)
    for labels in written:
        together[np.ix_(labels, labels)] += 1
    assert q["labels"]["co_occurrence"] == together.tolist()
    # Iterative stratification: every label within a point of its split's fraction.
    split = next(s for s in q["stages"] if s["name"] == "split")["details"]
    assert split["iterative"]["largest_share_gap"] <= 0.01
    # Oversampling counts labels: the rarest label reaches the largest label's count in train.
    bal = q["balance"]
    assert bal["per"] == "label" and bal["after"]["shipping"] >= bal["before"]["billing"]
    assert min(bal["after"].values()) >= bal["target"] == bal["before"]["billing"]
    cv = q["baseline"]["tfidf_logreg"]["cross_validation"]
    assert cv["folds"] == 3 and cv["micro_f1"] == 1.0 and cv["hamming_loss"] == 0.0
    assert q["noise"]["labels"]["label_errors"] == 0
    text = (out / "README.md").read_text()
    assert "labels per row on average (label cardinality)" in text and "| billing | " in text
    assert "`labels` | list of class labels |" in text


def test_the_same_recipe_gives_the_same_bytes(tmp_path: Path) -> None:
    path = _write(tmp_path, _recipe(tmp_path), _rows(200, seed=2))
    for name in ("a", "b"):
        hf_ftbuilder.build(path, output_dir=tmp_path / name, until="balance", progress=False)
    for file in sorted((tmp_path / "a" / "data").glob("*.parquet")):
        assert file.read_bytes() == (tmp_path / "b" / "data" / file.name).read_bytes()
    assert len(read_split_rows(tmp_path / "a")) == 200


def test_a_delimited_csv_column(tmp_path: Path) -> None:
    with (tmp_path / "corpus.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "tags"])
        writer.writerows([f"message {i} {WORDS[NAMES[i % 4]]}", f"{NAMES[i % 4]}|{NAMES[(i + 1) % 4]}"]
                         for i in range(40))
    recipe = {**_recipe(tmp_path, label_delimiter="|", labels=NAMES),
              "sources": [{"type": "csv", "path": "corpus.csv"}], "split": {"method": "random"}}
    hf_ftbuilder.build(_write(tmp_path, recipe), output_dir=tmp_path / "out", until="split", progress=False)
    got = {r["text"]: r["labels"] for r in read_split_rows(tmp_path / "out")}
    assert got == {f"message {i} {WORDS[NAMES[i % 4]]}": sorted([i % 4, (i + 1) % 4]) for i in range(40)}


def test_a_label_too_small_to_split(tmp_path: Path) -> None:
    rows = [{"text": f"row {i} {WORDS['billing']}", "tags": ["billing"] + (["login"] if i < 2 else [])}
            for i in range(30)]
    path = _write(tmp_path, _recipe(tmp_path), rows)
    with pytest.raises(StageError, match=r"^split: label 'login' has 2 rows; a stratified split into "
                                         r"train/validation/test needs at least 3 \(or set split.rare_classes"):
        hf_ftbuilder.build(path, output_dir=tmp_path / "out", until="split", progress=False)
    assert not (tmp_path / "out").exists()
    assert main(["build", str(path), "--output", str(tmp_path / "out"), "--until", "split", "--quiet"]) == 2
    recipe = _recipe(tmp_path)
    recipe["split"]["rare_classes"] = "train_only"
    result = hf_ftbuilder.build(_write(tmp_path, recipe), output_dir=tmp_path / "out", until="split", progress=False)
    train = result.dataset["train"]
    assert sum(1 in labels for labels in train["labels"]) == 2
    assert next(s for s in result.quality["stages"] if s["name"] == "split")["details"]["rare_classes_train_only"] == {
        "login": 2}


def test_multilabel_indices_against_a_random_split() -> None:
    rng = random.Random(0)
    sets = []
    for _ in range(3000):
        row = {j for j, p in enumerate([0.5, 0.3, 0.15, 0.06, 0.03]) if rng.random() < p}
        sets.append(sorted(row))
    fractions = {"train": 0.8, "validation": 0.1, "test": 0.1}
    names = list("abcde")
    _, _, gap = multilabel_indices(sets, fractions, seed=1, names=names)
    order = np.random.default_rng(1).permutation(3000)
    cut = {"train": order[:2400], "validation": order[2400:2700], "test": order[2700:]}
    counts = np.bincount([j for row in sets for j in row], minlength=5)
    naive = max(abs(np.bincount([j for i in rows for j in sets[i]], minlength=5)[j] / counts[j] - fractions[s])
                for s, rows in cut.items() for j in range(5))
    assert gap <= 0.01 < naive, (gap, naive)


def test_oversample_counts_labels_and_the_other_methods_refuse(tmp_path: Path, make_dataset) -> None:
    train = make_dataset([f"t{i}" for i in range(10)], labels=[[0]] * 6 + [[0, 1]] * 2 + [[2]] * 2)
    train = train.cast_column("labels", List(ClassLabel(names=["a", "b", "c"])))
    dd = DatasetDict({"train": train, "test": train.select([0])})
    out, stats = balance(dd, Balance(method="oversample"), context=StageContext(seed=3))
    # a: 8 rows; b (2) and c (2) get copies, b's copies carry a too.
    assert stats.details["before"] == {"a": 8, "b": 2, "c": 2}
    assert stats.details["after"] == {"a": 14, "b": 8, "c": 8} and stats.details["added"] == 12
    assert out["train"].num_rows == 22 and out["test"]["augmented_from"] == [None]
    with pytest.raises(StageError, match="^balance: method undersample needs one label per row"):
        balance(dd, Balance(method="undersample"), context=StageContext(seed=3))
    recipe = {**_recipe(tmp_path), "balance": {"method": "augment"}}
    with pytest.raises(ConfigError, match="balance.method: augment keeps or makes rows per class"):
        hf_ftbuilder.load_config(_write(tmp_path, recipe, []))


@pytest.mark.parametrize(("label_section", "message"), [
    ({"method": "kmeans", "labels_per_row": "many"}, "method kmeans gives one label per row"),
    ({"method": "column", "label_delimiter": ";"}, "label_delimiter applies to several labels per row: set labels_per_row"),
    ({"method": "zero_shot", "model": "m", "labels": ["a", "b"], "threshold": 0.3}, "threshold applies to several labels"),
    ({"method": "zero_shot", "model": "m", "labels": ["a", "b"], "labels_per_row": "many", "multi_label": False},
     "multi_label: false makes the labels compete for one row"),
    ({"method": "manual", "labels": ["a;b", "c"], "labels_per_row": "many"},
     "label 'a;b' holds the label delimiter ';', which separates several labels: set label_delimiter"),
    ({"method": "manual", "labels": ["a;b", "c"], "labels_per_row": "many", "label_delimiter": "|"}, None),
    ({"method": "zero_shot", "model": "m", "labels": ["a", "b"], "labels_per_row": "many", "ask": 5},
     "ask is not built for labels_per_row: many yet"),
])
def test_recipe_errors(tmp_path: Path, label_section: dict, message: str) -> None:
    recipe = {"name": "x", "sources": [{"type": "jsonl", "path": "x.jsonl"}], "label": label_section}
    if message is None:
        assert hf_ftbuilder.load_config(_write(tmp_path, recipe)).label.label_delimiter == "|"
        return
    with pytest.raises(ConfigError, match=message):
        hf_ftbuilder.load_config(_write(tmp_path, recipe))
    assert main(["validate", str(tmp_path / "recipe.yaml")]) == 2


def test_the_shipped_multilabel_recipe_builds(tmp_path: Path) -> None:
    recipe = Path(__file__).resolve().parents[2] / "dataset_scripts" / "tickets.yaml"
    result = hf_ftbuilder.build(recipe, output_dir=tmp_path / "tickets", until="split", progress=False)
    assert result.dataset["train"].features["labels"].feature.names == [
        "billing", "bug", "feature_request", "login", "refund", "shipping"]
    assert sum(ds.num_rows for ds in result.dataset.values()) == 1200


def test_embedding_decides_label_by_label(tmp_path: Path) -> None:
    from ..conftest import SENTENCE_TOPICS, SENTENCES

    # 24 one-topic sentences and 8 rows joining sentences of two topics; label names only.
    rows = []
    for k in range(8):
        rows += [{"text": SENTENCES[t][k], "gold": [t]} for t in SENTENCE_TOPICS]
        a, b = SENTENCE_TOPICS[k % 3], SENTENCE_TOPICS[(k + 1) % 3]
        rows.append({"text": f"{SENTENCES[a][k]} {SENTENCES[b][(k + 3) % 8]}", "gold": sorted([a, b])})
    # fp32 (quantize: null): the default picks bf16 or int8 by the CPU, and these counts are measured.
    recipe = {**_recipe(tmp_path), "label": {"method": "embedding", "labels": SENTENCE_TOPICS, "quantize": None,
                                             "labels_per_row": "many"}, "split": {"method": "random"}}
    result = hf_ftbuilder.build(_write(tmp_path, recipe, rows), output_dir=tmp_path / "out", until="label",
                                progress=False)
    got = {r["text"]: sorted(SENTENCE_TOPICS[i] for i in r["labels"]) for r in read_split_rows(tmp_path / "out")}
    right = [r["text"] for r in rows if got.get(r["text"]) == r["gold"]]
    # Measured: 30 of 32 exact; one two-topic row loses its space half, one space row gets no label.
    assert len(right) == 30
    two_topics = [r for r in rows if len(r["gold"]) == 2]
    assert sum(got.get(r["text"]) == r["gold"] for r in two_topics) == 7
    details = next(s for s in result.quality["stages"] if s["name"] == "label")
    assert details["dropped"] == {"no_label": 1}
    no_label = (tmp_path / "out" / "review" / "no_label.parquet")
    assert no_label.exists()
    assert set(details["details"]["cuts"]) == set(SENTENCE_TOPICS)
    assert "skipped" in details["details"]["refine"]  # 32 rows: too few to refine


class _TopicVectors:
    """An embedder for planted texts: one axis per label, which a text carrying the label's topic
    words gets a value on that varies from text to text (0.1 to 1, seeded by the text), as a real
    model's similarity varies; a text without them gets 0 to 0.1; and a constant axis."""

    name = "topic-vectors"

    def __init__(self, names: list[str], topic: dict[str, str]) -> None:
        self.names, self.topic = names, topic

    def encode(self, texts, desc: str = "") -> np.ndarray:
        texts = texts["text"] if not isinstance(texts, list) else texts
        rows = []
        for t in texts:
            rng = random.Random(t)
            rows.append([rng.uniform(0.1, 1.0) if self.topic[n] in t or t == n else rng.uniform(0.0, 0.1)
                         for n in self.names] + [0.3])
        v = np.array(rows)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_embedding_refine_learns_each_label_from_its_words(make_dataset) -> None:
    from hf_ftbuilder.config import EmbeddingLabel
    from hf_ftbuilder.label import embedding

    # Each label's topic words are in every row carrying it; similarity to the label varies from
    # row to row, so the cut misses the carriers it scores low. Each label's classifier, taught by
    # the rows far from the cut, finds them by their words.
    names = ["alpha", "beta", "gamma"]
    topic = {"alpha": "harbour ferry", "beta": "violin concerto", "gamma": "glacier summit"}
    rng = random.Random(3)
    texts, gold = [], []
    for i in range(400):
        labels = sorted(rng.sample(names, rng.choice([1, 1, 2])))
        texts.append(f"note {i} " + " ".join(topic[n] for n in labels))
        gold.append([names.index(n) for n in labels])
    ds = make_dataset(texts)
    cfg = EmbeddingLabel(labels=names, labels_per_row="many")
    common = {"base_dir": Path("."), "cache_dir": None, "seed": 0, "progress": False,
              "embedder": _TopicVectors(names, topic)}
    plain, _ = embedding.predict_many(ds, cfg.model_copy(update={"refine": False}), names, **common)
    refined, details = embedding.predict_many(ds, cfg, names, **common)
    exact = lambda proba: sum(np.flatnonzero(row >= 0.5).tolist() == g for row, g in zip(proba, gold))  # noqa: E731
    print(f"exact label sets: similarity {exact(plain)} of 400, refined {exact(refined)}")
    assert (exact(plain), exact(refined)) == (206, 299) and details["refine"]["one_vs_rest"] == 3
