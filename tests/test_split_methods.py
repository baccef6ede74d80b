"""Splits that do not leak: time and group splits, the leakage check, and balancing train only."""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from datasets import ClassLabel, Dataset, Features, Value

import hf_ftbuilder
from hf_ftbuilder.config import Balance, GroupSplit, Leakage, TimeSplit
from hf_ftbuilder.context import StageContext
from hf_ftbuilder.errors import StageError
from hf_ftbuilder.split import split
from hf_ftbuilder.split.augment import Augmenter, load_lexicon
from hf_ftbuilder.split.balance import balance

from .conftest import LIGHT_REPORT, REPO

NAMES = ["ham", "spam", "eggs"]
VOCAB = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec "
         "romeo sierra tango uniform victor whiskey xray yankee zulu one two three four five six seven eight nine "
         "ten red green blue black white").split()


def _texts(n: int, seed: int, words: int = 30) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(VOCAB) for _ in range(words)) + f" n{i}" for i in range(n)]


def _dataset(texts: list[str], labels: list[int], **columns) -> Dataset:
    features = {"id": Value("string"), "text": Value("string"), "label": ClassLabel(names=NAMES)}
    data = {"id": [f"r{i}" for i in range(len(texts))], "text": texts, "label": labels}
    for name, values in columns.items():
        data[name] = values
        features[name] = Value("string")
    return Dataset.from_dict(data, features=Features(features))


def _shares(labels: list[int]) -> np.ndarray:
    return np.bincount(labels, minlength=len(NAMES)) / max(len(labels), 1)


# --- time -------------------------------------------------------------------------------------


def _dated(n: int = 200) -> Dataset:
    rng = random.Random(3)
    start = date(2024, 1, 1)
    dates = [(start + timedelta(days=rng.randrange(365))).isoformat() for _ in range(n)]
    return _dataset(_texts(n, 1), [i % 3 for i in range(n)], date=dates)


def _dates(ds: Dataset) -> list[date]:
    return [date.fromisoformat(d) for d in ds["date"]]


def test_time_split_by_fractions_keeps_the_future_out_of_train() -> None:
    ds = _dated()
    dd, stats = split(ds, TimeSplit(), context=StageContext(seed=1))
    assert {k: v.num_rows for k, v in dd.items()} == {"train": 160, "validation": 20, "test": 20}
    newest_train = max(_dates(dd["train"]))
    assert min(_dates(dd["validation"])) >= newest_train
    assert min(_dates(dd["test"])) >= max(_dates(dd["validation"]))
    ranges = stats.details["time"]["ranges"]
    assert ranges["train"][1][:10] == newest_train.isoformat()


def test_time_split_by_cutoffs_with_embargo() -> None:
    ds = _dated()
    cfg = TimeSplit(cutoffs={"validation": "2024-09-01", "test": "2024-11-01"}, embargo="7d")
    dd, stats = split(ds, cfg, context=StageContext(seed=1))
    all_dates = _dates(ds)
    assert max(_dates(dd["train"])) < date(2024, 9, 1)
    assert min(_dates(dd["validation"])) >= date(2024, 9, 8)
    assert max(_dates(dd["validation"])) < date(2024, 11, 1)
    assert min(_dates(dd["test"])) >= date(2024, 11, 8)
    in_gap = sum(date(2024, 9, 1) <= d < date(2024, 9, 8) or date(2024, 11, 1) <= d < date(2024, 11, 8) for d in all_dates)
    assert in_gap > 0 and stats.dropped == {"embargo": in_gap}
    assert set(stats.dropped_rows["drop_reason"]) == {"embargo"}
    assert sum(d.num_rows for d in dd.values()) + in_gap == 200


def test_time_split_fractions_with_embargo_hold_within_a_point() -> None:
    dd, _ = split(_dated(1000), TimeSplit(fractions={"train": 0.7, "validation": 0.15, "test": 0.15}), context=StageContext(seed=1))
    total = sum(d.num_rows for d in dd.values())
    assert abs(dd["train"].num_rows / total - 0.7) <= 0.01
    assert abs(dd["test"].num_rows / total - 0.15) <= 0.01


