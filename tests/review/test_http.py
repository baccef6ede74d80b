"""The review page over HTTP, without a browser: the guards, the decision files, the bad inputs."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from starlette.testclient import TestClient

import hf_ftbuilder
from hf_ftbuilder.cli import main
from hf_ftbuilder.decisions import read_cluster_mapping
from hf_ftbuilder.errors import ConfigError, ReviewError, SourceError
from hf_ftbuilder.review import ReviewSession, bind
from hf_ftbuilder.review.app import make_app

from ..label.conftest import WORDS
from .conftest import HOSTILE, TOPICS, topic_of

TOKEN = "t0ken-for-tests"


def client(folder: Path, annotator: str = "ann") -> tuple[TestClient, ReviewSession]:
    session = ReviewSession(folder / "recipe.yaml", output_dir=folder / "out", annotator=annotator)
    app = make_app(session, token=TOKEN, hosts={"testserver"}, cookie="ftbuild_review_test")
    return TestClient(app), session


def decisions(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_queues_of_a_build(manual_copy: Path) -> None:
    web, session = client(manual_copy)
    state = web.get("/api/state", headers={"X-Token": TOKEN}).json()
    assert state["labels"] == TOPICS and state["method"] == "manual" and state["annotator"] == "ann"
    counts = {q["key"]: (q["done"], q["count"]) for q in state["queues"]}
    # 110 rows, two near-copies removed, 22 labelled by a person: 86 wait for a label.
    assert counts == {"rows": (0, 86), "duplicates": (0, 2), "leakage": (0, 2)}
    assert state["first"] == "rows"
    assert state["notes"] == ["add to the recipe's label section: `annotations: [seed_labels.csv, "
                              "recipe.annotations.csv]` (the human labels)"]
    page = web.get("/api/queue/rows?offset=80&limit=50", headers={"X-Token": TOKEN}).json()
    assert page["total"] == 86 and len(page["rows"]) == 6
    assert {r["reason"] for r in page["rows"]} == {"not_annotated"}
    found = web.get("/api/queue/rows", params={"q": "ONERROR"}, headers={"X-Token": TOKEN}).json()
    assert [r["text"] for r in found["rows"]] == [HOSTILE[0]]
    dups = web.get("/api/queue/duplicates", headers={"X-Token": TOKEN}).json()["rows"]
    assert len(dups) == 2 and all(d["other_text"] and d["other_text"] in d["text"] for d in dups)
    assert all(d["similarity"] >= 0.7 for d in dups)
    leaks = web.get("/api/queue/leakage", headers={"X-Token": TOKEN}).json()["rows"]
    assert [(leak["kind"], " pair " in leak["text"], leak["text"].split()[-1] == leak["other_text"].split()[-1])
            for leak in leaks] == [("test: near", True, True), ("test: near", True, True)]
    assert all(0.5 <= leak["similarity"] < 0.7 for leak in leaks)


def test_a_request_without_the_token_or_from_a_foreign_host_is_refused(manual_copy: Path) -> None:
    web, _ = client(manual_copy)
    assert web.get("/api/state").status_code == 403
    assert web.get("/api/state", headers={"X-Token": "wrong"}).status_code == 403
    assert web.get("/api/state", headers={"X-Token": TOKEN, "Host": "evil.example:80"}).status_code == 403
    assert web.get("/static/review.js").status_code == 403
    # The URL token becomes a cookie: later requests need nothing else.
    first = web.get(f"/?token={TOKEN}")
    assert first.status_code == 200 and "default-src 'self'" in first.headers["content-security-policy"]
    assert web.get("/api/state").status_code == 200
    # A change needs the X-Token header: the cookie alone (what a cross-site form sends) is not enough.
    row_id = web.get("/api/queue/rows?limit=1").json()["rows"][0]["id"]
    refused = web.post("/api/decide", json={"queue": "rows", "id": row_id, "label": "space"})
    assert refused.status_code == 403
    assert decisions(manual_copy / "recipe.annotations.csv") == []


def test_a_get_never_changes_state(manual_copy: Path) -> None:
    web, session = client(manual_copy)
    web.cookies.set("ftbuild_review_test", TOKEN)
    row_id = web.get("/api/queue/rows?limit=1").json()["rows"][0]["id"]
    before = (manual_copy / "recipe.annotations.csv").read_bytes()
    for path in (f"/api/decide?queue=rows&id={row_id}&label=space", "/api/undo", "/api/state", "/api/queue/rows"):
        assert web.get(path).status_code in (200, 405)
    assert session.rebuild.status() == {"running": False, "lines": [], "exit_code": None}
    assert (manual_copy / "recipe.annotations.csv").read_bytes() == before
    assert sorted(p.name for p in manual_copy.iterdir()) == [
        ".ftbuild", "corpus.jsonl", "out", "recipe.annotations.csv", "recipe.yaml", "seed_labels.csv"]


def test_decisions_are_on_disk_at_once_and_a_correction_replaces(manual_copy: Path) -> None:
    web, _ = client(manual_copy, annotator="ann")
    head = {"X-Token": TOKEN}
    rows = web.get("/api/queue/rows?limit=3", headers=head).json()["rows"]
    a, b, c = (r["id"] for r in rows)
    for row_id, label in ((a, "space"), (b, "cooking"), (a, "sports"), (c, "space")):
        answer = web.post("/api/decide", json={"queue": "rows", "id": row_id, "label": label}, headers=head).json()
        assert answer["decision"] == label
    assert answer["done"] == 3 and answer["count"] == 86
    lines = decisions(manual_copy / "recipe.annotations.csv")
    assert [(r["id"], r["label"], r["annotator"]) for r in lines] == [(b, "cooking", "ann"), (a, "sports", "ann"),
                                                                    (c, "space", "ann")]
    assert all(r["time"].endswith("Z") for r in lines)
    # Undo takes back the last decision; a second annotator's label on the same row is a second vote.
    undone = web.post("/api/undo", json={}, headers=head).json()
    assert (undone["queue"], undone["id"], undone["decision"], undone["done"]) == ("rows", c, None, 2)
    other, _ = client(manual_copy, annotator="bo")
    other.post("/api/decide", json={"queue": "rows", "id": a, "label": "sports"}, headers=head)
    assert [(r["id"], r["annotator"]) for r in decisions(manual_copy / "recipe.annotations.csv")] == [
        (b, "ann"), (a, "ann"), (a, "bo")]
    # Bad decisions are refused and change nothing.
    for body, status in (({"queue": "rows", "id": a, "label": "gossip"}, 400),
                         ({"queue": "rows", "id": "nope", "label": "space"}, 404),
                         ({"queue": "duplicates", "id": a, "label": "space"}, 400),
                         ({"queue": "rows", "id": a}, 200)):
        assert web.post("/api/decide", json=body, headers=head).status_code == status
    assert web.post("/api/decide", content=b"x" * 70_000, headers=head).status_code == 413


def test_the_next_build_applies_the_decisions(manual_copy: Path) -> None:
    web, session = client(manual_copy)
    head = {"X-Token": TOKEN}
    rows = web.get("/api/queue/rows?limit=200", headers=head).json()["rows"]
    golds = {r["id"]: g for r in rows for g in TOPICS if any(w in r["text"] for w in WORDS[g])}
    for row in rows[:12]:
        web.post("/api/decide", json={"queue": "rows", "id": row["id"], "label": golds[row["id"]]}, headers=head)
    recipe = yaml.safe_load((manual_copy / "recipe.yaml").read_text())
    recipe["label"]["annotations"] = ["seed_labels.csv", "recipe.annotations.csv"]
    (manual_copy / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    result = hf_ftbuilder.build(manual_copy / "recipe.yaml", output_dir=manual_copy / "out", overwrite=True,
                                progress=False)
    total = sum(split.num_rows for split in result.dataset.values())
    assert total == 34
    for split in result.dataset.values():
        names = split.features["label"].names
        for row in split:
            assert row["label_source"] == "human"
            if row["id"] in golds:
                assert names[row["label"]] == golds[row["id"]]
    assert result.quality["stages"][4]["details"]["annotations"]["labelled_rows"] == 34
    session.load()
    assert session.progress("rows") == (0, 74)


def test_a_recipe_never_built_or_a_folder_that_is_not_a_build(manual_copy: Path, tmp_path: Path) -> None:
    with pytest.raises(ReviewError, match=r"^review: no build at .*nowhere; run `ftbuild build .*recipe\.yaml` first$"):
        ReviewSession(manual_copy / "recipe.yaml", output_dir=manual_copy / "nowhere")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ReviewError, match=r"^review: .*plain is not a build \(no quality\.json\)"):
        ReviewSession(manual_copy / "recipe.yaml", output_dir=tmp_path / "plain")
    assert not (manual_copy / "recipe.annotations.csv").exists()  # nothing written for a build that is not there


def test_the_cli_says_each_bad_input_in_one_line(manual_copy: Path, capsys) -> None:
    taken = bind("127.0.0.1", 0)
    port = taken.getsockname()[1]
    try:
        code = main(["review", str(manual_copy / "recipe.yaml"), "--output", str(manual_copy / "out"),
                     "--port", str(port), "--no-browser"])
    finally:
        taken.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1] == (f"error: review: port {port} on 127.0.0.1 is in use; choose another with "
                                     "--port (or --port 0 for any free one)")
    code = main(["review", str(manual_copy / "recipe.yaml"), "--host", "0.0.0.0", "--no-browser"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: review: --host 0.0.0.0 is not a loopback address")
    code = main(["review", str(manual_copy / "recipe.yaml"), "--output", str(manual_copy / "never"), "--no-browser"])
    assert code == 2 and capsys.readouterr().err.count("\n") == 1


def test_a_hand_edited_decision_with_an_unknown_label_names_the_file_and_line(manual_copy: Path) -> None:
    (manual_copy / "seed_labels.csv").write_text(
        (manual_copy / "seed_labels.csv").read_text() + "abc,gossip\n")
    with pytest.raises(SourceError, match=r"^label\.annotations: .*seed_labels\.csv:24: row abc: label 'gossip' "
                                          r"is not one of \['sports', 'cooking', 'space'\]$"):
        hf_ftbuilder.build(manual_copy / "recipe.yaml", output_dir=manual_copy / "again", progress=False)
    assert not (manual_copy / "again").exists()


def test_a_killed_server_loses_no_decision(manual_copy: Path) -> None:
    """SIGKILL while deciding: every answered decision is on disk, the file is whole, the build reads it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hf_ftbuilder", "review", str(manual_copy / "recipe.yaml"), "--output",
         str(manual_copy / "out"), "--no-browser", "--annotator", "kim"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        url = proc.stdout.readline().strip()
        base, token = url.split("/?token=")
        ids = [r["id"] for r in _get(f"{base}/api/queue/rows?limit=60", token)["rows"]]
        answered = []
        for k, row_id in enumerate(ids):
            label = TOPICS[k % 3]
            _post(f"{base}/api/decide", token, {"queue": "rows", "id": row_id, "label": label})
            answered.append((row_id, label))
            if k == 40:
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait()
    lines = decisions(manual_copy / "recipe.annotations.csv")
    assert [(r["id"], r["label"]) for r in lines] == answered
    assert not [p for p in manual_copy.iterdir() if p.name.endswith(".tmp")]
    recipe = yaml.safe_load((manual_copy / "recipe.yaml").read_text())
    recipe["label"]["annotations"] = ["seed_labels.csv", "recipe.annotations.csv"]
    (manual_copy / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    result = hf_ftbuilder.build(manual_copy / "recipe.yaml", output_dir=manual_copy / "after", until="label",
                                progress=False)
    assert result.dataset["train"].num_rows == 22 + 41


def _get(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"X-Token": token, "Host": url.split("/")[2]})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def _post(url: str, token: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"X-Token": token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def test_port_zero_picks_a_free_port_and_a_taken_one_is_named() -> None:
    first = bind("127.0.0.1", 0)
    try:
        port = first.getsockname()[1]
        assert port > 0
        with pytest.raises(ReviewError, match=f"port {port} on 127.0.0.1 is in use"):
            bind("127.0.0.1", port)
    finally:
        first.close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # released: the session left nothing listening


def test_cluster_names_drop_a_new_label_and_undo(kmeans_project: Path) -> None:
    web, session = client(kmeans_project)
    head = {"X-Token": TOKEN}
    state = web.get("/api/state", headers=head).json()
    assert state["first"] == "clusters" and state["labels"] == TOPICS
    assert [q["key"] for q in state["queues"]] == ["clusters", "rows", "duplicates", "leakage"]
    clusters = web.get("/api/queue/clusters", headers=head).json()["rows"]
    assert [c["size"] for c in clusters] == [30, 30, 30]
    assert all(len(c["nearest"]) == 5 and len(c["sample"]) == 5 and len(c["terms"]) == 10 for c in clusters)
    topics = {c["id"]: topic_of(" ".join(c["terms"])) for c in clusters}
    assert sorted(topics.values()) == sorted(TOPICS)

    def name(cluster: str, label: str) -> dict:
        return web.post("/api/decide", json={"queue": "clusters", "id": cluster, "label": label}, headers=head).json()

    ids = sorted(topics)
    assert name(ids[0], topics[ids[0]])["note"] is None
    new = name(ids[1], "  athletics ")  # a label the recipe does not list: said, and recorded
    assert new["decision"] == "athletics"
    assert new["note"] == ("'athletics' is a new label: set the recipe's label.labels to "
                           "[sports, cooking, space, athletics] before rebuilding")
    assert name(ids[2], "drop")["done"] == 3
    assert read_cluster_mapping(kmeans_project / "recipe.clusters.yaml") == {
        int(ids[0]): topics[ids[0]], int(ids[1]): "athletics", int(ids[2]): "drop"}
    assert web.post("/api/undo", json={}, headers=head).json()["decision"] is None
    assert web.post("/api/undo", json={}, headers=head).json()["decision"] is None
    name(ids[1], topics[ids[1]])
    assert read_cluster_mapping(kmeans_project / "recipe.clusters.yaml") == {
        int(ids[0]): topics[ids[0]], int(ids[1]): topics[ids[1]]}
    # Two of three named: the build says which cluster is left, in one line.
    recipe = yaml.safe_load((kmeans_project / "recipe.yaml").read_text())
    recipe["label"]["cluster_names"] = "recipe.clusters.yaml"
    (kmeans_project / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.raises(ConfigError, match=rf"clusters \[{ids[2]}\] have no name yet"):
        hf_ftbuilder.build(kmeans_project / "recipe.yaml", output_dir=kmeans_project / "again", progress=False)
    assert web.post("/api/decide", json={"queue": "clusters", "id": ids[2], "label": "bad\x07"},
                    headers=head).status_code == 400


def test_rows_the_noise_estimate_flags_are_in_the_rows_queue(manual_copy: Path) -> None:
    """review/label_issues.parquet (the report writes it when label_noise flags rows): given label,
    likely label and score, beside the rows waiting for a label."""
    flagged = pa.table({"id": ["f1", "f2"], "text": ["rocket orbit moon", "oven flour dough"],
                        "issue_score": pa.array([0.91, 0.72], pa.float32()),
                        "given_label": ["sports", "space"], "likely_label": ["space", "cooking"]})
    pq.write_table(flagged, manual_copy / "out" / "review" / "label_issues.parquet")
    web, _ = client(manual_copy)
    rows = web.get("/api/queue/rows?offset=86&limit=10", headers={"X-Token": TOKEN}).json()["rows"]
    assert [(r["id"], r["reason"], r["given"], r["suggestion"], round(r["score"], 2)) for r in rows] == [
        ("f1", "label_issue", "sports", "space", 0.91), ("f2", "label_issue", "space", "cooking", 0.72)]
