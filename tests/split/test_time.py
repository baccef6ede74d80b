"""split.method: time: fractions and cutoffs in time order, embargo, undated rows, dates that do not parse."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from datasets import Dataset

from hf_ftbuilder.config import TimeSplit
from hf_ftbuilder.context import StageContext
from hf_ftbuilder.errors import StageError
from hf_ftbuilder.split import split

from .conftest import labelled, random_texts


def _dated(n: int = 200) -> Dataset:
    rng = random.Random(3)
    start = date(2024, 1, 1)
    dates = [(start + timedelta(days=rng.randrange(365))).isoformat() for _ in range(n)]
    return labelled(random_texts(n, 1), [i % 3 for i in range(n)], date=dates)


def _dates(ds: Dataset) -> list[date]:
    return [date.fromisoformat(d) for d in ds["date"]]


def test_time_split_by_fractions_keeps_the_future_out_of_train() -> None:
    ds = _dated()
    dd, stats = split(ds, TimeSplit(), context=StageContext(seed=1))
    assert {k: v.num_rows for k, v in dd.items()} == {"train": 160, "validation": 20, "test": 20}
    newest_train = max(_dates(dd["train"]))
    assert min(_dates(dd["validation"])) >= newest_train
    assert min(_dates(dd["test"])) >= max(_dates(dd["validation"]))
    ranges = stats.details["time"]["ranges"]
    assert ranges["train"][1][:10] == newest_train.isoformat()


def test_time_split_by_cutoffs_with_embargo() -> None:
    ds = _dated()
    cfg = TimeSplit(cutoffs={"validation": "2024-09-01", "test": "2024-11-01"}, embargo="7d")
    dd, stats = split(ds, cfg, context=StageContext(seed=1))
    all_dates = _dates(ds)
    assert max(_dates(dd["train"])) < date(2024, 9, 1)
    assert min(_dates(dd["validation"])) >= date(2024, 9, 8)
    assert max(_dates(dd["validation"])) < date(2024, 11, 1)
    assert min(_dates(dd["test"])) >= date(2024, 11, 8)
    in_gap = sum(date(2024, 9, 1) <= d < date(2024, 9, 8) or date(2024, 11, 1) <= d < date(2024, 11, 8) for d in all_dates)
    assert in_gap > 0 and stats.dropped == {"embargo": in_gap}
    assert set(stats.dropped_rows["drop_reason"]) == {"embargo"}
    assert sum(d.num_rows for d in dd.values()) + in_gap == 200


def test_time_split_fractions_with_embargo_hold_within_a_point() -> None:
    dd, _ = split(_dated(1000), TimeSplit(fractions={"train": 0.7, "validation": 0.15, "test": 0.15}), context=StageContext(seed=1))
    total = sum(d.num_rows for d in dd.values())
    assert abs(dd["train"].num_rows / total - 0.7) <= 0.01
    assert abs(dd["test"].num_rows / total - 0.15) <= 0.01


@pytest.mark.parametrize(("undated", "expected"), [("train", None), ("drop", {"undated": 1})])
def test_undated_rows_go_where_the_recipe_says(undated, expected) -> None:
    ds = _dated()
    dates = list(ds["date"])
    dates[5] = None
    ds = ds.remove_columns("date").add_column("date", dates)
    dd, stats = split(ds, TimeSplit(undated=undated), context=StageContext(seed=1))
    if undated == "train":
        assert "r5" in dd["train"]["id"] and dd["train"].num_rows == 159 + 1  # 80% of 199 dated rows, and r5
    else:
        assert stats.dropped == expected


def test_undated_rows_are_an_error_by_default() -> None:
    ds = _dated()
    dates = list(ds["date"])
    dates[7] = ""
    ds = ds.remove_columns("date").add_column("date", dates)
    with pytest.raises(StageError, match=r"^split: 1 rows have no date in 'date' \(e\.g\. row r7\); set split\.undated"):
        split(ds, TimeSplit(), context=StageContext(seed=1))


def test_a_value_that_is_not_a_date_names_the_row() -> None:
    ds = _dated(10)
    dates = list(ds["date"])
    dates[2] = "last tuesday"
    ds = ds.remove_columns("date").add_column("date", dates)
    with pytest.raises(StageError, match=r"^split\.time_column: row r2: 'last tuesday' is not a date"):
        split(ds, TimeSplit(), context=StageContext(seed=1))


