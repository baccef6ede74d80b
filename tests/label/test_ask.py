"""label.ask: the build chooses the rows a person should label, and learns from the answers."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

import hf_ftbuilder
from hf_ftbuilder import plots
from hf_ftbuilder.cli import main
from hf_ftbuilder.errors import ConfigError
from hf_ftbuilder.label.ask import choose, wilson
from hf_ftbuilder.review import ReviewSession

from ..conftest import LIGHT_REPORT
from .conftest import read_split_rows, topic_rows, write_jsonl

# Names that say nothing about the texts: similarity to them cannot tell the topics apart, so the
# labels come from what people answer.
NAMES = {"sports": "alpha", "space": "beta"}


def _project(folder: Path, method: dict | None = None, names: dict[str, str] = NAMES) -> Path:
    rows = [r for r in topic_rows(40, seed=4) if r["gold"] in names]
    write_jsonl(folder / "corpus.jsonl", [{**r, "gold": names[r["gold"]]} for r in rows])
    (folder / "answers.csv").write_text("id,label,annotator,time\n")
    recipe = {
        "name": "asked", "seed": 3, "report": LIGHT_REPORT,
        "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
        "dedup": {"near": {"enabled": False}},
        "label": {**(method or {"method": "embedding", "refine": False}), "labels": list(names.values()), "ask": 10,
                  "annotations": "answers.csv"},
    }
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def _answer(folder: Path, out: Path) -> list[dict]:
    """The oracle: a person answers every asked row with its gold label."""
    asked = pq.read_table(out / "review" / "ask.parquet").to_pylist()
    gold = {r["id"]: r["gold"] for r in read_split_rows(out)}
    with (folder / "answers.csv").open("a", newline="") as fh:
        csv.writer(fh).writerows([a["id"], gold[a["id"]], "oracle", "2026-12-02T00:00:00Z"] for a in asked)
    return asked


def _accuracy_without_people(out: Path, names: list[str]) -> float:
    rows = [r for r in read_split_rows(out) if r["label_source"] != "human"]
    return sum(names[r["label"]] == r["gold"] for r in rows) / len(rows)


def _two_rounds(folder: Path, recipe: Path, names: list[str]) -> tuple[list[dict], Any]:
    """Three builds with an oracle answering the asked rows between them; what the tests share:
    the same inputs ask the same rows, every label among round one's, no row asked twice, accuracy
    on the rows no person labelled up by 10 points, and every human label kept. The first round's
    asked rows and the last build."""
    build = lambda name: hf_ftbuilder.build(recipe, output_dir=folder / name, until="label", progress=False)  # noqa: E731
    build("r0")
    build("r0-again")  # the same inputs ask the same rows
    assert (pq.read_table(folder / "r0-again" / "review" / "ask.parquet").to_pylist()
            == pq.read_table(folder / "r0" / "review" / "ask.parquet").to_pylist())
    before = _accuracy_without_people(folder / "r0", names)
    first = _answer(folder, folder / "r0")
    assert len(first) == 10 and sum(a["why"] == "random" for a in first) == 2
    assert {r["gold"] for r in read_split_rows(folder / "r0") if r["id"] in {a["id"] for a in first}} == set(names)

    build("r1")
    second = _answer(folder, folder / "r1")
    assert not {a["id"] for a in first} & {a["id"] for a in second}  # never asked twice
    result = build("r2")
    after = _accuracy_without_people(folder / "r2", names)
    assert after >= before + 0.10, (before, after)
    print(f"accuracy on rows no person labelled: {before:.4f} before, {after:.4f} after two rounds")
    humans = [r for r in read_split_rows(folder / "r2") if r["label_source"] == "human"]
    assert len(humans) == 20 and all(names[r["label"]] == r["gold"] for r in humans)
    return first, result


def test_two_rounds_of_answers_teach_the_model(tmp_path: Path) -> None:
    recipe = _project(tmp_path)
    _, result = _two_rounds(tmp_path, recipe, ["alpha", "beta"])
    rounds = result.quality["stages"][4]["details"]["ask"]["rounds"]
    assert [(r["round"], r["human_labels"], r["asked"]) for r in rounds] == [(1, 0, 10), (2, 10, 10), (3, 20, 10)]
    assert [r["random_answered"] for r in rounds] == [2, 2, 0]
    card = (tmp_path / "r2" / "README.md").read_text()
    assert "| 1 | 0 | 10 | 2 |" in card and "| 3 | 20 | 10 | 0 | - |" in card
    # The learning curve is drawn from quality.json (plots on): the rounds with answered random rows.
    drawn = plots.render(result.quality, tmp_path / "images")
    assert drawn["learning_curve"] == "images/learning_curve.png"
    assert (tmp_path / "images" / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The asked rows are the review page's first queue, and an export.
    session = ReviewSession(recipe, output_dir=tmp_path / "r2", annotator="oracle")
    assert session.state()["first"] == "ask" and session.progress("ask") == (0, 10)
    asked = session.page("ask", 0, 50)[1]
    assert [(a["reason"], a["decision"]) for a in asked] == [("ask", None)] * 10
    session.decide("ask", asked[0]["id"], "beta")
    assert session.progress("ask") == (1, 10)
    assert main(["label", "export", str(recipe), "--ask", "--build", str(tmp_path / "r2"), "--format", "jsonl"]) == 0
    tasks = [json.loads(line) for line in (tmp_path / "asked-ask.jsonl").read_text().splitlines()]
    assert [t["id"] for t in tasks] == [a["id"] for a in asked]
    assert all(t["suggestion"] in ("alpha", "beta") for t in tasks)


def test_zero_shot_learns_from_two_rounds_of_answers(tmp_path: Path, tiny_nli: Path) -> None:
    # The tiny NLI model knows "football" and "goal" (sports) but no word of the space texts: it calls
    # 60% of rows right. People's labels train a classifier on the words and its probabilities.
    names = {"sports": "sports", "space": "science"}
    recipe = _project(tmp_path, {"method": "zero_shot", "model": str(tiny_nli)}, names)
    _, result = _two_rounds(tmp_path, recipe, list(names.values()))
    details = result.quality["stages"][4]["details"]
    assert details["learned"]["people"] == 20 and details["annotations"]["labelled_rows"] == 20
    # Agreement is measured on what the model said before it learned: it got the space rows wrong.
    assert details["annotations"]["agreement"]["accuracy"] < 0.9


def test_choose_covers_every_label_then_doubt_spread_and_random() -> None:
    import numpy as np

    # Four labels; the model never picks label 3; rows 0-3 are the most doubtful and near-copies.
    proba = np.array([[0.5, 0.5, 0, 0]] * 4 + [[0.9, 0.05, 0.05, 0]] * 8 + [[0.1, 0.2, 0.6, 0.1]] * 8, dtype=float)
    proba[19] = [0.3, 0.1, 0.2, 0.4]
    vectors = np.eye(20)
    vectors[1:4] = vectors[0]  # the same kind of row as row 0
    asked = choose(8, proba=proba, open_rows=np.arange(20), seed=1, vectors=vectors, names=list("abcd"))
    assert len(asked.rows) == len(set(asked.rows)) == 8
    assert asked.why.count("random") == 2
    coverage = [w for w in asked.why if w.startswith("coverage")]
    assert coverage == ["coverage: b", "coverage: d", "coverage: c", "coverage: a"]  # the rarest label first
    doubt = [r for r, w in zip(asked.rows, asked.why) if w == "doubt"]
    assert len([r for r in doubt if r < 4]) <= 1  # near-copies of one doubtful row are asked once
    assert choose(8, proba=proba, open_rows=np.arange(20), seed=1, vectors=vectors).rows == asked.rows
    assert choose(5, proba=proba, open_rows=np.array([2, 7]), seed=1).rows.__len__() == 2


def test_wilson_interval() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(9, 10)
    assert round(low, 4) == 0.5958 and round(high, 4) == 0.9821
    assert wilson(10, 10)[1] == pytest.approx(1.0) and round(wilson(10, 10)[0], 4) == 0.7225


def test_ask_with_manual_needs_a_model(tmp_path: Path, write_recipe) -> None:
    path = write_recipe({"name": "m", "sources": [{"type": "jsonl", "path": "x.jsonl"}],
                         "label": {"method": "manual", "labels": ["a", "b"], "ask": 5}})
    with pytest.raises(ConfigError, match=r"label: .*ask needs a model to choose rows with: set suggest"):
        hf_ftbuilder.load_config(path)


def test_asked_rows_without_a_suggestion_export_none_and_stale_labels_stop(tmp_path: Path, capsys) -> None:
    """A row the model had no label for is exported with no suggestion (never label 0's), and an
    ask file whose suggestions the recipe's labels lack stops the export with one line."""
    import numpy as np
    import pyarrow as pa

    from hf_ftbuilder.label.manual import export_tasks

    names = ["alpha", "beta"]
    suggestions = (np.array([1, -1]), np.array([0.9, np.nan]))
    export_tasks(tmp_path / "t.jsonl", "jsonl", ids=["a", "b"], texts=["x", "y"], names=names, suggestions=suggestions)
    rows = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [(r["suggestion"], r["suggestion_score"]) for r in rows] == [("beta", 0.9), (None, None)]
    export_tasks(tmp_path / "t.csv", "csv", ids=["a", "b"], texts=["x", "y"], names=names, suggestions=suggestions)
    with (tmp_path / "t.csv").open(newline="") as fh:
        assert [(r["suggestion"], r["suggestion_score"]) for r in csv.DictReader(fh)] == [("beta", "0.9"), ("", "")]
    export_tasks(tmp_path / "t.json", "label-studio", ids=["a", "b"], texts=["x", "y"], names=names,
                 suggestions=suggestions)
    tasks = json.loads((tmp_path / "t.json").read_text())
    assert tasks[0]["predictions"][0]["result"][0]["value"]["choices"] == ["beta"] and "predictions" not in tasks[1]

    recipe = _project(tmp_path)
    build = tmp_path / "built"
    (build / "review").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["r1", "r2"], "text": ["one", "two"], "suggested_label": ["beta", None],
                             "label_score": pa.array([0.8, None], pa.float32()), "why": ["doubt", "random"]}),
                   build / "review" / "ask.parquet")
    assert main(["label", "export", str(recipe), "--ask", "--build", str(build), "--format", "jsonl"]) == 0
    tasks = [json.loads(line) for line in (tmp_path / "asked-ask.jsonl").read_text().splitlines()]
    assert [(t["id"], t["suggestion"]) for t in tasks] == [("r1", "beta"), ("r2", None)]
    pq.write_table(pa.table({"id": ["r1"], "text": ["one"], "suggested_label": ["gamma"],
                             "label_score": pa.array([0.8], pa.float32()), "why": ["doubt"]}),
                   build / "review" / "ask.parquet")
    capsys.readouterr()
    assert main(["label", "export", str(recipe), "--ask", "--build", str(build), "--format", "jsonl"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'gamma'" in err and "build it again" in err
    assert [json.loads(line)["id"] for line in (tmp_path / "asked-ask.jsonl").read_text().splitlines()] == ["r1", "r2"]
