"""label.method: embedding: planted topics labelled by similarity to their descriptions, refined; seed examples."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

import hf_ftbuilder
from hf_ftbuilder.embedder import DEFAULT_MODEL, Embedder
from hf_ftbuilder.label import embedding

from ..conftest import LIGHT_REPORT, topic_corpus
from ..conftest import SENTENCE_TOPICS as TOPICS


def test_embedding_labels_planted_topics(tmp_path, write_recipe, minilm, monkeypatch) -> None:
    rows = topic_corpus(tmp_path)
    recipe = {
        "name": "emb",
        "report": LIGHT_REPORT,
        "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
        "label": {"method": "embedding", "labels": TOPICS, "min_score": 0.4,
                  "descriptions": {"cooking": "food, recipes and kitchens", "space": "astronomy and spaceflight"}},
        "split": {"method": "random"},
    }
    path = write_recipe(recipe)
    result = hf_ftbuilder.build(path, output_dir=tmp_path / "out", until="label", progress=False)
    ds = result.dataset["train"]
    by_text = {r["text"]: r for r in rows}
    names = ds.features["label"].names
    kept = [(names[label], by_text[text]["gold"]) for label, text in zip(ds["label"], ds["text"])]
    assert all(given == gold for given, gold in kept)
    assert set(ds["label_source"]) == {f"embedding:{DEFAULT_MODEL}"}
    assert all(0.4 <= s <= 1 for s in ds["label_score"])
    review = tmp_path / "out" / "review" / "low_confidence.parquet"
    low = pq.read_table(review).to_pylist() if review.exists() else []
    assert len(low) + ds.num_rows == 24
    assert all(r["label_score"] < 0.4 for r in low)

    # A rebuild reads every vector from the embedding cache in cache_dir: no model call at all.
    def fail(*args, **kwargs):
        raise AssertionError("the model ran on a warm rebuild")

    monkeypatch.setattr(Embedder, "_embed", fail)
    again = hf_ftbuilder.build(path, output_dir=tmp_path / "again", until="label", progress=False)
    assert again.dataset["train"]["label"] == ds["label"]


def test_seed_examples_fit_the_temperature(tmp_path, minilm) -> None:
    names = TOPICS
    examples = tmp_path / "examples.csv"
    examples.write_text("text,label\nThe referee showed a red card.,sports\nStir in the cream and serve.,cooking\n"
                        "The spacecraft docked with the station.,space\n", encoding="utf-8")
    texts, labels = embedding.read_examples(examples, names)
    assert labels.tolist() == [0, 1, 2]
    protos = embedding.prototypes(minilm, names, {}, (minilm.encode(texts), labels))
    sims = minilm.encode(texts) @ protos.T
    temperature = embedding.fit_temperature(sims, labels)
    assert 0.005 <= temperature < 1.0
    probs = embedding.softmax(sims, temperature)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert probs.argmax(axis=1).tolist() == [0, 1, 2]


