"""The review page with several labels per row: a decision is a label set, written joined to the
``labels`` column of the decision file, and the next build applies it."""

from __future__ import annotations

import json

import yaml

import hf_ftbuilder

from .conftest import TOPICS, gold_set, many_recipe
from .test_http import TOKEN, client, decisions

HEAD = {"X-Token": TOKEN}


def test_label_sets_are_decided_undone_and_applied(many_copy) -> None:
    web, session = client(many_copy)
    state = web.get("/api/state", headers=HEAD).json()
    assert state["many"] is True and state["labels"] == TOPICS
    assert {q["key"]: q["count"] for q in state["queues"]} == {"rows": 24, "duplicates": 0, "leakage": 0}
    rows = web.get("/api/queue/rows?limit=50", headers=HEAD).json()["rows"]
    assert len(rows) == 24 and {r["reason"] for r in rows} == {"not_annotated"}
    assert all(r["suggestion"] is None and r["decision"] is None for r in rows)  # no model: nothing suggested

    a, b = rows[0]["id"], rows[1]["id"]
    # A set in any order is recorded in the recipe's label order, joined by the delimiter.
    answer = web.post("/api/decide", json={"queue": "rows", "id": a, "label": ["space", "sports"]}, headers=HEAD).json()
    assert answer["decision"] == ["sports", "space"] and answer["done"] == 1
    web.post("/api/decide", json={"queue": "rows", "id": b, "label": ["cooking"]}, headers=HEAD)
    assert [(r["id"], r["labels"]) for r in decisions(many_copy / "recipe.annotations.csv")] == [
        (a, "sports;space"), (b, "cooking")]
    assert list(decisions(many_copy / "recipe.annotations.csv")[0]) == ["id", "labels", "annotator", "time"]
    # Undo gives the row back its earlier set (none); an empty set withdraws like null.
    undone = web.post("/api/undo", json={}, headers=HEAD).json()
    assert (undone["id"], undone["decision"]) == (b, None)
    web.post("/api/decide", json={"queue": "rows", "id": a, "label": []}, headers=HEAD)
    assert decisions(many_copy / "recipe.annotations.csv") == []
    # Refused, changing nothing: one label where a set is expected, an unknown label, not strings.
    for label in ("sports", ["sports", "gossip"], [1]):
        assert web.post("/api/decide", json={"queue": "rows", "id": a, "label": label}, headers=HEAD).status_code == 400
    assert decisions(many_copy / "recipe.annotations.csv") == []

    # Every waiting row gets its planted set; the next build reads the file the page wrote.
    for row in rows:
        web.post("/api/decide", json={"queue": "rows", "id": row["id"], "label": gold_set(row["text"])}, headers=HEAD)
    assert session.progress("rows") == (24, 24)
    recipe = yaml.safe_load((many_copy / "recipe.yaml").read_text())
    recipe["label"]["annotations"] = ["seed.csv", "recipe.annotations.csv"]
    (many_copy / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    result = hf_ftbuilder.build(many_copy / "recipe.yaml", output_dir=many_copy / "out", overwrite=True, progress=False)
    built = [row for split in result.dataset.values() for row in split]
    assert len(built) == 36 and {row["label_source"] for row in built} == {"human"}
    assert all([TOPICS[i] for i in row["labels"]] == gold_set(row["text"]) for row in built)
    assert sum(len(row["labels"]) for row in built) == 48  # 12 rows of two labels
    assert not (many_copy / "out" / "review" / "not_annotated.parquet").exists()
    card = (many_copy / "out" / "README.md").read_text(encoding="utf-8")
    assert "Human annotations: 36 rows labelled by people (0 of them corrections of the model's label) from 36 votes" in card
    session.load()
    assert session.progress("rows") == (0, 0)


def test_a_models_doubtful_sets_wait_with_their_scores(tiny_nli_multi, tmp_path) -> None:
    from ..label.test_many_zero_shot import NAMES, PLANTED

    folder = tmp_path / "zs"
    folder.mkdir()
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t, _ in PLANTED), encoding="utf-8")
    recipe = {**many_recipe(), "label": {"method": "zero_shot", "model": str(tiny_nli_multi), "labels": NAMES,
                                         "labels_per_row": "many", "min_score": 0.9, "batch_size": 4}}
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    hf_ftbuilder.build(folder / "recipe.yaml", output_dir=folder / "out", until="label", progress=False)
    _, session = client(folder)
    total, items = session.page("rows", 0, 10)
    by_text = {i["text"]: i for i in items}
    # The diluted politics row (0.70, below min_score) and the two rows given no label.
    assert total == 3
    diluted = by_text[PLANTED[6][0]]
    assert (diluted["reason"], diluted["suggestion"]) == ("low_confidence", ["politics"])
    assert 0.5 <= diluted["score"] < 0.9
    assert sorted((i["reason"], i["suggestion"], i["score"]) for t, i in by_text.items() if t != PLANTED[6][0]) == [
        ("no_label", [], None), ("no_label", [], None)]
    # A person's set for the row, kept in the recipe's label order.
    assert session.decide("rows", diluted["id"], ["politics", "science"]) is None
    assert session.decision("rows", diluted) == ["science", "politics"]
