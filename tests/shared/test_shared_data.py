"""Checks on the larger real data in ../shared/data (`make check-shared`)."""

from __future__ import annotations

import collections
import json
import re
import statistics
from pathlib import Path

import pytest
import yaml
from datasets import load_dataset

import hf_ftbuilder

pytestmark = pytest.mark.shared


def _words(text: str) -> collections.Counter:
    return collections.Counter(re.findall(r"\w+", text.lower()))


def _f1(got: str, want: str) -> float:
    g, w = _words(got), _words(want)
    overlap = sum((g & w).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(g.values()), overlap / sum(w.values())
    return 2 * precision * recall / (precision + recall)


def _recipe(tmp_path: Path, recipe: dict) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


def test_extraction_matches_scrapinghub_ground_truth(shared_data: Path, tmp_path: Path) -> None:
    root = shared_data / "html" / "scrapinghub"
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    path = _recipe(tmp_path, {"name": "sh", "sources": [{"type": "html_dir", "path": str(root / "html")}]})
    result = hf_ftbuilder.build(path, output_dir=tmp_path / "out", until="extract")
    rows = result.dataset["train"]
    assert rows.num_rows == 181  # every page gives main text
    scores = [_f1(r["text"], truth[r["file"].removesuffix(".html.gz")]["articleBody"]) for r in rows]
    # Word-level F1 against the benchmark's article bodies; measured 0.959 mean, 0.991 median here.
    assert statistics.mean(scores) > 0.93
    assert statistics.median(scores) > 0.97


def test_page_language_on_readability_pages(shared_data: Path, tmp_path: Path) -> None:
    root = shared_data / "html" / "readability"
    manifest = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
    expected = {m["id"]: m["lang"].split("-")[0].lower() for m in manifest if m["lang"]}
    path = _recipe(tmp_path, {"name": "rd", "sources": [
        {"type": "html_dir", "path": str(root / "pages"), "patterns": ["*/source.html.gz"]}]})
    result = hf_ftbuilder.build(path, output_dir=tmp_path / "out", until="extract")
    rows = result.dataset["train"]
    assert rows.num_rows + sum(result.stages[1].dropped.values()) == 94
    got = {r["file"].split("/")[0]: r["language"] for r in rows}
    agree = sum(got.get(k) == v for k, v in expected.items())
    assert agree / len(expected) > 0.95
    assert all(got[k] for k in got)  # pages without <html lang> get a detected language


def test_ag_news_full_build(shared_data: Path, tmp_path: Path) -> None:
    names = ["World", "Sports", "Business", "Sci/Tech"]
    path = _recipe(tmp_path, {
        "name": "ag_news",
        "sources": [{"type": "csv", "path": str(shared_data / "text" / "ag_news_test.csv")}],
        "label": {"column": "label", "labels": names},
    })
    out = tmp_path / "out"
    result = hf_ftbuilder.build(path, output_dir=out)
    dd = load_dataset(str(out))
    assert dd["train"].features["label"].names == names
    # AG News's title column fills the project's title (a provenance column, after the core ones).
    assert dd["train"].column_names == ["id", "text", "source", "label", "label_score", "label_source", "title",
                                        "dup_cluster", "dup_count", "label_id", "description"]
    total = sum(ds.num_rows for ds in dd.values())
    dedup = next(s for s in result.quality["stages"] if s["name"] == "dedup")
    assert total == 7600 - sum(dedup["dropped"].values())
    overall = collections.Counter(x for ds in dd.values() for x in ds["label"])
    for ds in dd.values():
        counts = collections.Counter(ds["label"])
        for label in range(4):
            assert abs(counts[label] / ds.num_rows - overall[label] / total) < 0.01


def test_sms_spam_cleaning_counts(shared_data: Path, tmp_path: Path) -> None:
    path = _recipe(tmp_path, {
        "name": "sms",
        "sources": [{"type": "csv", "path": str(shared_data / "text" / "sms_spam.csv")}],
        "label": {"column": "label", "labels": ["ham", "spam"]},
    })
    result = hf_ftbuilder.build(path, output_dir=tmp_path / "out")
    dedup = next(s for s in result.quality["stages"] if s["name"] == "dedup")
    # 403 byte-identical copies; the normalised hash also catches copies that differ in case or
    # spacing (415), and, with phone numbers redacted, copies that differ only in the number (429).
    assert dedup["dropped"]["exact_duplicate"] == 429
    assert dedup["details"]["near"]["removed"] == dedup["dropped"]["near_duplicate"] == 84
    texts = [t for ds in result.dataset.values() for t in ds["text"]]
    assert not any("&lt;" in t or "&amp;" in t for t in texts)
    clean = next(s for s in result.quality["stages"] if s["name"] == "clean")["details"]
    assert clean["touched"] == {"fix_unicode": 35, "html": 309, "whitespace": 425}
    assert clean["pii"]["matches"]["phone"] == 412
    assert sum(result.quality["labels"]["counts"].values()) == 5574 - 429 - 84


def test_sms_spam_without_redaction_matches_an_independent_count(shared_data: Path, tmp_path: Path) -> None:
    path = _recipe(tmp_path, {
        "name": "sms",
        "sources": [{"type": "csv", "path": str(shared_data / "text" / "sms_spam.csv")}],
        "clean": {"pii": {"action": "keep"}},
        "dedup": {"near": {"enabled": False}},
        "label": {"column": "label", "labels": ["ham", "spam"]},
    })
    result = hf_ftbuilder.build(path, output_dir=tmp_path / "out")
    # Checked independently with csv + ftfy + html.unescape + NFKC/casefold/whitespace keys: 416
    # duplicates (415 without ftfy, which makes one more pair identical).
    assert result.quality["labels"]["counts"] == {"ham": 4517, "spam": 641}


def test_ag_news_dump_artefacts_are_gone(shared_data: Path, tmp_path: Path) -> None:
    import re

    path = _recipe(tmp_path, {
        "name": "ag",
        "sources": [{"type": "csv", "path": str(shared_data / "text" / "ag_news_test.csv")}],
    })
    result = hf_ftbuilder.build(path, output_dir=tmp_path / "out", until="clean")
    artefact = re.compile(r"(?:^| )(?:#\d+|quot|amp|lt|gt);")
    raw = [line for line in (shared_data / "text" / "ag_news_test.csv").read_text().splitlines()]
    assert sum(bool(artefact.search(line)) for line in raw) > 2000  # 2,210 lines have them
    texts = result.dataset["train"]["text"]
    assert not any(artefact.search(t) for t in texts)
    assert sum("$" in t for t in texts) >= 70  # " #36;" became "$"
    clean = result.stages[2].details
    assert clean["touched"]["html"] == 2428  # rows the html rule changed (entities and " #39;"-style artefacts)


def test_embedding_labels_ag_news_without_gold(shared_data: Path) -> None:
    from benchmarks.label_quality import measure

    figures = measure(shared_data)
    assert figures["rows"]["n"] == 7600
    ours = figures["hf_ftbuilder (descriptions + refine)"]
    # Measured here: names 0.64, descriptions 0.79, refined 0.857 accuracy.
    assert ours["accuracy"] >= 0.85 and ours["macro_f1"] >= 0.85
    assert ours["accuracy"] > figures["similarity to descriptions"]["accuracy"] + 0.03


def test_asked_labels_lift_imbalanced_sms_spam(shared_data: Path) -> None:
    from benchmarks.ask_oracle import SMS_SPAM, learning_curve

    # 2,000 distinct messages, 13% spam, labelled from the names "ham" and "spam"; an oracle answers
    # two rounds of 20 asked rows. Measured here: 0.7815, then 0.9490 and 0.9638.
    figures = learning_curve(SMS_SPAM, data=shared_data / "text", draws=0)
    assert figures["budgets"] == [0, 20, 40]
    assert figures["built"][0] < 0.85 and figures["built"][2] >= 0.93  # the aim for 40 labels


def test_label_noise_on_flipped_ag_news(shared_data: Path) -> None:
    from benchmarks.label_noise import measure

    figures = measure(shared_data, seed=42, cleanlab=False)  # no peer: needs no benchmark venv
    assert (figures["rows"], figures["flipped"]) == (7600, 760)
    assert "cleanlab" not in figures
    ours = figures["hf_ftbuilder"]
    # Measured here (seed 42, words and characters averaged): 961 flagged, precision 0.667, recall
    # 0.843, F1 0.745, noise 0.142 (words alone, before the counts were hashed in numpy: 943,
    # 0.667, 0.828, 0.739). cleanlab 2.9's find_label_issues on the reference probabilities
    # (C=10), run by the benchmark in its own venv: 1,078 flagged, 0.603, 0.855, F1 0.707. Scores
    # may drift with scikit-learn / numpy; the F1 must stay 2 points above cleanlab's.
    assert ours["precision"] >= 0.64 and ours["recall"] >= 0.80
    assert ours["f1"] >= 0.730
    # The estimate is the planted 0.10 plus what AG News disputes by itself (0.049 on the unflipped
    # file): measured 0.143. Below 0.10 would miss planted noise; above 0.17, over-count it.
    assert 0.10 <= ours["noise_rate"] <= 0.17
