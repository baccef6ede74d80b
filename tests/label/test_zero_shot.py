"""label.method: zero_shot on a tiny NLI BERT trained in the session: keywords, a whole build, wrong models."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hf_ftbuilder
from hf_ftbuilder.config import ZeroShotModel
from hf_ftbuilder.errors import ConfigError
from hf_ftbuilder.label import zero_shot

from ..conftest import LIGHT_REPORT
from ..tiny_models import build_tiny_bert


def test_zero_shot_labels_by_keyword(tiny_nli, make_dataset) -> None:
    ds = make_dataset([
        "the football match ended with a late goal",
        "stocks fell as the market opened",
        "the physics of atoms",
        "the senate election",
        "a goal in the second half",
    ])
    names = ["sports", "business", "science", "politics"]
    cfg = ZeroShotModel(model=str(tiny_nli), batch_size=4)
    labels, scores, proba = zero_shot.predict(ds, cfg, names)
    assert [names[i] for i in labels] == ["sports", "business", "science", "politics", "sports"]
    assert all(0.25 < s <= 1.0 for s in scores)
    # Every label's probability, in the order of names: they sum to 1, the winner's is the score.
    assert proba.shape == (5, 4) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert proba.argmax(axis=1).tolist() == labels.tolist() and np.allclose(proba.max(axis=1), scores, atol=1e-6)
    multi = ZeroShotModel(model=str(tiny_nli), multi_label=True)
    labels, _, _ = zero_shot.predict(ds, multi, names)
    assert [names[i] for i in labels] == ["sports", "business", "science", "politics", "sports"]


def test_zero_shot_in_a_build(tiny_nli, tmp_path, write_recipe) -> None:
    texts = [f"{w} story number {i}" for i in range(6) for w in ("football", "stocks")]
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    recipe = {
        "name": "zs",
        "report": LIGHT_REPORT,
        "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
        "dedup": {"near": {"enabled": False}},
        "label": {"method": "zero_shot", "model": str(tiny_nli), "labels": ["sports", "business"]},
        "split": {"method": "random"},
    }
    result = hf_ftbuilder.build(write_recipe(recipe), output_dir=tmp_path / "out", until="label", progress=False)
    ds = result.dataset["train"]
    assert [ds.features["label"].names[i] for i in ds["label"]] == [
        "sports" if t.startswith("football") else "business" for t in ds["text"]
    ]
    assert set(ds["label_source"]) == {f"zero_shot:{tiny_nli}"}


def test_zero_shot_rejects_missing_and_non_nli_models(tmp_path, make_dataset) -> None:
    ds = make_dataset(["some text"])
    missing = ZeroShotModel(model=str(tmp_path / "no-model"))
    with pytest.raises(ConfigError, match=r"^label\.model: cannot load '.*no-model'"):
        zero_shot.predict(ds, missing, ["a", "b"])
    plain = build_tiny_bert(tmp_path / "plain-bert")
    not_nli = ZeroShotModel(model=str(plain))
    with pytest.raises(ConfigError, match=r"^label\.model: '.*plain-bert' is not an NLI model"):
        zero_shot.predict(ds, not_nli, ["a", "b"])


