"""Group-aware splits: every group lands in one split, and each split keeps the class shares.

Groups come from a column (an author, a URL host; an empty value is a group of its own) or from
near-duplicate clusters: rows whose word n-gram Jaccard (``dedup.near.ngram``) reaches
``group_threshold`` are joined
(union-find over verified MinHash LSH pairs), so rows similar enough to inflate a test score stay
together even when dedup kept them.

Assignment is greedy, largest group first (equal sizes in seeded random order): each group goes to
the split whose per-class quota it fills best, measured as the group's rows times each class's
remaining relative need ``(target - current) / target`` in that split. Singletons come last and
top every class up to its share, so large classes end within a row or two of their quota.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from datasets import Dataset

from ..engine import Engine
from ..minhash import Shingling, UnionFind, fingerprints, similar_pairs

__all__ = ["column_groups", "group_indices", "near_duplicate_groups"]


def column_groups(values: list[Any]) -> np.ndarray:
    """A group number per row: equal values share one, empty values are groups of their own."""
    numbers: dict[Any, int] = {}
    out = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        if value is None or (isinstance(value, str) and not value.strip()):
            out[i] = len(values) + i  # unique: shared values are numbered below len(values)
        else:
            out[i] = numbers.setdefault(value, len(numbers))
    return out


def near_duplicate_groups(
    ds: Dataset, *, threshold: float, seed: int, shingling: Shingling, engine: Engine | None = None
) -> tuple[np.ndarray, int]:
    """A group number per row from near-duplicate clusters, and the number of joined pairs."""
    _, sigs = fingerprints(ds, shingling, seed=seed, desc="split: fingerprint for groups", engine=engine)
    assert sigs is not None
    pairs, _ = similar_pairs(ds, sigs, threshold=threshold, ngram=shingling.ngram)
    uf = UnionFind(ds.num_rows)
    for i, j in pairs.tolist():
        uf.union(i, j)
    return np.array([uf.find(i) for i in range(ds.num_rows)], dtype=np.int64), len(pairs)


def group_indices(
    groups: np.ndarray, labels: np.ndarray, fractions: dict[str, float], *, seed: int
) -> tuple[dict[str, list[int]], dict[str, Any]]:
    """Row indices per split, with every group in one split; and details (group counts, sizes)."""
    names = [s for s, f in fractions.items() if f > 0]
    shares = np.array([fractions[s] for s in names])
    classes, label_index = np.unique(labels, return_inverse=True)
    group_ids, group_of = np.unique(groups, return_inverse=True)
    counts = np.zeros((len(group_ids), len(classes)), dtype=np.int64)
    np.add.at(counts, (group_of, label_index), 1)
    sizes = counts.sum(axis=1)
    targets = shares[:, None] * counts.sum(axis=0)[None, :]
    current = np.zeros_like(targets)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.permutation(len(group_ids)), -sizes))  # largest first, ties shuffled
    split_of_group = np.empty(len(group_ids), dtype=np.int64)
    for g in order:
        need = (targets - current) / np.maximum(targets, 1e-9)
        score = need @ counts[g]
        s = int(np.argmax(score))  # ties: the earlier split
        split_of_group[g] = s
        current[s] += counts[g]
    split_of_row = split_of_group[group_of]
    out = {name: np.flatnonzero(split_of_row == k).tolist() for k, name in enumerate(names)}
    details = {"groups": int(len(group_ids)), "largest_group": int(sizes.max()) if len(sizes) else 0,
               "rows_in_shared_groups": int(sizes[sizes > 1].sum())}
    return out, details
