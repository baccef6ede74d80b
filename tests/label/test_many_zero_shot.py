"""label.labels_per_row: many with method zero_shot, on the tiny NLI BERT trained in the session on
texts with keywords of one class, of two, and of none: each label decided on its own (threshold,
top_k), rows with none to review, and a whole build to a folder load_dataset reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from datasets import ClassLabel, List, load_dataset

import hf_ftbuilder
from hf_ftbuilder.config import ZeroShotLabel, ZeroShotModel
from hf_ftbuilder.label import label, zero_shot

from ..conftest import LIGHT_REPORT

NAMES = ["sports", "business", "science", "politics"]

#: ``senate`` and thirty words the model does not know: longer than the texts it learnt from, so its
#: politics score is diluted (measured 0.70 on the session's model): above 0.5, below 0.9.
DILUTED = "senate " + " ".join(["lorem", "ipsum", "dolor"] * 10)

#: Planted texts and the labels they get at the default threshold (0.5), in the order of NAMES.
PLANTED = [
    ("the football match ended with a late goal", ["sports"]),
    ("stocks fell as the market opened", ["business"]),
    ("the physics of atoms", ["science"]),
    ("the senate election and the football final", ["sports", "politics"]),
    ("stocks rose after the election", ["business", "politics"]),
    ("a goal in the physics match", ["sports", "science"]),
    (DILUTED, ["politics"]),
    ("the weather was nice today", []),
    ("people said it was a good week", []),
]
LABELLED = [i for i, (_, gold) in enumerate(PLANTED) if gold]
NO_KEYWORD = ["r7", "r8"]


def _names(rows: list[list[int]]) -> list[list[str]]:
    return [[NAMES[i] for i in row] for row in rows]


def _cfg(model: Path, **extra) -> ZeroShotLabel:
    return ZeroShotLabel(model=str(model), labels=NAMES, labels_per_row="many", batch_size=4, **extra)


def _proba(ds, model: Path) -> np.ndarray:
    """Every label's probability, each scored on its own (rows x labels)."""
    _, _, proba = zero_shot.predict(ds, ZeroShotModel(model=str(model), multi_label=True, batch_size=4), NAMES)
    return proba


def test_every_label_reaching_the_threshold_is_given(tiny_nli_multi, make_dataset) -> None:
    ds = make_dataset([text for text, _ in PLANTED])
    out, stats = label(ds, _cfg(tiny_nli_multi))

    assert out["id"] == [f"r{i}" for i in LABELLED]
    assert _names(out["labels"]) == [PLANTED[i][1] for i in LABELLED]
    assert out.features["labels"] == List(ClassLabel(names=NAMES))
    assert "label" not in out.column_names
    assert set(out["label_source"]) == {f"zero_shot:{tiny_nli_multi}"}
    # One score per label given: that label's own probability (entailment against contradiction),
    # not a share of a softmax over the labels (two labels of a row both score near 1).
    proba = _proba(ds, tiny_nli_multi)
    for row, labels, scores in zip(LABELLED, out["labels"], out["label_score"]):
        assert len(scores) == len(labels)
        assert all(s >= 0.5 for s in scores)
        assert np.allclose(scores, proba[row, labels], atol=1e-6)
    # The rows with no keyword get no label: they wait for a person, counted as dropped.
    assert stats.rows_in == 9 and stats.rows_out == 7
    assert stats.dropped == {"no_label": 2}
    assert stats.dropped_rows is None
    assert set(stats.review_rows) == {"no_label"}
    review = stats.review_rows["no_label"]
    assert review["id"] == NO_KEYWORD
    assert review["labels"] == [[], []] and review["label_score"] == [[], []]
    assert review["drop_reason"] == ["no_label", "no_label"]
    details = stats.details
    assert details["labels_per_row"] == "many" and details["names"] == NAMES
    assert details["threshold"] == 0.5 and details["top_k"] is None
    assert sum(details["score_histogram"].values()) == 10  # the labels given
    assert details["label_source_counts"] == {f"zero_shot:{tiny_nli_multi}": 7}


def test_threshold_and_top_k(tiny_nli_multi, make_dataset) -> None:
    ds = make_dataset([text for text, _ in PLANTED])
    proba = _proba(ds, tiny_nli_multi)

    # 0.9: the diluted row's politics (0.70) is left out, so the row goes to review; every
    # keyword the model learnt scores above 0.9.
    high, stats = label(ds, _cfg(tiny_nli_multi, threshold=0.9))
    kept = [i for i in LABELLED if PLANTED[i][0] != DILUTED]
    assert _names(high["labels"]) == [PLANTED[i][1] for i in kept]
    assert all(s >= 0.9 for scores in high["label_score"] for s in scores)
    assert stats.review_rows["no_label"]["id"] == ["r6", *NO_KEYWORD]
    assert stats.dropped == {"no_label": 3} and stats.details["threshold"] == 0.9

    # top_k 1: a row with two labels keeps the more probable (the model's call); the others keep theirs.
    top, stats = label(ds, _cfg(tiny_nli_multi, top_k=1))
    best = [[max(PLANTED[i][1], key=lambda name, i=i: proba[i, NAMES.index(name)])] for i in LABELLED]
    assert _names(top["labels"]) == best
    assert [len(PLANTED[i][1]) for i in LABELLED] == [1, 1, 1, 2, 2, 2, 1]  # three rows lose one
    for row, labels, scores in zip(LABELLED, top["labels"], top["label_score"]):
        assert np.allclose(scores, proba[row, labels], atol=1e-6)
    assert stats.review_rows["no_label"]["id"] == NO_KEYWORD
    assert stats.details["top_k"] == 1


def test_zero_shot_label_sets_in_a_build(tiny_nli_multi, tmp_path, write_recipe) -> None:
    kinds = {
        "football": ["sports"],
        "stocks": ["business"],
        "the senate and the football": ["sports", "politics"],
        "atoms and the market": ["business", "science"],
        "nothing much": [],
    }
    rows = [{"text": f"{words} story number {i}", "gold": gold} for i in range(3) for words, gold in kinds.items()]
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    recipe = {
        "name": "zs-many",
        "report": LIGHT_REPORT,
        "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
        "dedup": {"near": {"enabled": False}},
        "label": {"method": "zero_shot", "model": str(tiny_nli_multi), "labels": NAMES, "labels_per_row": "many"},
        "split": {"method": "random"},
    }
    out = tmp_path / "out"
    result = hf_ftbuilder.build(write_recipe(recipe), output_dir=out, until="label", progress=False)

    labelled = {r["text"]: r["gold"] for r in rows if r["gold"]}
    ds = result.dataset["train"]
    assert ds.num_rows == len(labelled) == 12
    assert ds.features["labels"] == List(ClassLabel(names=NAMES))
    assert dict(zip(ds["text"], _names(ds["labels"]))) == labelled

    # The folder as a user reads it: the label sets survive the parquet round trip.
    loaded = load_dataset(str(out))
    assert set(loaded) == {"train"}
    assert loaded["train"].features["labels"] == List(ClassLabel(names=NAMES))
    assert dict(zip(loaded["train"]["text"], _names(loaded["train"]["labels"]))) == labelled
    no_label = pq.read_table(out / "review" / "no_label.parquet").to_pylist()
    assert sorted(r["text"] for r in no_label) == [f"nothing much story number {i}" for i in range(3)]
    assert {r["drop_reason"] for r in no_label} == {"no_label"}
    stage = next(s for s in result.quality["stages"] if s["name"] == "label")
    assert stage["dropped"] == {"no_label": 3}
    assert stage["rows_in"] == 15 and stage["rows_out"] == 12