@pytest.mark.parametrize(("undated", "expected"), [("train", None), ("drop", {"undated": 1})])
def test_undated_rows_go_where_the_recipe_says(undated, expected) -> None:
    ds = _dated()
    dates = list(ds["date"])
    dates[5] = None
    ds = ds.remove_columns("date").add_column("date", dates)
    dd, stats = split(ds, TimeSplit(undated=undated), context=StageContext(seed=1))
    if undated == "train":
        assert "r5" in dd["train"]["id"] and dd["train"].num_rows == 159 + 1  # 80% of 199 dated rows, and r5
    else:
        assert stats.dropped == expected


def test_undated_rows_are_an_error_by_default() -> None:
    ds = _dated()
    dates = list(ds["date"])
    dates[7] = ""
    ds = ds.remove_columns("date").add_column("date", dates)
    with pytest.raises(StageError, match=r"^split: 1 rows have no date in 'date' \(e\.g\. row r7\); set split\.undated"):
        split(ds, TimeSplit(), context=StageContext(seed=1))


def test_a_value_that_is_not_a_date_names_the_row() -> None:
    ds = _dated(10)
    dates = list(ds["date"])
    dates[2] = "last tuesday"
    ds = ds.remove_columns("date").add_column("date", dates)
    with pytest.raises(StageError, match=r"^split\.time_column: row r2: 'last tuesday' is not a date"):
        split(ds, TimeSplit(), context=StageContext(seed=1))


# --- group ------------------------------------------------------------------------------------


def _families(n_families: int = 60, size: int = 4, seed: int = 5) -> tuple[Dataset, list[int]]:
    """Families of near duplicates (two words edited in a 40-word text), interleaved; labels by family."""
    rng = random.Random(seed)
    texts, family, labels = [], [], []
    bases = _texts(n_families, seed, words=40)
    for member in range(size):
        for f, base in enumerate(bases):
            words = base.split()
            for _ in range(1 if member else 0):
                words[rng.randrange(len(words))] = rng.choice(VOCAB)
            texts.append(" ".join(words))
            family.append(f)
            labels.append(f % 3)
    return _dataset(texts, labels), family


def test_group_split_on_near_duplicates_keeps_families_together() -> None:
    ds, family = _families()
    cfg = GroupSplit(group_by="near_duplicates", group_threshold=0.5)
    dd, stats = split(ds, cfg, context=StageContext(seed=1), leakage=Leakage())
    where = {}
    for name, part in dd.items():
        for row_id in part["id"]:
            where[row_id] = name
    crossing = {f for f in set(family) if len({where[f"r{i}"] for i, g in enumerate(family) if g == f}) > 1}
    assert crossing == set()
    assert stats.details["group"]["groups"] == 60
    assert stats.details["leakage"]["leaked"] == 0

    # The naive stratified split of the same rows leaks families into test.
    naive = ds.train_test_split(test_size=0.2, stratify_by_column="label", seed=1)
    train_families = {family[int(i[1:])] for i in naive["train"]["id"]}
    leaked = sum(family[int(i[1:])] in train_families for i in naive["test"]["id"])
    print(f"train_test_split(stratify_by_column=label): {leaked} of {naive['test'].num_rows} test rows "
          "have a near duplicate in train")
    assert leaked > 0


def test_group_split_by_column_keeps_class_shares() -> None:
    rng = random.Random(9)
    labels = [0] * 300 + [1] * 200 + [2] * 100
    rng.shuffle(labels)
    authors = [f"a{rng.randrange(150)}" if rng.random() < 0.7 else None for _ in labels]
    ds = _dataset(_texts(600, 2), labels, author=authors)
    dd, _ = split(ds, GroupSplit(group_column="author"), context=StageContext(seed=1))
    by_split = {name: list(part["author"]) for name, part in dd.items()}
    for a in {x for x in authors if x}:
        assert sum(a in v for v in by_split.values()) == 1, a
    whole = _shares(labels)
    for part in dd.values():
        assert np.abs(_shares(part["label"]) - whole).max() <= 0.02
    assert abs(dd["train"].num_rows / 600 - 0.8) <= 0.02


