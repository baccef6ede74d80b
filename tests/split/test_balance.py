"""balance: oversample, augment and diverse undersample touch train only; the augmenter's edits."""

from __future__ import annotations

import json
import random
from collections import Counter

import hf_ftbuilder
from hf_ftbuilder.config import Balance
from hf_ftbuilder.context import StageContext
from hf_ftbuilder.split.augment import Augmenter, load_lexicon
from hf_ftbuilder.split.balance import balance

from ..conftest import LIGHT_REPORT
from .conftest import VOCAB, labelled


def _imbalanced() -> dict:
    labels = [0] * 60 + [1] * 20 + [2] * 8
    texts = [f"the team said the new plan will help people find a good job today number {i}" for i in range(88)]
    return {"train": labelled(texts, labels), "validation": labelled(texts[:6], [0, 1, 2, 0, 1, 2])}


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


