from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hf_ftbuilder.collect import collect, row_id
from hf_ftbuilder.config import Collect, parse_config
from hf_ftbuilder.context import StageContext
from hf_ftbuilder.errors import ConfigError, SourceError, StageError

from ..conftest import DATA


def _sources(*sources: dict):
    return parse_config({"name": "t", "sources": list(sources)}).sources


def _collect(tmp_path: Path, *sources: dict, label_column: str | None = "label"):
    return collect(_sources(*sources), context=StageContext(base_dir=tmp_path), label_column=label_column)


def test_jsonl_rows_ids_and_passthrough(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(
        '{"text": "first", "label": "x", "author": "ann"}\n\n{"text": "second", "label": "y", "extra": 3}\n',
        encoding="utf-8",
    )
    ds, stats = _collect(tmp_path, {"type": "jsonl", "path": "a.jsonl"})
    assert ds.column_names == ["id", "text", "source", "label", "author", "extra"]
    assert ds["text"] == ["first", "second"]
    assert ds["author"] == ["ann", None]
    assert ds["extra"] == [None, 3]
    assert ds["source"] == ["jsonl:a.jsonl", "jsonl:a.jsonl"]
    assert ds["id"] == [row_id("0:a.jsonl:0"), row_id("0:a.jsonl:1")]
    assert ds["id"][0] == hashlib.sha256(b"0:a.jsonl:0").hexdigest()[:16]
    assert stats.rows_in == stats.rows_out == 2
    digest = hashlib.sha256((tmp_path / "a.jsonl").read_bytes()).hexdigest()
    assert stats.details["inputs"] == {"a.jsonl": digest}


def test_malformed_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"text": "ok"}\n{"text": "broken"\n', encoding="utf-8")
    with pytest.raises(SourceError, match=r"a\.jsonl:2: not valid JSON \(Expecting ',' delimiter"):
        _collect(tmp_path, {"type": "jsonl", "path": "a.jsonl"})


def test_jsonl_line_that_is_not_an_object(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"text": "ok"}\n["a", "list"]\n', encoding="utf-8")
    with pytest.raises(SourceError, match=r"a\.jsonl:2: expected a JSON object, found list"):
        _collect(tmp_path, {"type": "jsonl", "path": "a.jsonl"})


def test_csv_reads_strings_and_renames_reserved_columns(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(
        'id,body,label,title,label_score,dup_cluster\n7,"hello, world",spam,T1,0.5,c\n8,bye,ham,T2,0.7,d\n',
        encoding="utf-8",
    )
    ds, _ = _collect(tmp_path, {"type": "csv", "path": "a.csv", "text_column": "body"})
    # The project fills id, label_score and dup_cluster itself: the file's are kept aside. A file's
    # title is the row's title.
    assert ds.column_names == ["id", "text", "source", "source_id", "label", "title", "source_label_score",
                               "source_dup_cluster"]
    assert ds["text"] == ["hello, world", "bye"]
    assert ds["source_id"] == ["7", "8"]
    assert ds["label"] == ["spam", "ham"]
    assert ds["title"] == ["T1", "T2"]


def test_file_metadata_columns_fill_the_projects_columns(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(
        '{"text": "a", "date": "2024-01-02", "url": "https://x.org/a", "author": "Ann", "language": "en"}\n',
        encoding="utf-8",
    )
    ds, _ = _collect(tmp_path, {"type": "jsonl", "path": "a.jsonl"})
    assert ds.column_names == ["id", "text", "source", "date", "url", "author", "language"]
    assert ds[0] == {"id": row_id("0:a.jsonl:0"), "text": "a", "source": "jsonl:a.jsonl", "date": "2024-01-02",
                     "url": "https://x.org/a", "author": "Ann", "language": "en"}


def test_column_keys_map_other_names_and_win_over_the_files_own(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("body,published,date,lang,headline\nhi,2024-03-04,yesterday,de,H\n",
                                    encoding="utf-8")
    ds, _ = _collect(tmp_path, {"type": "csv", "path": "a.csv", "text_column": "body", "date_column": "published",
                                "language_column": "lang", "title_column": "headline"})
    assert ds.column_names == ["id", "text", "source", "date", "source_date", "language", "title"]
    assert (ds["date"], ds["source_date"], ds["language"], ds["title"]) == (["2024-03-04"], ["yesterday"], ["de"], ["H"])


def test_a_mapped_column_that_is_missing_is_named(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("text,when\nhi,2024\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"a\.csv: no column 'published' for date \(date_column; columns: text, when\)"):
        _collect(tmp_path, {"type": "csv", "path": "a.csv", "date_column": "published"})


def test_one_column_cannot_fill_two_names() -> None:
    with pytest.raises(ConfigError, match=r"sources\[0\]: .*got \['body'\] twice"):
        _sources({"type": "csv", "path": "a.csv", "text_column": "body", "title_column": "body"})


def test_label_column_other_than_label_renames_an_input_label(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("text,label,topic\nhi,old,new\n", encoding="utf-8")
    ds, _ = _collect(tmp_path, {"type": "csv", "path": "a.csv"}, label_column="topic")
    assert ds.column_names == ["id", "text", "source", "source_label", "topic"]


def test_csv_row_with_wrong_field_count_names_line(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("text,label\nok,a\nbad,a,extra\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"a\.csv:3: expected 2 fields as in the header, found 3"):
        _collect(tmp_path, {"type": "csv", "path": "a.csv"})


def test_csv_bad_quoting_names_line(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text('text,label\nok,a\n"bro"ken,a\n', encoding="utf-8")
    with pytest.raises(SourceError, match=r"a\.csv:3: not valid CSV"):
        _collect(tmp_path, {"type": "csv", "path": "a.csv"})


def test_csv_bad_encoding_names_line(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(b"text,label\nok,a\ncaf\xe9,a\n")
    with pytest.raises(SourceError, match=r"a\.csv:3: not valid utf-8"):
        _collect(tmp_path, {"type": "csv", "path": "a.csv"})


def test_missing_text_column_is_named(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("body,label\nhi,a\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"a\.csv: no text column 'text' \(columns: body, label\)"):
        _collect(tmp_path, {"type": "csv", "path": "a.csv"})


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"nope\.csv: file not found"):
        _collect(tmp_path, {"type": "csv", "path": "nope.csv"})


def test_glob_that_matches_nothing(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"raw/\*\.jsonl: no file matches this pattern"):
        _collect(tmp_path, {"type": "jsonl", "path": "raw/*.jsonl"})


def test_empty_corpus_is_a_stage_error(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("text,label\n", encoding="utf-8")
    with pytest.raises(StageError, match=r"collect: the sources gave no rows \(empty corpus: csv:a\.csv\)"):
        _collect(tmp_path, {"type": "csv", "path": "a.csv"})


def test_parquet_with_class_label_is_decoded_to_names(tmp_path: Path) -> None:
    feats = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})
    datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [1, 0, 1]}, features=feats).to_parquet(
        str(tmp_path / "d.parquet")
    )
    ds, _ = _collect(tmp_path, {"type": "parquet", "path": "d.parquet"})
    assert ds["label"] == ["pos", "neg", "pos"]
    assert ds["source"] == ["parquet:d.parquet"] * 3


def test_glob_reads_files_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    for name, text in (("b.jsonl", "B"), ("a.jsonl", "A")):
        (tmp_path / "raw" / name).write_text(json.dumps({"text": text}) + "\n", encoding="utf-8")
    ds, _ = _collect(tmp_path, {"type": "jsonl", "path": "raw/*.jsonl"})
    assert ds["text"] == ["A", "B"]
    assert ds["source"] == ["jsonl:raw/a.jsonl", "jsonl:raw/b.jsonl"]


def test_text_dir_one_file_a_row(tmp_path: Path) -> None:
    root = tmp_path / "texts"
    (root / "sub").mkdir(parents=True)
    (root / "b.txt").write_text("bravo", encoding="utf-8")
    (root / "sub" / "a.txt").write_text("alpha", encoding="utf-8")
    (root / "skip.md").write_text("not text", encoding="utf-8")
    ds, _ = _collect(tmp_path, {"type": "text_dir", "path": "texts"})
    assert ds["text"] == ["bravo", "alpha"]
    assert ds["file"] == ["b.txt", "sub/a.txt"]
    assert ds["source"] == ["text_dir:texts", "text_dir:texts"]
    assert ds["id"] == [row_id("0:texts/b.txt:0"), row_id("0:texts/sub/a.txt:0")]


def test_html_dir_reads_and_decodes_pages(tmp_path: Path) -> None:
    shutil.copytree(DATA / "html" / "pages", tmp_path / "pages")
    ds, stats = _collect(tmp_path, {"type": "html_dir", "path": "pages"})
    assert ds["file"] == ["001.html.gz", "daringfireball-1.html.gz", "heise.html.gz", "medium-2.html.gz"]
    assert all(t is None for t in ds["text"])
    assert all("<html" in h[:3000].lower() for h in ds["html"])
    assert "1Password für Mac" in ds["html"][2]  # decoded by its declared charset
    assert len(stats.details["inputs"]) == 4


def test_hf_source_from_save_to_disk(tmp_path: Path) -> None:
    feats = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["a", "b"])})
    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"text": ["t1", "t2"], "label": [0, 1]}, features=feats),
            "test": datasets.Dataset.from_dict({"text": ["t3"], "label": [1]}, features=feats),
        }
    )
    dd.save_to_disk(str(tmp_path / "saved"))
    ds, _ = _collect(tmp_path, {"type": "hf", "path": "saved", "split": "test"})
    assert ds["text"] == ["t3"] and ds["label"] == ["b"]
    assert ds["source"] == ["hf:saved"]
    with pytest.raises(SourceError, match=r"no split 'validation' \(splits: train, test\)"):
        _collect(tmp_path, {"type": "hf", "path": "saved", "split": "validation"})


def test_hf_source_from_parquet_folder(tmp_path: Path) -> None:
    (tmp_path / "folder" / "data").mkdir(parents=True)
    pq.write_table(pa.table({"text": ["x", "y"], "label": ["p", "q"]}), tmp_path / "folder" / "data" / "train-0.parquet")
    ds, _ = _collect(tmp_path, {"type": "hf", "path": "folder"})
    assert ds["text"] == ["x", "y"]
    assert ds["label"] == ["p", "q"]


def test_sources_concatenate_in_recipe_order(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("text,label\none,a\n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"text": "two", "label": "b", "score": 0.5}\n', encoding="utf-8")
    ds, stats = _collect(tmp_path, {"type": "csv", "path": "a.csv"}, {"type": "jsonl", "path": "b.jsonl"})
    assert ds["text"] == ["one", "two"]
    assert ds["score"] == [None, 0.5]
    assert ds["id"] == [row_id("0:a.csv:0"), row_id("1:b.jsonl:0")]
    assert [s["rows"] for s in stats.details["sources"]] == [1, 1]


def test_sources_with_clashing_column_types(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"text": "one", "n": {"k": 1}}\n', encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"text": "two", "n": "str"}\n', encoding="utf-8")
    with pytest.raises(SourceError, match=r"column 'n' is struct<k: int64> in sources\[0\] \(a\.jsonl\) but string"):
        _collect(tmp_path, {"type": "jsonl", "path": "a.jsonl"}, {"type": "jsonl", "path": "b.jsonl"})


def test_files_are_read_a_chunk_at_a_time_with_the_same_rows(tmp_path: Path, monkeypatch) -> None:
    from hf_ftbuilder import readers

    rows = [{"text": f"row {i}", "label": "a" if i % 2 else "b"} for i in range(10)]
    rows[7]["extra"] = 7  # a key first seen in the third chunk of three rows
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "b.csv").write_text("text,label\n" + "".join(f"csv {i},c\n" for i in range(7)), encoding="utf-8")
    pq.write_table(pa.table({"text": [f"pq {i}" for i in range(5)]}), tmp_path / "c.parquet")
    sources = _sources({"type": "jsonl", "path": "a.jsonl"}, {"type": "csv", "path": "b.csv"},
                       {"type": "parquet", "path": "c.parquet"})
    whole, whole_stats = collect(sources, context=StageContext(base_dir=tmp_path), label_column="label")
    monkeypatch.setattr(readers, "CHUNK_ROWS", 3)
    cache = tmp_path / "cache"
    chunked, stats = collect(sources, context=StageContext(base_dir=tmp_path, cache_dir=cache), label_column="label")
    assert chunked.to_list() == whole.to_list()
    assert chunked.features == whole.features
    assert chunked["extra"] == [None] * 7 + [7] + [None] * 14
    assert chunked["id"][11] == row_id("1:b.csv:1")  # row numbers run on across chunks
    assert stats.details == whole_stats.details  # rows per source and the files' sha256
    # The chunks were spilled beside the collected rows and are gone; the rows are one Arrow file.
    assert [p.name for p in (cache / "datasets").iterdir() if p.name.startswith(".")] == []
    assert chunked.cache_files and Path(chunked.cache_files[0]["filename"]).parent == cache / "datasets"


def test_rows_over_max_row_chars_are_dropped_unread_and_keep_their_neighbours_ids(tmp_path: Path) -> None:
    long_text = "word " * 300  # 1,500 characters
    rows = [{"text": "short one", "label": "a"}, {"text": long_text, "label": "b"}, {"text": "short two", "label": "a"}]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "a.csv").write_text("text,label\n" + "".join(f'"{r["text"]}",{r["label"]}\n' for r in rows),
                                    encoding="utf-8")
    (tmp_path / "notes").mkdir()
    for i, r in enumerate(rows):
        (tmp_path / "notes" / f"{i}.txt").write_text(r["text"], encoding="utf-8")
    pq.write_table(pa.table({"text": [r["text"] for r in rows]}), tmp_path / "a.parquet")
    sources = [{"type": "jsonl", "path": "a.jsonl"}, {"type": "csv", "path": "a.csv"},
               {"type": "text_dir", "path": "notes"}, {"type": "parquet", "path": "a.parquet"}]
    ds, stats = collect(_sources(*sources), Collect(max_row_chars=1_000), context=StageContext(base_dir=tmp_path),
                        label_column="label")
    assert ds["text"] == ["short one", "short two"] * 4
    assert stats.dropped == {"too_long_row": 4}
    dropped = stats.dropped_rows
    assert dropped["text"] == [None] * 4  # the long text is not kept for dropped/
    assert dropped["id"] == [row_id("0:a.jsonl:1"), row_id("1:a.csv:1"), row_id("2:notes/1.txt:0"),
                             row_id("3:a.parquet:1")]
    assert ds["id"][:2] == [row_id("0:a.jsonl:0"), row_id("0:a.jsonl:2")]


def test_csv_fields_longer_than_pythons_default_limit_are_read(tmp_path: Path) -> None:
    long_text = "x" * 200_000  # csv refuses fields over 131,072 characters by default
    (tmp_path / "a.csv").write_text(f"text\nshort\n{long_text}\n", encoding="utf-8")
    ds, stats = collect(_sources({"type": "csv", "path": "a.csv"}), Collect(max_row_chars=500_000),
                        context=StageContext(base_dir=tmp_path))
    assert [len(t) for t in ds["text"]] == [5, 200_000] and not stats.dropped
    ds, stats = collect(_sources({"type": "csv", "path": "a.csv"}), Collect(max_row_chars=100_000),
                        context=StageContext(base_dir=tmp_path))
    assert ds["text"] == ["short"] and stats.dropped == {"too_long_row": 1}
