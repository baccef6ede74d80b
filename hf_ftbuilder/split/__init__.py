"""Split: cut the labelled rows into train/validation/test, then check for leakage.

- ``stratified`` allocates every class on its own (largest remainder, at least one row in each
  split whose fraction is above 0), rather than chaining two ``train_test_split`` calls that fail
  on small classes. A class with fewer rows than there are splits either fails the build naming
  the class (``rare_classes: error``) or goes to train only (``rare_classes: train_only``).
  With several labels per row (``labels``) it is iterative stratification over the label sets
  (:func:`hf_ftbuilder.allocation.iterative_stratify`): each label keeps its share in every split;
  a label with fewer rows than there are splits follows ``rare_classes`` (its rows go to train).
- ``random`` shuffles all rows with the seed.
- ``time`` orders rows by ``time_column`` and cuts at ``cutoffs`` (or by ``fractions`` in time
  order); ``embargo`` days after each cut are dropped, so no later split starts right where train
  ends (:mod:`.time`).
- ``group`` keeps every group in one split, stratified by label (:mod:`.groups`).

Rows keep input order inside each split. The leakage check (:mod:`.leakage`) runs after every
method.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict

from .. import schema
from ..allocation import allocate, iterative_stratify
from ..config import Leakage, RandomSplit, Split, StratifiedSplit, TimeSplit
from ..context import StageContext
from ..errors import StageError
from ..minhash import Shingling
from ..stats import StageStats
from .groups import column_groups, group_indices, near_duplicate_groups
from .leakage import check as leakage_check
from .time import time_indices

__all__ = [
    "Assignment", "allocate", "assign", "check_leakage", "materialize", "multilabel_indices", "random_split", "split",
    "stratified", "stratified_indices",
]


def stratified_indices(
    labels: Sequence[Any],
    fractions: dict[str, float],
    *,
    seed: int,
    rare_classes: str = "error",
    names: Sequence[str] | None = None,
) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Row indices per split, allocated class by class.

    Args:
        labels: the class of each row.
        fractions: share per split name; splits with share 0 get no rows.
        seed: seeds the shuffle inside each class.
        rare_classes: ``error`` or ``train_only`` for a class smaller than the number of splits.
        names: display names of the classes (for ClassLabel indices), used in messages.

    Returns:
        Sorted row indices per split, and the rare classes sent to train only with their counts.

    Raises:
        StageError: a class is too small for every split and ``rare_classes`` is ``error``.
    """
    split_names = [s for s, f in fractions.items() if f > 0]
    shares = [fractions[s] for s in split_names]
    by_class: dict[Any, list[int]] = {}
    for i, value in enumerate(labels):
        by_class.setdefault(value, []).append(i)
    rng = np.random.default_rng(seed)
    out: dict[str, list[int]] = {s: [] for s in split_names}
    rare: dict[str, int] = {}
    for value in sorted(by_class, key=lambda v: (str(type(v)), v)):
        rows = np.asarray(by_class[value])
        display = names[value] if names is not None and isinstance(value, int) else str(value)
        if len(rows) < len(split_names):
            if rare_classes != "train_only":
                raise StageError(
                    f"split: class {display!r} has {len(rows)} row{'s' if len(rows) != 1 else ''}; a stratified "
                    f"split into {'/'.join(split_names)} needs at least {len(split_names)} "
                    "(or set split.rare_classes: train_only)"
                )
            rare[display] = len(rows)
            out["train"].extend(rows.tolist())
            continue
        rows = rows[rng.permutation(len(rows))]
        start = 0
        for name, count in zip(split_names, allocate(len(rows), shares)):
            out[name].extend(rows[start : start + count].tolist())
            start += count
    return {s: sorted(v) for s, v in out.items()}, rare


