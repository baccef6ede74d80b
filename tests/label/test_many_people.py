"""label.labels_per_row: many with people: annotation files of label sets (several CSV lines per id,
a ``labels`` list or delimited string, Label Studio choices), resolved label by label; method manual
with and without a model's suggestion; people over a model; min_score; and the tasks export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import ClassLabel, List

import hf_ftbuilder
from hf_ftbuilder.config import ManualLabel, ZeroShotLabel
from hf_ftbuilder.context import StageContext
from hf_ftbuilder.errors import SourceError, StageError
from hf_ftbuilder.label import label
from hf_ftbuilder.label.manual import read_annotations

from ..conftest import LIGHT_REPORT
from .test_many_zero_shot import NAMES, NO_KEYWORD, PLANTED

ABC = ["a", "b", "c"]


def _file(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_answers_resolve_label_by_label(tmp_path: Path) -> None:
    # One label per line, three annotators; a file's lines of one annotator about a row are one answer.
    lines = _file(tmp_path, "lines.csv", "id,label,annotator\n"
                  "r1,a,ann\nr1,b,ann\nr1,a,bo\nr1,a,cy\nr1,b,cy\n"  # a 3/3, b 2/3: {a, b}
                  "r2,a,ann\nr2,b,bo\n"                             # a 1/2, b 1/2: tie
                  "r3,a,ann\nr3,b,bo\nr3,c,cy\n"                    # no label reaches a majority: tie
                  "r4,c,ann\n")                                     # one answer: {c}
    got = read_annotations(lines, ABC, many=True)
    assert got.sets == {"r1": [0, 1], "r4": [2]}
    assert got.ties == {"r2", "r3"} and got.labels == {}
    assert got.votes == 9 and got.annotators == 3  # answers: one per row and annotator

    # A labels field: a list in JSONL, a string cut at the delimiter in CSV (";" by default).
    listed = _file(tmp_path, "listed.jsonl", '{"id": "r1", "labels": ["c", "a"]}\n{"id": "r2", "labels": []}\n'
                   '{"id": "r5", "labels": ["b"], "annotator": "ann"}\n')
    assert read_annotations(listed, ABC, many=True).sets == {"r1": [0, 2], "r5": [1]}
    joined = _file(tmp_path, "joined.csv", 'id,labels\nr1," c ; a"\nr2,b\nr3,\n')
    assert read_annotations(joined, ABC, many=True).sets == {"r1": [0, 2], "r2": [1]}
    piped = _file(tmp_path, "piped.csv", "id,labels\nr1,c|a\n")
    assert read_annotations(piped, ABC, many=True, delimiter="|").sets == {"r1": [0, 2]}

    # Without an annotator column, one file's lines about a row are one person's answer.
    anonymous = _file(tmp_path, "anon.csv", "id,label\nr1,a\nr1,b\n")
    got = read_annotations(anonymous, ABC, many=True)
    assert got.sets == {"r1": [0, 1]} and got.votes == 1 and got.annotators == 1


def test_an_annotators_latest_answer_replaces_the_earlier(tmp_path: Path) -> None:
    first = _file(tmp_path, "first.csv", "id,labels,annotator\nr1,a;b,ann\nr2,a,ann\nr3,c,ann\n")
    second = _file(tmp_path, "second.csv", "id,labels,annotator\nr1,c,ann\nr2,,ann\nr3,c,bo\n")
    got = read_annotations([first, second], ABC, many=True)
    # r1: ann's answer is now {c}; r2: withdrawn; r3: two answers agreeing on c.
    assert got.sets == {"r1": [2], "r3": [2]} and got.votes == 3 and got.annotators == 2


def test_label_studio_choices_are_one_answer(tmp_path: Path) -> None:
    def annotation(who: int, choices: list[str], cancelled: bool = False) -> dict:
        return {"completed_by": who, "was_cancelled": cancelled,
                "result": [{"type": "choices", "value": {"choices": choices}}]}

    tasks = [{"data": {"id": "r1"}, "annotations": [annotation(1, ["a", "c"]), annotation(2, ["a"]),
                                                    annotation(3, ["a", "c"])]},
             {"data": {"id": "r2"}, "annotations": [annotation(1, ["b"]), annotation(2, ["c"], cancelled=True)]}]
    path = _file(tmp_path, "ls.json", json.dumps(tasks))
    got = read_annotations(path, ABC, many=True)
    assert got.sets == {"r1": [0, 2], "r2": [1]} and got.cancelled == 1 and got.annotators == 3


def test_bad_answers_name_the_file_and_line(tmp_path: Path) -> None:
    path = _file(tmp_path, "bad.csv", "id,labels\nr1,a;b\nr2,a;gossip\n")
    with pytest.raises(SourceError, match=r"bad\.csv:3: row r2: label 'gossip' is not one of \['a', 'b', 'c'\]$"):
        read_annotations(path, ABC, many=True)
    # A labels-only file read for one label per row says which column it would read.
    with pytest.raises(SourceError, match="no 'label' column .*; a labels column is read with labels_per_row: many$"):
        read_annotations(path, ABC)


def test_manual_builds_label_sets_from_people(make_dataset, tmp_path: Path) -> None:
    ds = make_dataset(["one", "two", "three", "four", "five"])
    _file(tmp_path, "people.csv", "id,labels,annotator\nr0,a;c,ann\nr1,b,ann\nr2,a,ann\nr2,b,bo\nr3,c,ann\n")
    cfg = ManualLabel(labels=ABC, labels_per_row="many", annotations="people.csv")
    out, stats = label(ds, cfg, context=StageContext(base_dir=tmp_path))
    assert out.features["labels"] == List(ClassLabel(names=ABC))
    assert out["id"] == ["r0", "r1", "r3"] and out["labels"] == [[0, 2], [1], [2]]
    assert out["label_score"] == [[1.0, 1.0], [1.0], [1.0]] and set(out["label_source"]) == {"human"}
    assert stats.dropped == {"annotation_tie": 1, "not_annotated": 1}
    assert stats.review_rows["annotation_tie"]["id"] == ["r2"]
    assert stats.review_rows["not_annotated"]["id"] == ["r4"]
    people = stats.details["annotations"]
    assert people["labelled_rows"] == 3 and people["ties"] == 1 and people["annotators"] == 2
    assert people["agreement"] == {"rows": 0}  # no model spoke

    no_people = ManualLabel(labels=ABC, labels_per_row="many")
    with pytest.raises(StageError, match="^label: method manual has no annotations yet"):
        label(ds, no_people, context=StageContext(base_dir=tmp_path))


def test_people_over_a_models_sets_and_min_score(tiny_nli_multi, make_dataset, tmp_path: Path) -> None:
    ds = make_dataset([text for text, _ in PLANTED])
    # r0 (sports) corrected to sports+science; r7 (no keyword, no label from the model) labelled business.
    _file(tmp_path, "people.jsonl", '{"id": "r0", "labels": ["science", "sports"]}\n{"id": "r7", "labels": ["business"]}\n')
    cfg = ZeroShotLabel(model=str(tiny_nli_multi), labels=NAMES, labels_per_row="many", batch_size=4,
                        annotations="people.jsonl")
    out, stats = label(ds, cfg, context=StageContext(base_dir=tmp_path))
    got = {i: ([NAMES[j] for j in labels], source) for i, labels, source in zip(out["id"], out["labels"], out["label_source"])}
    assert got["r0"] == (["sports", "science"], "human")
    assert got["r7"] == (["business"], "human")
    assert got["r1"] == (["business"], f"zero_shot:{tiny_nli_multi}")
    assert stats.review_rows["no_label"]["id"] == ["r8"]
    people = stats.details["annotations"]
    assert people["corrected_rows"] == 2 and people["agreement"] == {"rows": 2, "exact": 0.0, "jaccard": 0.25}

    # min_score 0.9: the diluted row's politics (0.70) sends it to review; people's rows stay.
    sure = cfg.model_copy(update={"min_score": 0.9})
    out, stats = label(ds, sure, context=StageContext(base_dir=tmp_path))
    assert stats.review_rows["low_confidence"]["id"] == ["r6"]
    assert "r0" in out["id"] and "r6" not in out["id"]

    # manual with a suggestion: the model's sets for the rows nobody answered.
    manual = ManualLabel(labels=NAMES, labels_per_row="many", annotations="people.jsonl",
                         suggest={"method": "zero_shot", "model": str(tiny_nli_multi), "batch_size": 4})
    out, stats = label(ds, manual, context=StageContext(base_dir=tmp_path))
    assert dict(zip(out["id"], out["labels"]))["r3"] == [0, 3]  # football + senate: sports, politics
    assert stats.review_rows["no_label"]["id"] == [NO_KEYWORD[1]]


def test_export_writes_label_set_tasks(tiny_nli_multi, tmp_path: Path, write_recipe) -> None:
    rows = [{"text": text} for text, _ in PLANTED[:4]]
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    recipe = write_recipe({
        "name": "sets", "report": LIGHT_REPORT, "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
        "dedup": {"near": {"enabled": False}},
        "label": {"method": "manual", "labels": NAMES, "labels_per_row": "many", "label_delimiter": "|",
                  "suggest": {"method": "zero_shot", "model": str(tiny_nli_multi), "batch_size": 4}},
    })
    csv_path, = hf_ftbuilder.export_tasks(recipe, fmt="csv", out=tmp_path / "tasks.csv", progress=False)
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,text,suggestion,suggestion_score,labels"
    # The football + senate row: two labels suggested, joined by the recipe's delimiter.
    assert [line.split(",")[2] for line in lines[1:]] == ["sports", "business", "science", "sports|politics"]
    assert all(line.endswith(",") for line in lines[1:])  # the labels to fill

    jsonl_path, = hf_ftbuilder.export_tasks(recipe, fmt="jsonl", out=tmp_path / "tasks.jsonl", progress=False)
    tasks = [json.loads(line) for line in jsonl_path.read_text(encoding="utf-8").splitlines()]
    assert tasks[3]["suggestion"] == ["sports", "politics"] and len(tasks[3]["suggestion_score"]) == 2
    assert tasks[3]["labels"] is None and "label" not in tasks[3]

    studio, xml = hf_ftbuilder.export_tasks(recipe, fmt="label-studio", out=tmp_path / "tasks.json", progress=False)
    assert 'choice="multiple"' in xml.read_text(encoding="utf-8")
    prediction = json.loads(studio.read_text(encoding="utf-8"))[3]["predictions"][0]
    assert prediction["result"][0]["value"]["choices"] == ["sports", "politics"]
    assert prediction["score"] == min(tasks[3]["suggestion_score"])

    # The filled tasks read back as annotations: people's label sets.
    filled = tmp_path / "filled.jsonl"
    filled.write_text("".join(json.dumps({**t, "labels": t["suggestion"]}) + "\n" for t in tasks), encoding="utf-8")
    got = read_annotations(filled, NAMES, many=True)
    assert got.sets == dict(zip([t["id"] for t in tasks], [[0], [1], [2], [0, 3]]))