def test_group_split_needs_its_column() -> None:
    ds, _ = _families(3, 2)
    with pytest.raises(StageError, match=r"^split\.group_column: no column 'author'"):
        split(ds, GroupSplit(group_column="author"), context=StageContext(seed=1))


# --- leakage on the SMS sample ------------------------------------------------------------------


@pytest.fixture(scope="module")
def sms_recipe(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sms")
    with open(REPO / "dataset_scripts" / "data" / "sms_spam.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:2000]
    with open(folder / "sms.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return folder


def _build(folder: Path, name: str, split_cfg: dict, leakage: dict | None = None) -> hf_ftbuilder.BuildResult:
    recipe = {
        "name": "sms", "seed": 3,
        "sources": [{"type": "csv", "path": "sms.csv"}],
        "dedup": {"exact": False, "near": {"enabled": False}},
        "label": {"method": "column", "labels": ["ham", "spam"]},
        "split": split_cfg,
        "leakage": leakage or {},
        "report": LIGHT_REPORT,
    }
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(recipe), encoding="utf-8")
    return hf_ftbuilder.build(path, output_dir=folder / name, progress=False)


def test_leakage_is_reported_then_dropped_then_avoided(sms_recipe: Path) -> None:
    reported = _build(sms_recipe, "report", {"method": "random"})
    leak = reported.quality["leakage"]
    assert leak["splits"]["test"]["exact"] > 0 and leak["splits"]["test"]["leaked"] >= leak["splits"]["test"]["exact"]
    print(f"random split: {leak['splits']['test']['leaked']} of {leak['splits']['test']['rows']} test rows leak")
    card = (sms_recipe / "report" / "README.md").read_text()
    assert "**Leakage**" in card and f"| test | {leak['splits']['test']['rows']} |" in card

    dropped = _build(sms_recipe, "drop", {"method": "random"}, {"action": "drop"})
    removed = dropped.quality["stages"][5]["dropped"]["leaked"]
    assert removed == leak["leaked"]
    assert pq.read_table(sms_recipe / "drop" / "dropped" / "split.parquet").num_rows == removed
    train = set(dropped.dataset["train"]["text"])
    assert not [t for part in ("validation", "test") for t in dropped.dataset[part]["text"] if t in train]

    grouped = _build(sms_recipe, "group", {"method": "group", "group_by": "near_duplicates"})
    assert grouped.quality["leakage"]["leaked"] == 0

    with pytest.raises(StageError, match=r"^leakage: rows copy or nearly copy a train row \(validation \d+ of \d+, test \d+ of \d+\)"):
        _build(sms_recipe, "fail", {"method": "random"}, {"action": "fail"})


# --- balance ----------------------------------------------------------------------------------


def _imbalanced() -> dict:
    labels = [0] * 60 + [1] * 20 + [2] * 8
    texts = [f"the team said the new plan will help people find a good job today number {i}" for i in range(88)]
    return {"train": _dataset(texts, labels), "validation": _dataset(texts[:6], [0, 1, 2, 0, 1, 2])}


def test_oversample_to_max_touches_train_only() -> None:
    from datasets import DatasetDict

    dd = DatasetDict(_imbalanced())
    out, stats = balance(dd, Balance(method="oversample"), context=StageContext(seed=4))
    assert Counter(out["train"]["label"]) == {0: 60, 1: 60, 2: 60}
    assert out["validation"]["id"] == dd["validation"]["id"] and out["validation"]["augmented_from"] == [None] * 6
    copies = [r for r in out["train"] if r["augmented_from"]]
    assert len(copies) == 92 and len({r["id"] for r in copies}) == 92
    source = {r["id"]: r for r in dd["train"]}
    assert all(r["text"] == source[r["augmented_from"]]["text"] and r["label"] == source[r["augmented_from"]]["label"]
               for r in copies)
    assert stats.details["before"] == {"ham": 60, "spam": 20, "eggs": 8}
    assert stats.details["after"] == {"ham": 60, "spam": 60, "eggs": 60}
    assert stats.details["unique_source_rows"] == {"ham": 60, "spam": 20, "eggs": 8}
    again, _ = balance(dd, Balance(method="oversample"), context=StageContext(seed=4))
    assert again["train"]["id"] == out["train"]["id"]


def test_augment_makes_new_texts_with_the_source_label() -> None:
    from datasets import DatasetDict

    dd = DatasetDict(_imbalanced())
    out, stats = balance(dd, Balance(method="augment", target="median"), context=StageContext(seed=4))
    assert Counter(out["train"]["label"]) == {0: 60, 1: 20, 2: 20}
    source = {r["id"]: r for r in dd["train"]}
    made = [r for r in out["train"] if r["augmented_from"]]
    assert len(made) == 12
    assert all(r["text"] != source[r["augmented_from"]]["text"] for r in made)
    assert all(r["label"] == source[r["augmented_from"]]["label"] == 2 for r in made)
    again, _ = balance(dd, Balance(method="augment", target="median"), context=StageContext(seed=4))
    assert again["train"]["text"] == out["train"]["text"]


def test_undersample_keeps_a_diverse_subset() -> None:
    from datasets import DatasetDict

    dd = DatasetDict(_imbalanced())
    out, stats = balance(dd, Balance(method="undersample", target="min"), context=StageContext(seed=4))
    assert Counter(out["train"]["label"]) == {0: 8, 1: 8, 2: 8}
    assert stats.dropped == {"undersampled": 64}
    assert set(out["train"]["id"]) <= set(dd["train"]["id"])


def test_augmenter_edits() -> None:
    lexicon = load_lexicon()
    assert "big" in lexicon and "large" in lexicon["big"]
    text = "The big company said the plan will help"
    for op in ("synonym", "swap", "delete", "insert"):
        new = Augmenter([op], 0.2, lexicon)(text, random.Random(1))
        assert new is not None and new != text, op
        if op == "delete":
            assert len(new.split()) < len(text.split())
        if op == "insert":
            assert len(new.split()) > len(text.split())
    assert Augmenter(["synonym"], 0.2, lexicon)("xyzzy plugh", random.Random(1)) is None


def test_balanced_build_keeps_copies_out_of_test(tmp_path, write_recipe) -> None:
    rng = random.Random(2)
    rows = [{"text": f"{' '.join(rng.choice(VOCAB) for _ in range(12))} {i}", "label": "spam" if i % 5 == 0 else "ham"}
            for i in range(200)]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    recipe = {"name": "bal", "seed": 1, "sources": [{"type": "jsonl", "path": "c.jsonl"}],
              "label": {"method": "column", "labels": ["ham", "spam"]}, "balance": {"method": "oversample"},
              "report": LIGHT_REPORT}
    result = hf_ftbuilder.build(write_recipe(recipe), output_dir=tmp_path / "out", progress=False)
    train = result.dataset["train"]
    assert Counter(train["label"]) == {0: 128, 1: 128}
    held_out = set(result.dataset["validation"]["id"]) | set(result.dataset["test"]["id"])
    assert not {a for a in train["augmented_from"] if a} & held_out
    assert result.quality["balance"]["after"] == {"ham": 128, "spam": 128}
    card = (tmp_path / "out" / "README.md").read_text()
    assert "| spam | 32 | 128 | 32 |" in card
    first = sorted((tmp_path / "out" / "data").glob("*.parquet"))
    again = hf_ftbuilder.build(write_recipe(recipe), output_dir=tmp_path / "again", progress=False)
    assert again.quality["balance"] == result.quality["balance"]
    for f in first:
        assert f.read_bytes() == (tmp_path / "again" / "data" / f.name).read_bytes()
