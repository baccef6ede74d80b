"""label.method: kmeans: clusters fitted, saved and named by a person once; embeddings as features."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

import hf_ftbuilder
from hf_ftbuilder.errors import ConfigError, SourceError
from hf_ftbuilder.review import ReviewSession

from ..conftest import LIGHT_REPORT, SENTENCE_TOPICS, topic_corpus
from .conftest import TOPICS, WORDS, read_split_rows, topic_rows, write_jsonl


@pytest.fixture
def clustered(tmp_path: Path, write_recipe):
    write_jsonl(tmp_path / "corpus.jsonl", topic_rows(20, seed=1))
    recipe = {
        "name": "topics",
        "report": LIGHT_REPORT,
        "seed": 7,
        "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
        "dedup": {"near": {"enabled": False}},
        "label": {"method": "kmeans", "kmeans": {"k_range": [2, 6]}},
    }
    return tmp_path, recipe, write_recipe


def test_kmeans_round_trip(clustered) -> None:
    folder, recipe, write_recipe = clustered
    path = write_recipe(recipe)

    # 1. First build: clusters chosen by silhouette, named cluster_<id>, written for a person.
    first = hf_ftbuilder.build(path, output_dir=folder / "out", progress=False)
    review = yaml.safe_load((folder / "out" / "review" / "clusters.yaml").read_text())
    assert sorted(review) == [0, 1, 2]
    assert all(entry["size"] == 20 and entry["name"] is None for entry in review.values())
    assert first.dataset["train"].features["label"].names == ["cluster_0", "cluster_1", "cluster_2"]
    md = (folder / "out" / "review" / "clusters.md").read_text()
    assert md.count("## Cluster ") == 3
    topic_of = {}
    for cluster, entry in review.items():
        assert len(entry["examples"]) == 5
        votes = {t: sum(w in entry["terms"] for w in WORDS[t]) for t in TOPICS}
        topic_of[cluster] = max(votes, key=votes.get)
        assert votes[topic_of[cluster]] >= 5  # the distinguishing terms are the topic's words
    assert sorted(topic_of.values()) == sorted(TOPICS)
    rows = read_split_rows(folder / "out")
    for row in rows:  # each cluster is one planted topic
        assert topic_of[int(row["label_source"].split(":")[1])] == row["gold"]

    # 2. The person names the clusters (and drops one) in a copy of clusters.yaml beside the recipe.
    for cluster, entry in review.items():
        entry["name"] = "drop" if topic_of[cluster] == "cooking" else topic_of[cluster]
    (folder / "names.yaml").write_text(yaml.safe_dump(review))
    recipe["label"]["cluster_names"] = "names.yaml"
    path = write_recipe(recipe)
    named = hf_ftbuilder.build(path, output_dir=folder / "named", progress=False)
    names = named.dataset["train"].features["label"].names
    assert names == ["space", "sports"]
    rows = read_split_rows(folder / "named")
    assert len(rows) == 40
    assert all(names[row["label"]] == row["gold"] for row in rows)
    label_stage = next(s for s in named.stages if s.name == "label")
    assert label_stage.dropped == {"dropped_cluster": 20}
    assert pq.read_table(folder / "named" / "dropped" / "label.parquet").num_rows == 20

    # 3. Rerun: the same ids, the same bytes.
    again = hf_ftbuilder.build(path, output_dir=folder / "again", progress=False)
    assert again.quality["stages"] == named.quality["stages"]
    for file in (folder / "named" / "data").glob("*.parquet"):
        assert file.read_bytes() == (folder / "again" / "data" / file.name).read_bytes()

    # 4. New rows: they join the clusters the person already named; the clusterer is not refitted.
    saved = next((folder / ".ftbuild" / "topics" / "label").glob("kmeans-*.pkl"))
    mtime = saved.stat().st_mtime_ns
    write_jsonl(folder / "corpus.jsonl", topic_rows(20, seed=1) + topic_rows(5, seed=99, start=1000))
    grown = hf_ftbuilder.build(path, output_dir=folder / "grown", progress=False)
    assert saved.stat().st_mtime_ns == mtime
    rows = read_split_rows(folder / "grown")
    assert len(rows) == 50
    assert all(names[row["label"]] == row["gold"] for row in rows)
    assert sum(r["text"].endswith(tuple(f" {n}" for n in range(1000, 1015))) for r in rows) == 10
    assert grown.quality["stages"][4]["details"]["kmeans"]["sizes"] == [25, 25, 25]


def test_kmeans_fixed_k(clustered) -> None:
    folder, recipe, write_recipe = clustered
    recipe["label"]["kmeans"] = {"k": 4}
    result = hf_ftbuilder.build(write_recipe(recipe), output_dir=folder / "out", until="label", progress=False)
    assert result.dataset["train"].features["label"].names == [f"cluster_{i}" for i in range(4)]
    assert result.quality["stages"][-2]["details"]["kmeans"]["silhouette"] == {}


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({0: "sports", 1: "space", 2: "cooking", 7: "space"}, r"cluster 7 does not exist \(clusters are 0\.\.2\)"),
        ({0: "sports", 1: "space"}, r"clusters \[2\] have no name"),
        ({0: "sports", 1: "space", 2: {"name": None}}, r"clusters \[2\] have no name"),
        ({0: "sports", 1: "space", 2: "gossip"}, r"cluster 2 is named 'gossip', not one of \['sports', 'space', 'cooking'\]"),
    ],
)
def test_bad_cluster_names_are_one_line_errors(clustered, mapping, message) -> None:
    folder, recipe, write_recipe = clustered
    recipe["label"].update({"kmeans": {"k": 3}, "cluster_names": "names.yaml", "labels": ["sports", "space", "cooking"]})
    (folder / "names.yaml").write_text(yaml.safe_dump(mapping))
    with pytest.raises(ConfigError, match=r"^label\.cluster_names: .*names\.yaml: " + message):
        hf_ftbuilder.build(write_recipe(recipe), output_dir=folder / "out", progress=False)
    assert not (folder / "out").exists()


def test_missing_cluster_names_file(clustered) -> None:
    folder, recipe, write_recipe = clustered
    recipe["label"]["cluster_names"] = "nowhere.yaml"
    with pytest.raises(SourceError, match=r"label\.cluster_names: .*nowhere\.yaml: file not found"):
        hf_ftbuilder.build(write_recipe(recipe), output_dir=folder / "out", progress=False)


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
    assert sorted(clusters) == sorted(SENTENCE_TOPICS)
    assert all(len(ids) == 1 for ids in clusters.values())  # each topic is one cluster
    assert len(set().union(*clusters.values())) == 3
    assert result.stages[-2].details["kmeans"]["features"] == "embedding"


def test_people_propose_cluster_names_and_teach_the_borders(tmp_path, write_recipe) -> None:
    # Three planted topics in two clusters: cooking and space share one. People's labels propose
    # names where they agree, and once the clusters are named they teach the classifier that the
    # cooking rows inside the space cluster are cooking.
    rows = topic_rows(60, seed=2)
    write_jsonl(tmp_path / "corpus.jsonl", rows)
    (tmp_path / "people.csv").write_text("id,label\n")
    recipe = {
        "name": "borders", "report": LIGHT_REPORT, "seed": 7,
        "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
        "dedup": {"near": {"enabled": False}},
        "label": {"method": "kmeans", "kmeans": {"k": 2}, "labels": ["sports", "cooking", "space"],
                  "annotations": "people.csv"},
    }
    first = hf_ftbuilder.build(write_recipe(recipe), output_dir=tmp_path / "out", until="label", progress=False)
    built = read_split_rows(tmp_path / "out")
    cluster_of = {r["id"]: int(r["label_source"].split(":")[1]) for r in built}
    by_topic = {t: [r["id"] for r in built if r["gold"] == t] for t in TOPICS}
    sports = cluster_of[by_topic["sports"][0]]
    assert {cluster_of[i] for i in by_topic["sports"]} == {sports}  # one cluster is all the sports rows
    assert {cluster_of[i] for i in by_topic["cooking"] + by_topic["space"]} == {1 - sports}
    assert first.quality["stages"][4]["details"]["kmeans"].get("proposed", {}) == {}

    # Two sports rows and six cooking rows labelled by people; the clusters not yet named.
    labelled = [(i, "sports") for i in by_topic["sports"][:2]] + [(i, "cooking") for i in by_topic["cooking"][:6]]
    (tmp_path / "people.csv").write_text("id,label\n" + "".join(f"{i},{lab}\n" for i, lab in labelled))
    second = hf_ftbuilder.build(write_recipe(recipe), output_dir=tmp_path / "out", until="label", overwrite=True,
                                progress=False)
    review = yaml.safe_load((tmp_path / "out" / "review" / "clusters.yaml").read_text())
    assert review[sports]["proposed"] == "sports" and review[sports]["proposed_by"] == "all 2 rows people labelled"
    assert review[1 - sports]["proposed"] == "cooking"  # what people labelled there so far
    assert second.quality["stages"][4]["details"]["kmeans"]["proposed"] == {
        str(sports): {"name": "sports", "people_labels": 2}, str(1 - sports): {"name": "cooking", "people_labels": 6}}
    assert "Proposed by people's labels: sports (all 2 rows people labelled)" in (
        tmp_path / "out" / "review" / "clusters.md").read_text()
    assert {r["label_source"] for r in read_split_rows(tmp_path / "out")} == {"cluster:0", "cluster:1"}
    # The review page shows the proposals beside each cluster (its people's labels do not apply yet).
    session = ReviewSession(tmp_path / "recipe.yaml", output_dir=tmp_path / "out")
    shown = session.page("clusters", 0, 50)[1]
    assert {c["cluster"]: (c["proposed"], c["decision"]) for c in shown} == {sports: ("sports", None),
                                                                          1 - sports: ("cooking", None)}

    # The person names the mixed cluster space; the classifier learns cooking from people's rows.
    (tmp_path / "names.yaml").write_text(yaml.safe_dump({sports: "sports", 1 - sports: "space"}))
    recipe["label"]["cluster_names"] = "names.yaml"
    recipe["label"]["refine"] = True  # on by default with embedding clusters only
    named = hf_ftbuilder.build(write_recipe(recipe), output_dir=tmp_path / "named", until="label", progress=False)
    names = ["sports", "cooking", "space"]
    out = [r for r in read_split_rows(tmp_path / "named") if r["label_source"] != "human"]
    right = {t: sum(names[r["label"]] == t for r in out if r["gold"] == t) for t in TOPICS}
    assert right == {"sports": 58, "cooking": 54, "space": 60}, right  # every row no person labelled
    details = named.quality["stages"][4]["details"]
    assert details["refine"]["people"] == 8 and details["refine"]["changed"] == 60  # the cooking rows
    # Without refine the names alone label every cooking row space.
    recipe["label"]["refine"] = False
    plain = hf_ftbuilder.build(write_recipe(recipe), output_dir=tmp_path / "plain", until="label", progress=False)
    assert "refine" not in plain.quality["stages"][4]["details"]
    out = [r for r in read_split_rows(tmp_path / "plain") if r["label_source"] != "human"]
    assert sum(names[r["label"]] == "cooking" for r in out) == 0
