"""label.method: manual: annotation round trips (CSV, JSONL, Label Studio), majority votes, model suggestions."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import hf_ftbuilder
from hf_ftbuilder.cli import main
from hf_ftbuilder.errors import SourceError

from ..conftest import LIGHT_REPORT, SENTENCE_TOPICS, topic_corpus
from .conftest import TOPICS, read_split_rows, topic_rows, write_jsonl


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
    with pytest.raises(SourceError, match=r"done\.jsonl:1: row abc: label 'gossip' is not one of"):
        hf_ftbuilder.build(write_recipe(recipe), output_dir=folder / "out", progress=False)


def test_label_studio_export_that_is_not_a_list(annotated) -> None:
    folder, recipe, write_recipe, _ = annotated
    (folder / "done.json").write_text(json.dumps({"data": {}}))
    recipe["label"]["annotations"] = "done.json"
    with pytest.raises(SourceError, match=r"a Label Studio export is a JSON list of tasks"):
        hf_ftbuilder.build(write_recipe(recipe), output_dir=folder / "out", progress=False)


def test_manual_with_suggestions_reports_agreement(tmp_path, write_recipe, minilm) -> None:
    rows = topic_corpus(tmp_path)
    recipe = {
        "name": "suggested",
        "report": LIGHT_REPORT,
        "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
        "label": {"method": "manual", "labels": SENTENCE_TOPICS, "suggest": "embedding"},
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

    names = SENTENCE_TOPICS
    suggested = [names.index(t["suggestion"]) for t in tasks[:12]]
    human = [names.index(d["label"]) for d in done]
    assert details["annotations"]["agreement"]["cohen_kappa"] == round(cohen_kappa_score(human, suggested), 6)
    ds = result.dataset["train"]
    sources = dict(zip(ds["id"], ds["label_source"]))
    assert [sources[d["id"]] for d in done] == ["human"] * 12
    assert sum(s.startswith("embedding:") for s in sources.values()) == 12  # the model labels the rest
    card = (tmp_path / "out" / "README.md").read_text()
    assert "Model suggestions agreed with people on 12 rows: accuracy 0.75" in card
