from __future__ import annotations

from hf_ftbuilder.dedup import exact
from hf_ftbuilder.text_norm import normalize_for_hash, text_hash


def test_normalised_text_ignores_case_width_and_spacing() -> None:
    assert normalize_for_hash("  Hello\n\tWORLD ") == "hello world"
    assert text_hash("Ｈｅｌｌｏ world") == text_hash("hello   world")
    assert len(text_hash("x")) == 32


def test_planted_duplicates_keep_first_and_say_of_what(make_dataset) -> None:
    texts = ["Win a prize now", "hello there", "win a PRIZE   now", "unique", "Hello there", "win a prize now"]
    ds, stats = exact(make_dataset(texts, gold=list("abcdef")))
    assert ds["id"] == ["r0", "r1", "r3"]
    assert ds["gold"] == ["a", "b", "d"]
    assert ds["dup_cluster"] == ["r0", "r1", None]
    assert ds["dup_count"] == [3, 2, 1]
    assert "dup_of" not in ds.column_names
    assert stats.dropped == {"exact_duplicate": 3}
    dropped = stats.dropped_rows
    assert dropped["id"] == ["r2", "r4", "r5"]
    assert dropped["dup_of"] == ["r0", "r1", "r0"]
    assert dropped["similarity"] == [1.0, 1.0, 1.0]
    assert dropped["drop_reason"] == ["exact_duplicate"] * 3
    assert stats.details == {"exact": {"removed": 3, "groups": 2}}


def test_keep_longest(make_dataset) -> None:
    ds, stats = exact(make_dataset(["a  b", "A B", "x"]), keep="longest")
    assert ds["id"] == ["r0", "r2"]
    ds, stats = exact(make_dataset(["A B", "a   b", "x"]), keep="longest")
    assert ds["id"] == ["r1", "r2"]
    assert stats.dropped_rows["dup_of"] == ["r1"]
