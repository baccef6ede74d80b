"""Label: give every row a ``label`` (a ClassLabel), ``label_score`` and ``label_source``.

``method: column`` takes the label from an existing column. The ClassLabel names are
``label.labels`` in that order, or the column's distinct values sorted (numerically when they
are all integers). Rows with no label are dropped with reason ``missing_label``; rows whose
label is not among the names with ``unknown_label``.
"""

from __future__ import annotations

from typing import Any

from datasets import ClassLabel, Dataset, Value

from .. import schema
from ..config import Label
from ..errors import StageError
from ..stats import StageStats, split_dropped

__all__ = ["from_column", "label", "label_column_batch"]


def _as_name(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _sorted_names(values: set[str]) -> list[str]:
    try:
        return sorted(values, key=int)
    except ValueError:
        return sorted(values)


def label_column_batch(batch: dict[str, list], *, column: str, names: list[str], source: str) -> dict[str, list]:
    """Map the raw labels of ``column`` to ClassLabel indices, with a drop reason where none fits."""
    index = {name: i for i, name in enumerate(names)}
    labels, reasons = [], []
    for value in batch[column]:
        name = _as_name(value)
        if name is None:
            labels.append(None)
            reasons.append("missing_label")
        elif name not in index:
            labels.append(None)
            reasons.append("unknown_label")
        else:
            labels.append(index[name])
            reasons.append(None)
    n = len(labels)
    return {
        schema.LABEL: labels,
        schema.LABEL_SCORE: [None] * n,
        schema.LABEL_SOURCE: [source] * n,
        schema.DROP_REASON: reasons,
    }


def label(ds: Dataset, cfg: Label) -> tuple[Dataset, StageStats]:
    """Label the rows as the recipe's ``label`` section says.

    Raises:
        StageError: the label column is missing, or it holds no label at all.
    """
    column = cfg.column
    if column not in ds.column_names:
        raise StageError(
            f"label.column: no column {column!r} in the collected rows (columns: {', '.join(ds.column_names)})"
        )
    names = list(cfg.labels) if cfg.labels else _sorted_names({n for v in ds[column] if (n := _as_name(v)) is not None})
    if not names:
        raise StageError(f"label: column {column!r} holds no labels")
    features = ds.features.copy()
    if column != schema.LABEL:
        del features[column]
    features[schema.LABEL] = Value("int64")
    features[schema.LABEL_SCORE] = Value("float32")
    features[schema.LABEL_SOURCE] = Value("string")
    features[schema.DROP_REASON] = Value("string")
    out = ds.map(
        label_column_batch,
        batched=True,
        fn_kwargs={"column": column, "names": names, "source": f"column:{column}"},
        remove_columns=[column] if column != schema.LABEL else None,
        features=features,
        desc="label",
    )
    kept, stats = split_dropped(out, "label")
    kept = kept.cast_column(schema.LABEL, ClassLabel(names=names))
    stats.details = {"method": cfg.method, "column": column, "names": names}
    return kept, stats


def from_column(ds: Dataset, column: str = "label", labels: list[str] | None = None) -> tuple[Dataset, StageStats]:
    """Turn an existing column into a ClassLabel ``label``, e.g. ``from_column(ds, "category")``."""
    return label(ds, Label(method="column", column=column, labels=labels))
