"""Label: give every row a ``label`` (a ClassLabel), ``label_score`` and ``label_source``.

Methods (``label.method``):

- ``column``: an existing column. The ClassLabel names are ``label.labels`` in that order, or the
  column's distinct values sorted (numerically when they are all integers). Rows with no label are
  dropped as ``missing_label``, rows whose label is not among the names as ``unknown_label``.
- ``zero_shot``: an NLI model through ``transformers``' zero-shot pipeline (:mod:`.zero_shot`).
- ``embedding``: similarity to label descriptions, refined on the data (:mod:`.embedding`).
- ``kmeans``: clusters a person names once (:mod:`.kmeans`).
- ``manual``: human labels from annotation files (:mod:`.manual`), with a model's suggestion for the
  rows nobody has labelled yet when ``label.suggest`` is set.

``label.annotations`` works with every method: a human label replaces the model's
(``label_source: human``, score 1.0). ``label_source`` says where each label came from:
``column:<name>``, ``zero_shot:<model>``, ``embedding:<model>``, ``cluster:<id>`` or ``human``.
Rows waiting for a person (score below ``label.min_score``, annotators who tie, rows not yet
annotated) are not in the dataset: they go to ``review/<reason>.parquet`` and are counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from datasets import ClassLabel, Dataset, Value

from .. import schema
from ..arrow_cache import add_columns
from ..config import Label
from ..engine import Engine, LocalEngine
from ..errors import StageError
from ..stats import StageStats, score_histogram, split_dropped
from . import embedding, kmeans, manual, zero_shot

__all__ = ["REVIEW_REASONS", "from_column", "label", "label_column_batch", "suggest"]

logger = logging.getLogger(__name__)

#: Drop reasons whose rows wait for a person: written to ``review/`` rather than ``dropped/``.
REVIEW_REASONS = schema.REVIEW_REASONS


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


def _unusable(raw: list[Any], names: list[str], column: str) -> list[str]:
    """What the column held that is not a label: per drop reason, the count and up to three values."""
    known = set(names)
    missing = sum(1 for v in raw if _as_name(v) is None)
    unknown = Counter(n for v in raw if (n := _as_name(v)) is not None and n not in known)
    notes = []
    if unknown:
        shown = ", ".join(repr(v) for v, _ in unknown.most_common(3))
        count = sum(unknown.values())
        notes.append(f"{count} row{'s' if count != 1 else ''} dropped as unknown_label "
                     f"(values of {column!r} not in label.labels, e.g. {shown})")
    if missing:
        notes.append(f"{missing} row{'s' if missing != 1 else ''} dropped as missing_label "
                     f"(no value in column {column!r})")
    return notes


def _check_classes(kept: Dataset, names: list[str], notes: list[str]) -> None:
    """A classification dataset needs two classes with rows: say so before any later step runs
    (with what was dropped, which is usually why); otherwise warn once per kind of dropped label."""
    counts = Counter(kept.with_format("arrow")[schema.LABEL].to_pylist())
    present = [name for i, name in enumerate(names) if counts.get(i)]
    if len(present) < 2:
        listed = "; ".join(f"{name}: {counts.get(i, 0)}" for i, name in enumerate(names))
        left = f"only {present[0]!r} has rows" if present else "no class has rows"
        why = f"; {'; '.join(notes)}" if notes else ""
        raise StageError(f"label: {left} after labelling ({listed}){why}; a classification dataset needs at least two")
    for note in notes:
        logger.warning("label: %s", note)


def _from_column(ds: Dataset, cfg: Label, engine: Engine | None) -> tuple[Dataset, list[str], list[str]]:
    column = cfg.column
    if column not in ds.column_names:
        raise StageError(
            f"label.column: no column {column!r} in the collected rows (columns: {', '.join(ds.column_names)})"
        )
    raw = ds.with_format("arrow")[column].to_pylist()
    names = list(cfg.labels) if cfg.labels else _sorted_names({n for v in raw if (n := _as_name(v)) is not None})
    if not names:
        raise StageError(f"label: column {column!r} holds no labels")
    notes = _unusable(raw, names, column)
    features = ds.features.copy()
    if column != schema.LABEL:
        del features[column]
    features[schema.LABEL] = Value("int64")
    features[schema.LABEL_SCORE] = Value("float32")
    features[schema.LABEL_SOURCE] = Value("string")
    features[schema.DROP_REASON] = Value("string")
    out = (engine or LocalEngine()).map(
        ds,
        label_column_batch,
        fn_kwargs={"column": column, "names": names, "source": f"column:{column}"},
        remove_columns=[column] if column != schema.LABEL else None,
        features=features,
        desc="label",
    )
    return out, names, notes


def suggest(
    ds: Dataset, cfg: Label, method: str, names: list[str], *, base_dir: Path, cache_dir: Path | None, seed: int,
    progress: bool = True,
    engine: Engine | None = None,
) -> tuple[np.ndarray, np.ndarray, str, dict[str, Any]]:
    """A model method's label index and score per row, its ``label_source`` and its report details."""
    if method == "zero_shot":
        labels, scores = zero_shot.predict(ds, cfg, names, engine=engine)
        return labels, scores, f"zero_shot:{cfg.model}", {"model": cfg.model, "template": cfg.hypothesis_template}
    result = embedding.predict(ds, cfg, names, base_dir=base_dir, cache_dir=cache_dir, seed=seed, progress=progress,
                               engine=engine)
    return result.labels, result.scores, f"embedding:{result.details['model']}", result.details