def multilabel_indices(
    label_sets: Sequence[Sequence[int]],
    fractions: dict[str, float],
    *,
    seed: int,
    rare_classes: str = "error",
    names: Sequence[str],
) -> tuple[dict[str, list[int]], dict[str, int], float]:
    """Row indices per split by iterative stratification over each row's labels.

    Args:
        label_sets: the label indices of each row.
        fractions: share per split name; splits with share 0 get no rows.
        seed: seeds the order rows of one label are handed out in.
        rare_classes: ``error`` or ``train_only`` for a label with fewer rows than splits (every
            row carrying it goes to train).
        names: the label names.

    Returns:
        Sorted row indices per split, the rare labels sent to train with their counts, and the
        largest gap between a label's share of a split and the split's fraction.

    Raises:
        StageError: a label has fewer rows than splits and ``rare_classes`` is ``error``.
    """
    split_names = [s for s, f in fractions.items() if f > 0]
    shares = [fractions[s] for s in split_names]
    counts = np.bincount([lab for row in label_sets for lab in row], minlength=len(names))
    rare = {i: int(c) for i, c in enumerate(counts) if 0 < c < len(split_names)}
    if rare and rare_classes != "train_only":
        first, c = next(iter(rare.items()))
        raise StageError(
            f"split: label {names[first]!r} has {c} row{'s' if c != 1 else ''}; a stratified split into "
            f"{'/'.join(split_names)} needs at least {len(split_names)} (or set split.rare_classes: train_only)"
        )
    out: dict[str, list[int]] = {s: [] for s in split_names}
    rest = []
    for i, row in enumerate(label_sets):
        (out["train"] if any(lab in rare for lab in row) else rest).append(i)
    positions = iterative_stratify([label_sets[i] for i in rest], len(names), shares, seed=seed)
    for i, p in zip(rest, positions.tolist()):
        out[split_names[p]].append(i)
    gap = 0.0
    for s, share in zip(split_names, shares):
        here = np.bincount([lab for i in out[s] for lab in label_sets[i]], minlength=len(names))
        for lab in np.flatnonzero(counts):
            if int(lab) not in rare:
                gap = max(gap, abs(here[lab] / counts[lab] - share))
    return {s: sorted(v) for s, v in out.items()}, {names[i]: c for i, c in rare.items()}, round(float(gap), 6)


def _random_indices(n: int, fractions: dict[str, float], *, seed: int) -> dict[str, list[int]]:
    split_names = [s for s, f in fractions.items() if f > 0]
    order = np.random.default_rng(seed).permutation(n)
    out, start = {}, 0
    for name, count in zip(split_names, allocate(n, [fractions[s] for s in split_names])):
        out[name] = sorted(order[start : start + count].tolist())
        start += count
    return out


def _labels(ds: Dataset) -> tuple[list[Any], list[str] | None]:
    feature = ds.features.get(schema.LABEL)
    names = feature.names if isinstance(feature, ClassLabel) else None
    values = ds.with_format("arrow")[schema.LABEL].to_pylist() if schema.LABEL in ds.column_names else [0] * ds.num_rows
    return values, names


def _column(ds: Dataset, name: str, key: str) -> list[Any]:
    if name not in ds.column_names:
        raise StageError(f"split.{key}: no column {name!r} in the rows (columns: {', '.join(ds.column_names)})")
    return ds.with_format("arrow")[name].to_pylist()


