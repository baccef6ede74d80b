"""Several labels per row (``label.labels_per_row: many``): a ``labels`` column of
``List(ClassLabel)`` instead of ``label``.

- ``column``: a list column (JSONL, parquet, a Hub dataset) or, with ``label_delimiter``, a string
  holding several labels (CSV: ``"sports;politics"``). A label that is not among the names is left
  out of its row (one warning with the count and up to three values); a row left with no label is
  dropped as ``missing_label``.
- ``zero_shot``: the pipeline scores every label on its own (entailment against contradiction);
  a row gets each label whose probability reaches ``threshold``, at most ``top_k`` of them (the
  most probable).
- ``embedding``: each label's similarities are cut in two where they part best, and with
  ``refine`` each label's own classifier relabels the rows (:func:`.embedding.predict_many`); a row
  gets the labels whose probability reaches 0.5.
- ``manual``: people's label sets (:func:`.manual.read_annotations` with ``many``), with a model's
  sets for the rows nobody answered yet when ``suggest`` names one.

People's answers (``annotations``, with every method but ``column``) replace the model's set of
the rows they cover. A row that a model gives no label goes to ``review/no_label.parquet`` for a
person; with ``min_score``, a row any of whose labels scores below it goes to
``review/low_confidence.parquet``.

A row's labels are in the order of the names, each once; ``label_score`` is a list beside them
(one probability per label given; null for labels read from a column).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from datasets import ClassLabel, Dataset, List, Value

from .. import schema
from ..arrow_cache import add_columns
from ..config import ColumnLabel, EmbeddingModel, ZeroShotModel
from ..context import StageContext
from ..engine import Engine
from ..errors import StageError
from . import embedding, manual, zero_shot

__all__ = ["feature", "free_name", "from_column", "given", "parse", "propose", "sets_batch", "with_people"]

RENAMED = schema.RENAMED_PREFIX + schema.LABELS


def feature(names: list[str]) -> List:
    """The ``labels`` column's type: a list of ClassLabel indices (``Sequence(ClassLabel)``)."""
    return List(ClassLabel(names=names))


def parse(value: Any, delimiter: str | None) -> list[str] | None:
    """The label names a cell holds: a list's items, or a string cut at ``delimiter`` (stripped,
    empty parts left out); None for an empty cell."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        parts = [_name(v) for v in value]
    elif isinstance(value, str) and delimiter is not None:
        parts = [p.strip() for p in value.split(delimiter)]
    else:
        parts = [_name(value)]
    found = [p for p in parts if p]
    return found or None


def _name(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def sets_batch(batch: dict[str, list], *, column: str, names: list[str], delimiter: str | None,
               source: str) -> dict[str, list]:
    """Each row's label indices (the known names, in their order, each once) and drop reason."""
    index = {name: i for i, name in enumerate(names)}
    sets, reasons = [], []
    for value in batch[column]:
        found = parse(value, delimiter)
        known = sorted({index[n] for n in found or [] if n in index})
        sets.append(known)
        reasons.append(None if known else "missing_label")
    n = len(sets)
    return {schema.LABELS: sets, schema.LABEL_SCORE: [None] * n, schema.LABEL_SOURCE: [source] * n,
            schema.DROP_REASON: reasons}


def _names_and_notes(raw: list[Any], cfg: ColumnLabel) -> tuple[list[str], list[str]]:
    cells = [parse(v, cfg.label_delimiter) for v in raw]
    seen = {n for cell in cells for n in cell or []}
    if cfg.labels:
        names = list(cfg.labels)
    else:
        try:
            names = sorted(seen, key=int)
        except ValueError:
            names = sorted(seen)
    if not names:
        raise StageError(f"label: column {cfg.column!r} holds no labels")
    known = set(names)
    unknown = Counter(n for cell in cells for n in cell or [] if n not in known)
    left_empty = sum(1 for cell in cells if not any(n in known for n in cell or []))
    notes = []
    if unknown:
        shown = ", ".join(repr(v) for v, _ in unknown.most_common(3))
        count = sum(unknown.values())
        notes.append(f"{count} label{'s' if count != 1 else ''} of column {cfg.column!r} not in label.labels left out "
                     f"of their rows (e.g. {shown})")
    if left_empty:
        notes.append(f"{left_empty} row{'s' if left_empty != 1 else ''} dropped as missing_label "
                     f"(no known label in column {cfg.column!r})")
    return names, notes


def free_name(ds: Dataset, keep: str | None = None) -> Dataset:
    """The rows with an input column called ``labels`` (that is not the label column) kept as
    ``source_labels``: the label stage writes ``labels``."""
    if schema.LABELS in ds.column_names and keep != schema.LABELS:
        return ds.rename_column(schema.LABELS, RENAMED)
    return ds


