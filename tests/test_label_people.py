"""Labelling with people in the loop: KMeans clusters named once, and annotation round trips."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

import hf_ftbuilder
from hf_ftbuilder.cli import main
from hf_ftbuilder.errors import ConfigError, SourceError

from .conftest import LIGHT_REPORT

WORDS = {
    "sports": "football match goal team league coach striker referee stadium season".split(),
    "cooking": "recipe oven flour bake sugar butter dough simmer garlic kitchen".split(),
    "space": "rocket orbit planet nasa astronaut launch satellite telescope galaxy moon".split(),
}
FILLER = "the a of and today people said new year after".split()
TOPICS = list(WORDS)


def topic_rows(n_per_topic: int, seed: int, start: int = 0) -> list[dict]:
    """Distinct texts: six topic words and three fillers each, topics interleaved."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_per_topic * len(TOPICS)):
        topic = TOPICS[i % len(TOPICS)]
        words = rng.sample(WORDS[topic], 6) + rng.sample(FILLER, 3)
        rng.shuffle(words)
        rows.append({"text": f"{' '.join(words)} number {start + i}", "gold": topic})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def read_split_rows(out: Path) -> list[dict]:
    rows = []
    for file in sorted((out / "data").glob("*.parquet")):
        rows += pq.read_table(file).to_pylist()
    return rows


# --- kmeans -----------------------------------------------------------------------------------


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
        ({0: "sports", 1: "space", 2: {"name": None}}, r"cluster 2 has no name"),
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


# --- manual -----------------------------------------------------------------------------------


@pytest.fixture
def annotated(tmp_path: Path, write_recipe):
    rows = topic_rows(10, seed=3)
    write_jsonl(tmp_path / "corpus.jsonl", rows)
    recipe = {
        "name": "manual",
        "report": LIGHT_REPORT,
        "seed": 7,
        "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
        "dedup": {"near": {"enabled": False}},
        "label": {"method": "manual", "labels": TOPICS},
        "split": {"method": "random"},
    }
    return tmp_path, recipe, write_recipe, rows


def test_manual_label_studio_round_trip(annotated, capsys) -> None:
    folder, recipe, write_recipe, rows = annotated
    path = write_recipe(recipe)

    # Export: one task per row, with the interface XML for Label Studio.
    assert main(["label", "export", str(path), "--format", "label-studio", "-q"]) == 0
    tasks = json.loads((folder / "manual-tasks.json").read_text())
    assert len(tasks) == 30 and set(tasks[0]) == {"data"} and set(tasks[0]["data"]) == {"id", "text"}
    xml = (folder / "manual-tasks.xml").read_text()
    assert '<Choices name="label" toName="text"' in xml and xml.count("<Choice value=") == 3

    # Building before anyone annotated: a one-line error, exit 2.
    assert main(["build", str(path), "-q", "-o", str(folder / "out")]) == 2
    assert "method manual has no annotations yet" in capsys.readouterr().err

    # A completed Label Studio export (its documented shape): one annotator for most rows, two who
    # agree on task 0, a cancelled wrong annotation on task 1, two who disagree on task 2, none on 3.
    gold = {r["text"]: r["gold"] for r in rows}

    def annotation(choice: str, annotator: int, cancelled: bool = False) -> dict:
        return {"id": annotator * 1000, "completed_by": annotator, "was_cancelled": cancelled,
                "result": [{"from_name": "label", "to_name": "text", "type": "choices",
                            "value": {"choices": [choice]}}]}

    wrong = {"sports": "space", "space": "cooking", "cooking": "sports"}
    for t, task in enumerate(tasks):
        truth = gold[task["data"]["text"]]
        task["id"] = t + 1
        task["annotations"] = [annotation(truth, 1)]
        if t == 0:
            task["annotations"].append(annotation(truth, 2))
        if t == 1:
            task["annotations"].append(annotation(wrong[truth], 2, cancelled=True))
        if t == 2:
            task["annotations"].append(annotation(wrong[truth], 2))
        if t == 3:
            task["annotations"] = []
    (folder / "done.json").write_text(json.dumps(tasks))
    recipe["label"]["annotations"] = "done.json"
    result = hf_ftbuilder.build(write_recipe(recipe), output_dir=folder / "out", progress=False)

    out_rows = read_split_rows(folder / "out")
    names = result.dataset["train"].features["label"].names
    assert len(out_rows) == 28
    assert all(names[r["label"]] == r["gold"] and r["label_source"] == "human" and r["label_score"] == 1.0
               for r in out_rows)
    tie = pq.read_table(folder / "out" / "review" / "annotation_tie.parquet").to_pylist()
    assert [r["id"] for r in tie] == [tasks[2]["data"]["id"]]
    waiting = pq.read_table(folder / "out" / "review" / "not_annotated.parquet").to_pylist()
    assert [r["id"] for r in waiting] == [tasks[3]["data"]["id"]]
    details = next(s for s in result.stages if s.name == "label").details["annotations"]
    assert details["votes"] == 31 and details["cancelled"] == 1 and details["ties"] == 1
    assert details["labelled_rows"] == 28 and details["annotators"] == 2
    assert not (folder / "out" / "dropped" / "label.parquet").exists()


