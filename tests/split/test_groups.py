"""split.method: group: near-duplicate families and a column's groups never cross splits; class shares kept."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datasets import Dataset

from hf_ftbuilder.config import GroupSplit, Leakage
from hf_ftbuilder.context import StageContext
from hf_ftbuilder.errors import StageError
from hf_ftbuilder.split import split

from .conftest import NAMES, VOCAB, labelled, random_texts


def _shares(labels: list[int]) -> np.ndarray:
    return np.bincount(labels, minlength=len(NAMES)) / max(len(labels), 1)


def _families(n_families: int = 60, size: int = 4, seed: int = 5) -> tuple[Dataset, list[int]]:
    """Families of near duplicates (two words edited in a 40-word text), interleaved; labels by family."""
    rng = random.Random(seed)
    texts, family, labels = [], [], []
    bases = random_texts(n_families, seed, words=40)
    for member in range(size):
        for f, base in enumerate(bases):
            words = base.split()
            for _ in range(1 if member else 0):
                words[rng.randrange(len(words))] = rng.choice(VOCAB)
            texts.append(" ".join(words))
            family.append(f)
            labels.append(f % 3)
    return labelled(texts, labels), family


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
    ds = labelled(random_texts(600, 2), labels, author=authors)
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