@dataclass
class Assignment:
    """Which rows of the labelled dataset go to which split, before the datasets are cut.

    Attributes:
        ds: the labelled rows.
        indices: sorted row positions per split, in train/validation/test order.
        dropped: row positions removed per reason (``embargo``, ``undated``, ``leaked``).
        details: what the method measured (and the leakage report once checked).
    """

    ds: Dataset
    indices: dict[str, list[int]]
    dropped: dict[str, list[int]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def assign(ds: Dataset, cfg: Split, *, context: StageContext | None = None,
           shingling: Shingling | None = None) -> Assignment:
    """Decide each row's split as the recipe's ``split`` section says (one branch per method).

    Raises:
        StageError: a class too small to split, a missing column, a date that cannot be read.
    """
    context = context or StageContext()
    seed = context.seed
    ordered = {s: cfg.fractions[s] for s in schema.SPLITS if s in cfg.fractions}
    details: dict[str, Any] = {"method": cfg.method}
    dropped: dict[str, list[int]] = {}
    if isinstance(cfg, StratifiedSplit) and schema.LABELS in ds.column_names:
        names = ds.features[schema.LABELS].feature.names
        sets = ds.with_format("arrow")[schema.LABELS].to_pylist()
        indices, rare, gap = multilabel_indices(sets, ordered, seed=seed, rare_classes=cfg.rare_classes, names=names)
        details["rare_classes_train_only"] = rare
        details["iterative"] = {"largest_share_gap": gap}
    elif isinstance(cfg, StratifiedSplit):
        values, names = _labels(ds)
        indices, rare = stratified_indices(values, ordered, seed=seed, rare_classes=cfg.rare_classes, names=names)
        details["rare_classes_train_only"] = rare
    elif isinstance(cfg, RandomSplit):
        indices = _random_indices(ds.num_rows, ordered, seed=seed)
    elif isinstance(cfg, TimeSplit):
        ids = ds.with_format("arrow")[schema.ID].to_pylist()
        indices, dropped, details["time"] = time_indices(_column(ds, cfg.time_column, "time_column"), ids, cfg, ordered)
    else:
        if cfg.group_by == "column":
            assert cfg.group_column is not None
            group_of = column_groups(_column(ds, cfg.group_column, "group_column"))
            joined = None
        else:
            group_of, joined = near_duplicate_groups(ds, threshold=cfg.group_threshold, seed=seed,
                                                     shingling=shingling or Shingling(), engine=context.engine)
        values, _ = _labels(ds)
        indices, details["group"] = group_indices(group_of, np.array(values), ordered, seed=seed)
        details["group"]["by"] = cfg.group_column if cfg.group_by == "column" else f"near_duplicates@{cfg.group_threshold}"
        if joined is not None:
            details["group"]["similar_pairs"] = joined
    return Assignment(ds, indices, dropped, details)


def check_leakage(assignment: Assignment, cfg: Leakage, *, context: StageContext | None = None,
                  shingling: Shingling | None = None, embedding_model: str | None = None) -> Assignment:
    """The leakage check after a split (:mod:`.leakage`): its report goes into the details, and
    with ``action: drop`` the leaked rows leave their splits (reason ``leaked``).

    Raises:
        StageError: rows leaked and ``action`` is ``fail``.
    """
    if not cfg.enabled:
        return assignment
    context = context or StageContext()
    report, leaked = leakage_check(assignment.ds, assignment.indices, cfg, seed=context.seed, shingling=shingling,
                                   cache_dir=context.cache_dir, embedding_model=embedding_model,
                                   engine=context.engine)
    assignment.details["leakage"] = report
    if leaked and cfg.action == "drop":
        assignment.dropped["leaked"] = sorted(leaked)
        assignment.indices = {s: [i for i in rows if i not in leaked] for s, rows in assignment.indices.items()}
    return assignment


def materialize(assignment: Assignment) -> tuple[DatasetDict, StageStats]:
    """The splits as datasets (rows in input order) and the stage's stats, dropped rows included."""
    ds, indices, dropped, details = assignment.ds, assignment.indices, assignment.dropped, assignment.details
    dd = DatasetDict({name: ds.select(idx) for name, idx in indices.items()})
    details["sizes"] = {name: len(idx) for name, idx in indices.items()}
    stats = StageStats(name="split", rows_in=ds.num_rows, rows_out=sum(details["sizes"].values()), details=details)
    stats.drop(ds, dropped)
    return dd, stats


def split(
    ds: Dataset,
    cfg: Split,
    *,
    context: StageContext | None = None,
    leakage: Leakage | None = None,
    shingling: Shingling | None = None,
    embedding_model: str | None = None,
) -> tuple[DatasetDict, StageStats]:
    """Split the rows as the recipe's ``split`` section says, then check for leakage.

    The pipeline runs the three steps itself (:func:`assign`, :func:`check_leakage`,
    :func:`materialize`); this is them in one call for a library user.

    Args:
        ds: labelled rows (``label`` a ClassLabel for stratified and group splits).
        cfg: the recipe's ``split`` section.
        context: the seed; the cache (leakage by embedding) and the engine (fingerprints, embeddings).
        leakage: the recipe's ``leakage`` section (None: no check).
        shingling: word n-grams and permutations of near-duplicate groups and the leakage check
            (the recipe's ``dedup.near``; default 5-grams, 128 permutations).
        embedding_model: the model the leakage check embeds with (default all-MiniLM-L6-v2).

    Returns:
        The splits in train/validation/test order, and the stats (sizes, method details, the
        leakage report; rows dropped by embargo, undated or leakage in ``dropped_rows``).

    Raises:
        StageError: a class too small to split, a missing column, a date that cannot be read,
            or leaked rows with ``leakage.action: fail``.
    """
    assignment = assign(ds, cfg, context=context, shingling=shingling)
    if leakage is not None:
        assignment = check_leakage(assignment, leakage, context=context, shingling=shingling,
                                   embedding_model=embedding_model)
    return materialize(assignment)


def stratified(
    ds: Dataset,
    column: str = "label",
    fractions: dict[str, float] | None = None,
    *,
    seed: int = 42,
    rare_classes: str = "error",
) -> tuple[DatasetDict, StageStats]:
    """Stratified train/validation/test split on any column, e.g. ``stratified(ds, column="label")``."""
    cfg = StratifiedSplit(rare_classes=rare_classes, **({"fractions": fractions} if fractions else {}))
    if column != schema.LABEL:
        ds = ds.rename_column(column, schema.LABEL)
    dd, stats = split(ds, cfg, context=StageContext(seed=seed))
    if column != schema.LABEL:
        dd = DatasetDict({k: v.rename_column(schema.LABEL, column) for k, v in dd.items()})
    return dd, stats


def random_split(ds: Dataset, fractions: dict[str, float] | None = None, *, seed: int = 42) -> tuple[DatasetDict, StageStats]:
    """Random train/validation/test split (no stratification)."""
    cfg = RandomSplit(**({"fractions": fractions} if fractions else {}))
    return split(ds, cfg, context=StageContext(seed=seed))