def label(
    ds: Dataset,
    cfg: Label,
    *,
    seed: int = 42,
    base_dir: str | Path = ".",
    cache_dir: str | Path | None = None,
    progress: bool = True,
    engine: Engine | None = None,
) -> tuple[Dataset, StageStats]:
    """Label the rows as the recipe's ``label`` section says.

    Args:
        ds: rows with ``id`` and ``text`` (and the label column for ``method: column``).
        cfg: the recipe's ``label`` section.
        seed: seeds clustering and the refining classifier.
        base_dir: the recipe's folder (examples, cluster names and annotations are beside it).
        cache_dir: where the embedding cache and the fitted clusterer live.
        progress: show progress bars on model steps.
        engine: where the maps and the model run (default: this process; Ray: an actor pool).

    Returns:
        The labelled rows and the stats. Rows dropped (``missing_label``, ``unknown_label``,
        ``dropped_cluster``) are in ``stats.dropped_rows``; rows for a person in ``stats.review``.

    Raises:
        StageError: the label column is missing or empty.
        ConfigError: a model cannot be loaded or is not the right kind; a cluster mapping is wrong.
        SourceError: an examples, cluster-names or annotations file is missing or malformed.
    """
    base_dir = Path(base_dir)
    cache = Path(cache_dir) if cache_dir is not None else base_dir / ".ftbuild" / "label"
    details: dict[str, Any] = {"method": cfg.method}
    review_files: dict[str, str] = {}
    n = ds.num_rows
    notes: list[str] = []

    if cfg.method == "column":
        out, names, notes = _from_column(ds, cfg, engine)
        details["column"] = cfg.column
    else:
        labels = np.full(n, -1, dtype=np.int64)
        scores = np.full(n, np.nan, dtype=np.float32)
        sources: list[str | None] = [None] * n
        reasons: list[str | None] = [None] * n
        names = list(cfg.labels or [])
        if cfg.method in ("zero_shot", "embedding") or (cfg.method == "manual" and cfg.suggest):
            method = cfg.method if cfg.method != "manual" else cfg.suggest
            assert method is not None
            labels, scores, source, more = suggest(ds, cfg, method, names, base_dir=base_dir, cache_dir=cache,
                                                   seed=seed, progress=progress, engine=engine)
            sources = [source] * n
            details.update(more)
        elif cfg.method == "kmeans":
            result, cluster_names = kmeans.assign(ds, cfg, base_dir=base_dir, cache_dir=cache, seed=seed,
                                                  progress=progress, engine=engine)
            review_files.update(result.review)
            details["kmeans"] = result.details
            if cluster_names is None:
                names = [f"cluster_{c}" for c in range(len(result.details["sizes"]))]
                labels = result.clusters.copy()
            else:
                names = names or sorted({v for v in cluster_names.values() if v != kmeans.DROP})
                index = {name: i for i, name in enumerate(names)}
                mapped = [cluster_names[int(c)] for c in result.clusters]
                labels = np.array([index.get(m, -1) for m in mapped], dtype=np.int64)
                reasons = ["dropped_cluster" if m == kmeans.DROP else None for m in mapped]
            scores = result.scores
            sources = [f"cluster:{int(c)}" for c in result.clusters]
        model_labels = labels.copy()
        if cfg.method == "manual" and not cfg.annotations and not cfg.suggest:
            raise StageError("label: method manual has no annotations yet; run `ftbuild label export RECIPE`, "
                             "annotate, then set label.annotations (or set label.suggest)")
        if cfg.annotations:
            human = manual.read_annotations(base_dir / cfg.annotations, names)
            ids = ds.with_format("arrow")[schema.ID].to_pylist()
            position = {row_id: i for i, row_id in enumerate(ids)}
            pairs_model, pairs_human = [], []
            for row_id, value in human.labels.items():
                i = position.get(row_id)
                if i is None:
                    continue
                if sources[i] is not None and model_labels[i] >= 0:
                    pairs_model.append(int(model_labels[i]))
                    pairs_human.append(value)
                labels[i], scores[i], sources[i], reasons[i] = value, 1.0, "human", None
            for row_id in human.ties:
                if (i := position.get(row_id)) is not None:
                    reasons[i] = "annotation_tie"
            matched = sum(1 for r in human.labels if r in position) + sum(1 for r in human.ties if r in position)
            details["annotations"] = {
                "file": cfg.annotations, "votes": human.votes, "annotators": human.annotators,
                "cancelled": human.cancelled, "labelled_rows": len(human.labels), "ties": len(human.ties),
                "not_in_dataset": len(human.labels) + len(human.ties) - matched,
                "agreement": manual.agreement(pairs_model, pairs_human),
            }
        for i in range(n):
            if reasons[i] is None and labels[i] < 0:
                reasons[i] = "not_annotated"
            elif reasons[i] is None and cfg.min_score is not None and sources[i] != "human" and scores[i] < cfg.min_score:
                reasons[i] = "low_confidence"
        out = add_columns(ds, [
            (schema.LABEL, [int(v) if v >= 0 else None for v in labels], Value("int64")),
            (schema.LABEL_SCORE, [None if np.isnan(s) else float(s) for s in scores], Value("float32")),
            (schema.LABEL_SOURCE, sources, Value("string")),
            (schema.DROP_REASON, reasons, Value("string")),
        ])
        kept_scores = [float(s) for s, r in zip(scores, reasons) if r is None and not np.isnan(s)]
        details["score_histogram"] = score_histogram(kept_scores)
        details["min_score"] = cfg.min_score

    kept, stats = split_dropped(out, "label")
    _check_classes(kept, names, notes)
    kept = kept.cast_column(schema.LABEL, ClassLabel(names=names))
    sources_kept = kept.with_format("arrow")[schema.LABEL_SOURCE].to_pylist()
    details["names"] = names
    details["label_source_counts"] = dict(sorted(_count(sources_kept).items()))
    stats.details = details
    stats.review_files = review_files
    _route_review(stats)
    return kept, stats


def _count(values: list[str | None]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        key = v if v is None or not v.startswith("cluster:") else "cluster"
        out[str(key)] = out.get(str(key), 0) + 1
    return out


def _route_review(stats: StageStats) -> None:
    """Move the rows that wait for a person from ``dropped_rows`` to ``review_rows``."""
    rows = stats.dropped_rows
    if rows is None:
        return
    reasons = rows.with_format("arrow")[schema.DROP_REASON].to_pylist()
    for reason in REVIEW_REASONS:
        picked = [i for i, r in enumerate(reasons) if r == reason]
        if picked:
            stats.review_rows[reason] = rows.select(picked)
    rest = [i for i, r in enumerate(reasons) if r not in REVIEW_REASONS]
    stats.dropped_rows = rows.select(rest) if rest else None


def from_column(ds: Dataset, column: str = "label", labels: list[str] | None = None) -> tuple[Dataset, StageStats]:
    """Turn an existing column into a ClassLabel ``label``, e.g. ``from_column(ds, "category")``."""
    return label(ds, Label(method="column", column=column, labels=labels))
