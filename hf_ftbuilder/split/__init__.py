"""Split: cut the labelled rows into train/validation/test.

Stratified splits allocate every class on its own (largest remainder, at least one row in each
split whose fraction is above 0), rather than chaining two ``train_test_split`` calls that fail
on small classes. A class with fewer rows than there are splits either fails the build naming
the class (``rare_classes: error``) or goes to train only (``rare_classes: train_only``). Rows
keep input order inside each split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict

from .. import schema
from ..config import Split
from ..errors import StageError
from ..stats import StageStats

__all__ = ["allocate", "random_split", "split", "stratified", "stratified_indices"]


def allocate(n: int, fractions: Sequence[float], *, at_least_one: bool = True) -> list[int]:
    """Share ``n`` rows between splits by largest remainder.

    Args:
        n: rows to share.
        fractions: one share per split (they add up to 1).
        at_least_one: give every split with a share above 0 at least one row when ``n`` allows.

    Returns:
        Row counts per split, adding up to ``n``.
    """
    exact = [n * f for f in fractions]
    counts = [math.floor(x + 1e-9) for x in exact]
    # Hand out what flooring left over, largest fractional part first (earlier split on ties).
    order = sorted(range(len(fractions)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    if at_least_one:
        wanted = [i for i, f in enumerate(fractions) if f > 0]
        if n >= len(wanted):
            for i in wanted:
                if counts[i] == 0:
                    donor = max(range(len(counts)), key=lambda j: (counts[j], -j))
                    counts[donor] -= 1
                    counts[i] += 1
    return counts


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


def _random_indices(n: int, fractions: dict[str, float], *, seed: int) -> dict[str, list[int]]:
    split_names = [s for s, f in fractions.items() if f > 0]
    order = np.random.default_rng(seed).permutation(n)
    out, start = {}, 0
    for name, count in zip(split_names, allocate(n, [fractions[s] for s in split_names])):
        out[name] = sorted(order[start : start + count].tolist())
        start += count
    return out


def split(ds: Dataset, cfg: Split, *, seed: int) -> tuple[DatasetDict, StageStats]:
    """Split the rows as the recipe's ``split`` section says.

    Args:
        ds: labelled rows (``label`` a ClassLabel for stratified splits).
        cfg: the recipe's ``split`` section.
        seed: the recipe's seed.

    Returns:
        The splits in train/validation/test order, and the stats (sizes, rare classes).
    """
    ordered = {s: cfg.fractions[s] for s in schema.SPLITS if s in cfg.fractions}
    rare: dict[str, int] = {}
    if cfg.method == "stratified":
        feature = ds.features.get(schema.LABEL)
        names = feature.names if isinstance(feature, ClassLabel) else None
        indices, rare = stratified_indices(
            list(ds[schema.LABEL]), ordered, seed=seed, rare_classes=cfg.rare_classes, names=names
        )
    else:
        indices = _random_indices(ds.num_rows, ordered, seed=seed)
    dd = DatasetDict({name: ds.select(idx) for name, idx in indices.items()})
    sizes = {name: len(idx) for name, idx in indices.items()}
    stats = StageStats(
        name="split",
        rows_in=ds.num_rows,
        rows_out=sum(sizes.values()),
        details={"method": cfg.method, "sizes": sizes, "rare_classes_train_only": rare},
    )
    return dd, stats


def stratified(
    ds: Dataset,
    column: str = "label",
    fractions: dict[str, float] | None = None,
    *,
    seed: int = 42,
    rare_classes: str = "error",
) -> tuple[DatasetDict, StageStats]:
    """Stratified train/validation/test split on any column, e.g. ``stratified(ds, column="label")``."""
    cfg = Split(method="stratified", rare_classes=rare_classes, **({"fractions": fractions} if fractions else {}))
    if column != schema.LABEL:
        ds = ds.rename_column(column, schema.LABEL)
    dd, stats = split(ds, cfg, seed=seed)
    if column != schema.LABEL:
        dd = DatasetDict({k: v.rename_column(schema.LABEL, column) for k, v in dd.items()})
    return dd, stats


def random_split(ds: Dataset, fractions: dict[str, float] | None = None, *, seed: int = 42) -> tuple[DatasetDict, StageStats]:
    """Random train/validation/test split (no stratification)."""
    cfg = Split(method="random", **({"fractions": fractions} if fractions else {}))
    return split(ds, cfg, seed=seed)
