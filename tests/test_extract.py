from __future__ import annotations

import gzip
import re

import datasets
from datasets.fingerprint import Hasher

from hf_ftbuilder.collect.urls import decode_html
from hf_ftbuilder.config import Extract
from hf_ftbuilder.extract import extract, extract_batch, html_lang

from .conftest import DATA

PAGES = DATA / "html" / "pages"
CASES = ["001", "daringfireball-1", "heise", "medium-2"]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _pages_dataset(extra_text_row: bool = False) -> datasets.Dataset:
    html = [decode_html(gzip.decompress((PAGES / f"{c}.html.gz").read_bytes())) for c in CASES]
    text: list[str | None] = [None] * len(CASES)
    if extra_text_row:
        html.append(None)
        text.append("a text row from a csv")
    html.append("<html><body><script>var x = 1;</script></body></html>")
    text.append(None)
    n = len(html)
    return datasets.Dataset.from_dict(
        {"id": [f"r{i}" for i in range(n)], "text": text, "source": ["t"] * n, "html": html},
        features=datasets.Features(
            {"id": datasets.Value("string"), "text": datasets.Value("string"),
             "source": datasets.Value("string"), "html": datasets.Value("string")}
        ),
    )


def test_html_lang_takes_the_primary_subtag() -> None:
    assert html_lang('<!doctype html><html class="x" lang="en-US">') == "en"
    assert html_lang("<html lang=de><head>") == "de"
    assert html_lang("<html><head>") is None


def test_extract_pages_text_metadata_and_drops() -> None:
    ds, stats = extract(_pages_dataset(extra_text_row=True), Extract())
    assert stats.rows_in == 6 and stats.rows_out == 5
    assert stats.dropped == {"no_main_text": 1}
    assert "html" not in ds.column_names
    rows = {r["id"]: r for r in ds}
    assert rows["r4"]["text"] == "a text row from a csv" and rows["r4"]["title"] is None
    assert [rows[f"r{i}"]["language"] for i in range(4)] == ["en", "en", "de", "en"]  # medium-2 detected
    assert rows["r2"]["title"] == "1Password für Mac generiert Einmal-Passwörter"
    assert rows["r2"]["date"] == "2015-04-08"
    assert rows["r3"]["url"].startswith("https://medium.com/@ckirchoff/on-behalf-of-literally")
    # Main text, not navigation: most of the article's words are found, and few others.
    for i, case in enumerate(CASES):
        got, want = _words(rows[f"r{i}"]["text"]), set(_words((DATA / "html" / "expected" / f"{case}.txt").read_text()))
        recall = len(want & set(got)) / len(want)
        precision = sum(w in want for w in got) / len(got)
        assert recall > 0.8 and precision > 0.8, (case, recall, precision)


def test_markdown_format_keeps_structure() -> None:
    ds, _ = extract(_pages_dataset(), Extract(format="markdown"))
    assert "#" in ds[0]["text"] or "**" in ds[0]["text"] or "- " in ds[0]["text"]


def test_extract_batch_fingerprint_is_stable() -> None:
    a = Hasher.hash((extract_batch, Extract()))
    b = Hasher.hash((extract_batch, Extract(include_comments=False)))
    assert a == b


def test_page_time_limit_drops_slow_pages() -> None:
    # 30,000 paragraphs take trafilatura seconds; the 0.2 s limit stops it, the other rows go on.
    huge = "<html><body>" + "".join(f"<div><p>Paragraph {i} of a very long page.</p></div>" for i in range(30_000))
    small = "<html><body><article><p>" + "A short page with enough words to count as main text. " * 8
    ds = datasets.Dataset.from_dict(
        {"id": ["huge", "small", "row"], "text": [None, None, "a text row"], "source": ["t"] * 3,
         "html": [huge + "</body></html>", small + "</p></article></body></html>", None]}
    )
    out, stats = extract(ds, Extract(timeout=0.2))
    assert stats.dropped == {"extract_timeout": 1}
    assert stats.dropped_rows["id"] == ["huge"]
    assert out["id"] == ["small", "row"]
