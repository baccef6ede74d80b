from __future__ import annotations

import pytest
from datasets import ClassLabel

from hf_ftbuilder.errors import StageError
from hf_ftbuilder.label import from_column


def test_names_in_recipe_order_and_unknown_dropped(make_dataset) -> None:
    ds, stats = from_column(make_dataset(["a", "b", "c", "d", "e"], label=["spam", "ham", "eggs", None, " spam "]),
                            labels=["spam", "ham"])
    assert ds.features["label"] == ClassLabel(names=["spam", "ham"])
    assert ds["id"] == ["r0", "r1", "r4"]
    assert ds["label"] == [0, 1, 0]
    assert ds["label_source"] == ["column:label"] * 3
    assert ds["label_score"] == [None] * 3
    assert stats.dropped == {"missing_label": 1, "unknown_label": 1}


def test_names_default_to_sorted_values(make_dataset) -> None:
    ds, _ = from_column(make_dataset(["a", "b", "c"], topic=["sports", "world", "business"]), column="topic")
    assert ds.features["label"].names == ["business", "sports", "world"]
    assert "topic" not in ds.column_names
    assert ds["label_source"] == ["column:topic"] * 3


def test_integer_labels_sort_numerically(make_dataset) -> None:
    ds, _ = from_column(make_dataset(["a", "b", "c", "d"], label=[10, 2, 1, 2]))
    assert ds.features["label"].names == ["1", "2", "10"]
    assert ds["label"] == [2, 1, 0, 1]


def test_missing_label_column(make_dataset) -> None:
    with pytest.raises(StageError, match=r"label\.column: no column 'topic' in the collected rows \(columns: id, text\)"):
        from_column(make_dataset(["a"]), column="topic")
