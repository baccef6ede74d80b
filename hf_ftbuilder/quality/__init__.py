"""Report: the figures of the built dataset that go into ``quality.json`` and the card."""

from __future__ import annotations

from collections import Counter
from typing import Any

from datasets import ClassLabel, DatasetDict

from .. import schema
from ..config import Report
from ..stats import StageStats

__all__ = ["report", "split_counts"]


def split_counts(dd: DatasetDict) -> dict[str, dict[str, Any]]:
    """Rows per split and, when ``label`` is a ClassLabel, rows per label name (every name listed)."""
    out: dict[str, dict[str, Any]] = {}
    for name, ds in dd.items():
        entry: dict[str, Any] = {"num_rows": ds.num_rows}
        feature = ds.features.get(schema.LABEL)
        if isinstance(feature, ClassLabel):
            counts = Counter(ds[schema.LABEL])
            entry["label_counts"] = {label: counts.get(i, 0) for i, label in enumerate(feature.names)}
        out[name] = entry
    return out


def report(dd: DatasetDict, cfg: Report) -> tuple[dict[str, Any], StageStats]:
    """Compute the report sections for the built splits.

    Returns:
        The sections (``splits``, and ``labels`` when there is a ClassLabel) and the stage stats.
    """
    splits = split_counts(dd)
    sections: dict[str, Any] = {"splits": splits}
    first = next(iter(dd.values()))
    feature = first.features.get(schema.LABEL)
    if isinstance(feature, ClassLabel):
        total = Counter()
        for entry in splits.values():
            total.update(entry["label_counts"])
        n = sum(total.values())
        sections["labels"] = {
            "names": list(feature.names),
            "counts": {k: total.get(k, 0) for k in feature.names},
            "shares": {k: round(total.get(k, 0) / n, 6) if n else 0.0 for k in feature.names},
        }
    rows = sum(e["num_rows"] for e in splits.values())
    return sections, StageStats(name="report", rows_in=rows, rows_out=rows)