def test_manual_csv_and_jsonl_with_majority(annotated) -> None:
    folder, recipe, write_recipe, rows = annotated
    path = write_recipe(recipe)
    for fmt, name in (("csv", "manual-tasks.csv"), ("jsonl", "manual-tasks.jsonl")):
        written = hf_ftbuilder.export_tasks(path, fmt=fmt, progress=False)
        assert written == [folder / name]
    with open(folder / "manual-tasks.csv", newline="") as fh:
        tasks = list(csv.DictReader(fh))
    assert list(tasks[0]) == ["id", "text", "label"] and len(tasks) == 30
    jsonl = [json.loads(line) for line in (folder / "manual-tasks.jsonl").read_text().splitlines()]
    assert [t["id"] for t in jsonl] == [t["id"] for t in tasks] and jsonl[0]["label"] is None

    gold = {r["text"]: r["gold"] for r in rows}
    with open(folder / "done.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "text", "label", "annotator"])
        writer.writeheader()
        for k, task in enumerate(tasks):
            truth = gold[task["text"]]
            writer.writerow({**task, "label": truth, "annotator": "ann"})
            if k < 5:  # two more votes: one agrees, one does not; the majority holds
                writer.writerow({**task, "label": truth, "annotator": "bob"})
                writer.writerow({**task, "label": "space" if truth != "space" else "sports", "annotator": "cy"})
    recipe["label"]["annotations"] = "done.csv"
    result = hf_ftbuilder.build(write_recipe(recipe), output_dir=folder / "out", progress=False)
    names = result.dataset["train"].features["label"].names
    assert all(names[r["label"]] == r["gold"] for r in read_split_rows(folder / "out"))
    assert sum(d.num_rows for d in result.dataset.values()) == 30


def test_annotation_with_unknown_label_names_the_row(annotated) -> None:
    folder, recipe, write_recipe, _ = annotated
    (folder / "done.jsonl").write_text(json.dumps({"id": "abc", "label": "gossip"}) + "\n")
    recipe["label"]["annotations"] = "done.jsonl"
    with pytest.raises(SourceError, match=r"done\.jsonl: row abc: label 'gossip' is not one of"):
        hf_ftbuilder.build(write_recipe(recipe), output_dir=folder / "out", progress=False)


def test_label_studio_export_that_is_not_a_list(annotated) -> None:
    folder, recipe, write_recipe, _ = annotated
    (folder / "done.json").write_text(json.dumps({"data": {}}))
    recipe["label"]["annotations"] = "done.json"
    with pytest.raises(SourceError, match=r"a Label Studio export is a JSON list of tasks"):
        hf_ftbuilder.build(write_recipe(recipe), output_dir=folder / "out", progress=False)
