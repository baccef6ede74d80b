"""What every stage reports: rows in, rows out, and rows dropped per reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from datasets import Dataset, Value

from . import schema
from .arrow_cache import add_columns

__all__ = ["StageStats", "score_histogram", "split_dropped"]


@dataclass
class StageStats:
    """Counts of one stage.

    Attributes:
        name: stage name (``collect``, ``clean``, ...).
        rows_in: rows the stage received.
        rows_out: rows it passed on.
        dropped: rows removed per reason, in order of first appearance of the reason.
        details: stage-specific figures that go into ``quality.json`` (JSON-serialisable).
        dropped_rows: the removed rows with their ``drop_reason``, to be written to ``dropped/``.
        review_rows: rows that wait for a person, by reason, to be written to ``review/<reason>.parquet``.
        review_files: text files for a person (``review/<name>``), such as clusters to name.
        seconds: the wall time of the stage's parts (the report's figures), for ``quality.json``'s
            ``run`` section: times differ from run to run, so they stay out of ``details``.
    """

    name: str
    rows_in: int
    rows_out: int
    dropped: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    dropped_rows: Dataset | None = field(default=None, repr=False, compare=False)
    review_rows: dict[str, Dataset] = field(default_factory=dict, repr=False, compare=False)
    review_files: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    seconds: dict[str, float] = field(default_factory=dict, repr=False, compare=False)

    def summary(self) -> str:
        """One line such as ``clean: kept 9812/10000 (empty=150, too_short=38)``."""
        line = f"{self.name}: kept {self.rows_out}/{self.rows_in}"
        if self.dropped:
            line += " (" + ", ".join(f"{k}={v}" for k, v in self.dropped.items()) + ")"
        return line

    def drop(self, ds: Dataset, rows_by_reason: dict[str, list[int]]) -> None:
        """Record rows of ``ds`` that the stage removed (positions per reason): counted per reason,
        most first, and kept in input order with their ``drop_reason`` for ``dropped/``.

        For stages that decide by position (split, balance) rather than by a ``drop_reason``
        column (:func:`split_dropped`).
        """
        reason_of = {i: why for why, rows in rows_by_reason.items() for i in rows}
        if not reason_of:
            return
        removed = sorted(reason_of)
        self.dropped = {why: len(rows) for why, rows in sorted(rows_by_reason.items(), key=lambda kv: (-len(kv[1]), kv[0]))
                        if rows}
        self.dropped_rows = add_columns(ds.select(removed), [(schema.DROP_REASON, [reason_of[i] for i in removed],
                                                             Value("string"))])

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used in ``quality.json``'s ``stages`` list."""
        out: dict[str, Any] = {
            "name": self.name,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "dropped": dict(self.dropped),
        }
        if self.details:
            out["details"] = self.details
        return out


def split_dropped(ds: Dataset, name: str) -> tuple[Dataset, StageStats]:
    """Remove the rows whose ``drop_reason`` is set and count them per reason.

    Args:
        ds: a dataset with a ``drop_reason`` column (None keeps the row).
        name: the stage name for the stats.

    Returns:
        The kept rows without the ``drop_reason`` column, and the stage's stats whose
        ``dropped_rows`` holds the removed rows with their reason.
    """
    reasons = ds.with_format("arrow")[schema.DROP_REASON].to_pylist()  # not row by row through the formatter
    keep = [i for i, r in enumerate(reasons) if r is None]
    counts = Counter(r for r in reasons if r is not None)
    dropped_rows = None
    if counts:
        dropped_rows = ds.select([i for i, r in enumerate(reasons) if r is not None])
    kept = ds.select(keep) if len(keep) != len(reasons) else ds
    kept = kept.remove_columns(schema.DROP_REASON)
    stats = StageStats(
        name=name,
        rows_in=len(reasons),
        rows_out=len(keep),
        dropped=dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        dropped_rows=dropped_rows,
    )
    return kept, stats


#: Bins of the score and similarity histograms in quality.json and the card (0..1, finer near 1).
HISTOGRAM_EDGES = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


def score_histogram(values: list[float]) -> dict[str, int]:
    """Counts of 0..1 values per bin (``"0.80-0.90": 12``), empty bins left out."""
    if not values:
        return {}
    counts = np.histogram(np.clip(values, 0, 1), bins=HISTOGRAM_EDGES)[0].tolist()
    return {f"{lo:.2f}-{hi:.2f}": c for lo, hi, c in zip(HISTOGRAM_EDGES, HISTOGRAM_EDGES[1:], counts) if c}