def from_column(ds: Dataset, cfg: ColumnLabel, engine: Engine) -> tuple[Dataset, list[str], list[str]]:
    """The rows with ``labels`` (label indices, not yet a ClassLabel list), the names, and notes
    on what the column held that is not a label."""
    column = cfg.column
    if column not in ds.column_names:
        raise StageError(
            f"label.column: no column {column!r} in the collected rows (columns: {', '.join(ds.column_names)})"
        )
    ds = free_name(ds, keep=column)
    raw = ds.with_format("arrow")[column].to_pylist()
    names, notes = _names_and_notes(raw, cfg)
    features = ds.features.copy()
    del features[column]
    features[schema.LABELS] = List(Value("int64"))
    features[schema.LABEL_SCORE] = List(Value("float32"))
    features[schema.LABEL_SOURCE] = Value("string")
    features[schema.DROP_REASON] = Value("string")
    out = engine.map(
        ds,
        sets_batch,
        fn_kwargs={"column": column, "names": names, "delimiter": cfg.label_delimiter, "source": f"column:{column}"},
        remove_columns=[column],
        features=features,
        desc="label",
    )
    return out, names, notes


def given(proba: np.ndarray, threshold: float, top_k: int | None) -> list[list[int]]:
    """Per row, the labels whose probability reaches ``threshold`` (at most ``top_k``, the most
    probable; ties to the earlier label), in label order."""
    out = []
    for row in proba:
        chosen = np.flatnonzero(row >= threshold)
        if top_k is not None and len(chosen) > top_k:
            order = chosen[np.argsort(-row[chosen], kind="stable")]
            chosen = np.sort(order[:top_k])
        out.append(chosen.tolist())
    return out


def propose(ds: Dataset, model: ZeroShotModel | EmbeddingModel, names: list[str], context: StageContext,
            cache_dir: Path) -> tuple[np.ndarray, list[list[int]], str, dict[str, Any]]:
    """A model's probability of every label per row, the labels it gives each row, its
    ``label_source`` and its details (a label section's own model, or manual's ``suggest``)."""
    if isinstance(model, ZeroShotModel):
        # The pipeline scores each label on its own (entailment against contradiction).
        _, _, proba = zero_shot.predict(ds, model.model_copy(update={"multi_label": True}), names, engine=context.engine)
        details = {"model": model.model, "template": model.hypothesis_template, "threshold": model.threshold,
                   "top_k": model.top_k}
        return proba, given(proba, model.threshold, model.top_k), f"zero_shot:{model.model}", details
    proba, details = embedding.predict_many(ds, model, names, base_dir=context.base_dir, cache_dir=cache_dir,
                                            seed=context.seed, progress=context.progress, engine=context.engine)
    return proba, given(proba, 0.5, None), f"embedding:{details['model']}", details


def with_people(ds: Dataset, names: list[str], proposed: tuple[np.ndarray, list[list[int]], str] | None,
                people: tuple[manual.Annotations | None, dict[str, int]], *, min_score: float | None,
                files: list[str]) -> tuple[Dataset, dict[str, Any], list[float]]:
    """The rows with ``labels``, their scores, source and drop reason: people's label sets over the
    model's (``label_source: human``, a score of 1.0 per label), ties to review, rows given no label
    to review (``no_label``, or ``not_annotated`` without a model), and rows with a given label
    scored below ``min_score`` (``low_confidence``). Returns the rows, what people did, and every
    score the kept rows were given (for the histogram)."""
    n = ds.num_rows
    if proposed is None:
        proba, sets, sources, empty = None, [[] for _ in range(n)], [None] * n, "not_annotated"
    else:
        proba, sets, source = proposed
        sources, empty = [source] * n, "no_label"
    scores: list[list[float] | None] = [[float(proba[i, j]) for j in row] for i, row in enumerate(sets)] \
        if proba is not None else [None] * n
    reasons: list[str | None] = [None] * n
    human, position = people
    found: dict[str, Any] = {}
    if human is not None:
        pairs: tuple[list[list[int]], list[list[int]]] = ([], [])
        for row_id, labels in human.sets.items():
            if (i := position.get(row_id)) is None:
                continue
            if proposed is not None:
                pairs[0].append(sets[i])
                pairs[1].append(labels)
            sets[i], scores[i], sources[i] = list(labels), [1.0] * len(labels), "human"
        for row_id in human.ties:
            if (i := position.get(row_id)) is not None:
                reasons[i] = "annotation_tie"
        found = human.summary(files, position, *pairs)
    for i in range(n):
        if reasons[i] is not None:
            continue
        if not sets[i]:
            reasons[i] = empty
        elif min_score is not None and sources[i] != "human" and min(scores[i] or [1.0]) < min_score:
            reasons[i] = "low_confidence"
    out = add_columns(ds, [
        (schema.LABELS, sets, List(Value("int64"))),
        (schema.LABEL_SCORE, scores, List(Value("float32"))),
        (schema.LABEL_SOURCE, sources, Value("string")),
        (schema.DROP_REASON, reasons, Value("string")),
    ])
    kept_scores = [s for row, r in zip(scores, reasons) if r is None and row for s in row]
    return out, found, kept_scores
