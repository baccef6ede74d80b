from __future__ import annotations

import pytest
from datasets import ClassLabel, Dataset, Features, Value
from hypothesis import given
from hypothesis import strategies as st

from hf_ftbuilder.config import StratifiedSplit
from hf_ftbuilder.context import StageContext
from hf_ftbuilder.errors import StageError
from hf_ftbuilder.split import allocate, random_split, split, stratified, stratified_indices

FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def _labelled(counts: dict[str, int]) -> Dataset:
    names = list(counts)
    labels = [i for i, n in enumerate(counts.values()) for _ in range(n)]
    return Dataset.from_dict(
        {"id": [f"r{i}" for i in range(len(labels))], "text": ["t"] * len(labels), "label": labels},
        features=Features({"id": Value("string"), "text": Value("string"), "label": ClassLabel(names=names)}),
    )


@given(n=st.integers(0, 500), weights=st.lists(st.integers(0, 20), min_size=1, max_size=4))
def test_allocate_adds_up_and_reaches_every_split(n: int, weights: list[int]) -> None:
    if sum(weights) == 0:
        weights = [1] + weights[1:]
    fractions = [w / sum(weights) for w in weights]
    counts = allocate(n, fractions)
    assert sum(counts) == n
    assert all(c >= 0 for c in counts)
    positive = [i for i, f in enumerate(fractions) if f > 0]
    if n >= len(positive):
        assert all(counts[i] >= 1 for i in positive)
    # Never further than one row (plus the rows moved to fill empty splits) from the exact share.
    assert all(abs(c - n * f) <= 1 + len(positive) for c, f in zip(counts, fractions))


def test_allocate_examples() -> None:
    assert allocate(3, [0.8, 0.1, 0.1]) == [1, 1, 1]
    assert allocate(10, [0.8, 0.1, 0.1]) == [8, 1, 1]
    assert allocate(2, [0.8, 0.1, 0.1]) == [2, 0, 0]
    assert allocate(7, [0.5, 0.5]) == [4, 3]


@given(counts=st.lists(st.integers(3, 120), min_size=1, max_size=5), seed=st.integers(0, 2**32 - 1))
def test_stratified_partition_is_complete_and_disjoint(counts: list[int], seed: int) -> None:
    labels = [c for c, n in enumerate(counts) for _ in range(n)]
    parts, rare = stratified_indices(labels, FRACTIONS, seed=seed)
    assert rare == {}
    flat = [i for idx in parts.values() for i in idx]
    assert sorted(flat) == list(range(len(labels)))
    for idx in parts.values():
        assert idx == sorted(idx)
        assert {labels[i] for i in idx} == set(range(len(counts)))  # every class in every split


def test_three_row_class_goes_one_per_split() -> None:
    dd, stats = split(_labelled({"big": 50, "tiny": 3}), StratifiedSplit(), context=StageContext(seed=1))
    for name in ("train", "validation", "test"):
        assert dd[name]["label"].count(1) == 1
    assert stats.details["sizes"] == {"train": 41, "validation": 6, "test": 6}


def test_one_row_class_fails_by_default_naming_the_class() -> None:
    with pytest.raises(StageError, match=r"^split: class 'tiny' has 1 row; a stratified split into "
                                         r"train/validation/test needs at least 3 \(or set split\.rare_classes: train_only\)$"):
        split(_labelled({"big": 50, "tiny": 1}), StratifiedSplit(), context=StageContext(seed=1))


def test_one_row_class_train_only() -> None:
    dd, stats = split(_labelled({"big": 50, "tiny": 1}), StratifiedSplit(rare_classes="train_only"), context=StageContext(seed=1))
    assert dd["train"]["label"].count(1) == 1
    assert dd["validation"]["label"].count(1) == 0 and dd["test"]["label"].count(1) == 0
    assert stats.details["rare_classes_train_only"] == {"tiny": 1}


def test_zero_fraction_split_is_left_out() -> None:
    dd, _ = split(_labelled({"a": 10, "b": 10}), StratifiedSplit(fractions={"train": 0.75, "test": 0.25}), context=StageContext(seed=0))
    assert list(dd) == ["train", "test"]
    assert (dd["train"].num_rows, dd["test"].num_rows) == (16, 4)


def test_same_seed_same_split_other_seed_other_split() -> None:
    ds = _labelled({"a": 40, "b": 40})
    a, _ = split(ds, StratifiedSplit(), context=StageContext(seed=7))
    b, _ = split(ds, StratifiedSplit(), context=StageContext(seed=7))
    c, _ = split(ds, StratifiedSplit(), context=StageContext(seed=8))
    assert a["test"]["id"] == b["test"]["id"]
    assert a["test"]["id"] != c["test"]["id"]


def test_random_split_sizes_and_disjoint() -> None:
    dd, stats = random_split(_labelled({"a": 37, "b": 63}), seed=3)
    assert stats.details["sizes"] == {"train": 80, "validation": 10, "test": 10}
    ids = [i for s in dd.values() for i in s["id"]]
    assert len(ids) == len(set(ids)) == 100


def test_stratified_convenience_on_another_column() -> None:
    ds = Dataset.from_dict({"id": [str(i) for i in range(30)], "topic": ["x"] * 15 + ["y"] * 15})
    dd, _ = stratified(ds, column="topic", fractions={"train": 0.8, "test": 0.2})
    assert dd["test"]["topic"].count("x") == 3 and dd["test"]["topic"].count("y") == 3
