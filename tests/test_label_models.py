"""Labelling with models: embedding similarity (offline MiniLM) and zero-shot NLI (a tiny model built here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import hf_ftbuilder
from hf_ftbuilder.config import ZeroShotModel
from hf_ftbuilder.embedder import DEFAULT_MODEL, Embedder
from hf_ftbuilder.errors import ConfigError
from hf_ftbuilder.label import embedding, zero_shot

from .conftest import LIGHT_REPORT
from .tiny_models import build_tiny_bert, build_tiny_nli

SENTENCES = {
    "sports": [
        "The striker scored twice as the home team won the league match.",
        "The coach praised his players after the football final.",
        "She won the tennis championship in three sets.",
        "The basketball team lost in overtime after a late three-pointer.",
        "Fans filled the stadium for the derby on Saturday.",
        "The goalkeeper saved a penalty in the last minute of the game.",
        "The marathon runner broke the course record by a minute.",
        "The cricket side declared after scoring four hundred runs.",
    ],
    "cooking": [
        "Bake the bread in a hot oven until the crust is golden.",
        "Whisk the eggs with sugar and fold in the flour gently.",
        "Simmer the tomato sauce with garlic and fresh basil.",
        "This recipe for chocolate cake needs butter and cocoa.",
        "Season the soup with salt and pepper before serving.",
        "Knead the dough for ten minutes and let it rise.",
        "Roast the vegetables with olive oil and rosemary.",
        "Chop the onions finely and fry them until soft.",
    ],
    "space": [
        "The rocket carried a new satellite into orbit around Earth.",
        "Astronauts on the space station ran experiments in microgravity.",
        "The telescope photographed a distant galaxy.",
        "NASA plans to land a crew on the Moon again.",
        "The probe sent back images of the surface of Mars.",
        "A comet will pass close to the Sun next spring.",
        "The launch was delayed by high winds at the spaceport.",
        "Scientists found a planet orbiting a nearby star.",
    ],
}
TOPICS = list(SENTENCES)


@pytest.fixture(scope="session")
def minilm(tmp_path_factory) -> Embedder:
    """The offline MiniLM, loaded once for the session, with its own vector cache."""
    return Embedder(cache_dir=tmp_path_factory.mktemp("embed-cache"), progress=False)


@pytest.fixture(scope="session")
def tiny_nli(tmp_path_factory) -> Path:
    keywords = {
        "sports": ["football", "goal"],
        "business": ["stocks", "market"],
        "science": ["atoms", "physics"],
        "politics": ["election", "senate"],
    }
    return build_tiny_nli(tmp_path_factory.mktemp("tiny-nli"), keywords)


def topic_corpus(folder: Path) -> list[dict]:
    rows = [{"text": t, "gold": topic} for k in range(8) for topic in TOPICS for t in [SENTENCES[topic][k]]]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return rows


def test_embedder_matches_sentence_transformers_pooling(minilm) -> None:
    texts = ["A short sentence.", "A much longer sentence about the rocket launch that was delayed by wind."]
    vectors = minilm.encode(texts)
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(minilm.ref, device="cpu").encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(vectors, reference, atol=1e-4)



def test_embedder_batches_by_tokens_keep_each_text_its_vector(minilm) -> None:
    """Texts reordered by token count, in several batches, come back in their own order."""
    texts = [t for topic in TOPICS for t in SENTENCES[topic]] + ["", "Mars."]
    vectors = Embedder(batch_size=5, progress=False).encode(texts)
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(minilm.ref, device="cpu").encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(vectors, reference, atol=1e-4)


def test_int8_embedder_stays_near_fp32_under_its_own_key(minilm) -> None:
    import warnings

    texts = [t for topic in TOPICS for t in SENTENCES[topic]]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # torch.ao.quantization's are silenced
        warnings.simplefilter("error", UserWarning)
        int8 = Embedder(quantize="int8", progress=False)
        vectors = int8.encode(texts)
    assert (vectors * minilm.encode(texts)).sum(axis=1).min() > 0.97  # torch's default int8 scheme: 0.93 here
    assert int8.key != minilm.key
    with pytest.raises(ConfigError, match="quantize"):
        Embedder(quantize="int4")

def test_embedder_cache_skips_the_model(tmp_path, minilm) -> None:
    cold = Embedder(cache_dir=tmp_path, progress=False)
    first = cold.encode(["one text", "two texts", "one text"])
    assert len(list((tmp_path / "embeddings").rglob("*.npz"))) == 1
    warm = Embedder(cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(warm.encode(["two texts", "one text"]), first[[1, 0]])
    assert warm._step._model is None  # every vector came from the cache: the model was never loaded


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
    labels, scores = zero_shot.predict(ds, cfg, names)
    assert [names[i] for i in labels] == ["sports", "business", "science", "politics", "sports"]
    assert all(0.25 < s <= 1.0 for s in scores)
    multi = ZeroShotModel(model=str(tiny_nli), multi_label=True)
    labels, _ = zero_shot.predict(ds, multi, names)
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


def test_kmeans_on_embeddings_finds_the_topics(tmp_path, write_recipe, minilm) -> None:
    rows = topic_corpus(tmp_path)
    recipe = {
        "name": "emb_clusters",
        "report": LIGHT_REPORT,
        "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
        "label": {"method": "kmeans", "kmeans": {"features": "embedding", "k": 3}},
    }
    result = hf_ftbuilder.build(write_recipe(recipe), output_dir=tmp_path / "out", until="label", progress=False)
    ds = result.dataset["train"]
    gold = {r["text"]: r["gold"] for r in rows}
    clusters: dict[str, set[int]] = {}
    for text, source in zip(ds["text"], ds["label_source"]):
        clusters.setdefault(gold[text], set()).add(int(source.split(":")[1]))
    assert sorted(clusters) == sorted(TOPICS)
    assert all(len(ids) == 1 for ids in clusters.values())  # each topic is one cluster
    assert len(set().union(*clusters.values())) == 3
    assert result.stages[-2].details["kmeans"]["features"] == "embedding"


def test_manual_with_suggestions_reports_agreement(tmp_path, write_recipe, minilm) -> None:
    rows = topic_corpus(tmp_path)
    recipe = {
        "name": "suggested",
        "report": LIGHT_REPORT,
        "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
        "label": {"method": "manual", "labels": TOPICS, "suggest": "embedding"},
    }
    path = write_recipe(recipe)
    (tasks_file,) = hf_ftbuilder.export_tasks(path, fmt="jsonl", progress=False)
    tasks = [json.loads(line) for line in tasks_file.read_text().splitlines()]
    gold = {r["text"]: r["gold"] for r in rows}
    assert all(t["suggestion"] == gold[t["text"]] and 0 < t["suggestion_score"] <= 1 for t in tasks)
    # People label the first 12 tasks: 9 as suggested, 3 with another label (they disagree with the model).
    wrong = {"sports": "space", "space": "cooking", "cooking": "sports"}
    done = [{"id": t["id"], "label": t["suggestion"] if k < 9 else wrong[t["suggestion"]]} for k, t in enumerate(tasks[:12])]
    (tmp_path / "done.jsonl").write_text("".join(json.dumps(d) + "\n" for d in done), encoding="utf-8")
    recipe["label"]["annotations"] = "done.jsonl"
    result = hf_ftbuilder.build(write_recipe(recipe), output_dir=tmp_path / "out", until="label", progress=False)
    details = result.stages[-2].details
    assert details["annotations"]["agreement"]["rows"] == 12
    assert details["annotations"]["agreement"]["accuracy"] == 0.75
    from sklearn.metrics import cohen_kappa_score

    names = TOPICS
    suggested = [names.index(t["suggestion"]) for t in tasks[:12]]
    human = [names.index(d["label"]) for d in done]
    assert details["annotations"]["agreement"]["cohen_kappa"] == round(cohen_kappa_score(human, suggested), 6)
    ds = result.dataset["train"]
    sources = dict(zip(ds["id"], ds["label_source"]))
    assert [sources[d["id"]] for d in done] == ["human"] * 12
    assert sum(s.startswith("embedding:") for s in sources.values()) == 12  # the model labels the rest
    card = (tmp_path / "out" / "README.md").read_text()
    assert "Model suggestions agreed with people on 12 rows: accuracy 0.75" in card
