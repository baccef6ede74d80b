"""Sharing rows between splits: largest remainder (``allocate``), and multi-label iterative
stratification (``iterative_stratify``, ``iterative_folds``).

``allocate`` turns shares into row counts; every split with a share gets a row when there are
enough rows.

``iterative_stratify`` is the algorithm of Sechidis, Tsoumakas and Vlahavas (2011), "On the
stratification of multi-label data". Each split wants ``fraction * n`` rows (``allocate``'s
counts) and, for every label, ``fraction * rows carrying the label``. The label with the fewest
rows still unassigned goes first (ties: the lower label index), since the rarest labels are the
easiest to spoil and have the least room to repair later; each of its unassigned rows goes to the
split that wants that label most. A choice depends only on the two wants of each split, so the
whole run of choices for one label is computed first (a heap over the splits) and the wants of the
rows' other labels are lowered afterwards, in one numpy step per label. Rows with no label go
last, each to the split wanting the most rows, which also evens out split sizes.

Ties are broken without a second random draw: a larger want for the label, then a larger want of
rows, then the lower split position. The seed only orders the rows (one permutation), which
decides which rows of a label meet which split.

Cost: O(E log E) to index the E (row, label) pairs, O(n log k) for the n choices among k splits
(the only Python loop), O(E) for the want updates, O(L^2) (in numpy) to pick the next of L labels.
100,000 rows x 20 labels split 0.8/0.1/0.1 in 0.26 s on a 2-core machine. Split 0.8/0.1/0.1 in
``benchmarks/multilabel_split.py``, every label's share in every split is within 0.0013
(generated, 20,000 rows) and 0.0008 (AG News plus keyword labels) of the split's share, as close
as iterative-stratification gets, and 19-50 times faster; a random split misses by 0.025-0.03.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Sequence

import numpy as np

__all__ = ["allocate", "iterative_folds", "iterative_stratify"]


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


def iterative_stratify(
    label_sets: Sequence[Sequence[int]], n_labels: int, fractions: Sequence[float], *, seed: int
) -> np.ndarray:
    """Split position (index into ``fractions``) per row, each label spread over the splits in their shares.

    Args:
        label_sets: per row, its label indices in ``0..n_labels-1`` (none, one or several; a label
            repeated in a row counts once).
        n_labels: how many labels there are (a label may have no rows).
        fractions: one share per split, adding up to 1; a split with share 0 gets no rows.
        seed: orders the rows; the same seed gives the same split.

    Returns:
        int64 array of ``len(label_sets)`` split positions.

    Raises:
        ValueError: ``fractions`` is empty, has a negative share or does not add up to 1, or a label
            is outside ``0..n_labels-1``.
    """
    shares = np.asarray(fractions, dtype=np.float64)
    if shares.ndim != 1 or len(shares) == 0 or (shares < 0).any() or abs(shares.sum() - 1) > 1e-6:
        raise ValueError(f"fractions must be one share >= 0 per split, adding up to 1; got {list(fractions)} instead")
    n = len(label_sets)
    lengths = np.fromiter((len(s) for s in label_sets), dtype=np.int64, count=n)
    flat = np.fromiter(itertools.chain.from_iterable(label_sets), dtype=np.int64, count=int(lengths.sum()))
    if len(flat) and (flat.min() < 0 or flat.max() >= n_labels):
        bad = int(flat[(flat < 0) | (flat >= n_labels)][0])
        raise ValueError(f"labels must lie in 0..{n_labels - 1} (n_labels={n_labels}); got {bad} instead")

    # One pair per (label, row), sorted by label, then by the row's place in a seeded order.
    order = np.random.default_rng(seed).permutation(n)
    place = np.empty(n, dtype=np.int64)
    place[order] = np.arange(n)
    pair = np.unique(flat * max(n, 1) + place[np.repeat(np.arange(n), lengths)])
    pair_label, pair_row = pair // max(n, 1), order[pair % max(n, 1)]
    label_start = np.searchsorted(pair_label, np.arange(n_labels + 1))
    by_row = np.argsort(pair_row, kind="stable")
    row_labels = pair_label[by_row]
    row_start = np.concatenate(([0], np.cumsum(np.bincount(pair_row, minlength=n))))

    split = np.full(n, -1, dtype=np.int64)
    open_splits = np.flatnonzero(shares > 0)  # a split with share 0 never takes part
    want_rows = np.asarray(allocate(n, fractions), dtype=np.float64)
    left = np.diff(label_start)  # unassigned rows per label
    want = shares[:, None] * left[None, :].astype(np.float64)  # (split, label)
    while left.any():
        lab = int(np.argmin(np.where(left > 0, left, np.iinfo(np.int64).max)))
        rows = pair_row[label_start[lab] : label_start[lab + 1]]
        rows = rows[split[rows] < 0]
        to = open_splits[_hand_out(want[open_splits, lab], want_rows[open_splits], len(rows))]
        split[rows] = to
        want_rows -= np.bincount(to, minlength=len(shares))
        labels = row_labels[_segments(row_start, rows)]
        np.subtract.at(want, (np.repeat(to, row_start[rows + 1] - row_start[rows]), labels), 1.0)
        left -= np.bincount(labels, minlength=n_labels)

    bare = order[split[order] < 0]  # rows with no label, in the seeded order
    split[bare] = open_splits[_hand_out(want_rows[open_splits], want_rows[open_splits], len(bare))]
    return split


def iterative_folds(label_sets: Sequence[Sequence[int]], n_labels: int, folds: int, *, seed: int) -> np.ndarray:
    """Fold id per row for cross-validation: ``iterative_stratify`` with ``folds`` equal shares.

    Args:
        label_sets: per row, its label indices in ``0..n_labels-1``.
        n_labels: how many labels there are.
        folds: number of folds, at least 2.
        seed: orders the rows.

    Returns:
        int64 array of fold ids in ``0..folds-1``.

    Raises:
        ValueError: ``folds`` is below 2, or a label is out of range.
    """
    if folds < 2:
        raise ValueError(f"folds must be at least 2; got {folds} instead")
    return iterative_stratify(label_sets, n_labels, [1 / folds] * folds, seed=seed)


def _hand_out(label_want: np.ndarray, rows_want: np.ndarray, m: int) -> np.ndarray:
    """Positions of the splits taking ``m`` rows one by one: most wanted label, then most wanted rows, then first."""
    heap = [(-a, -b, j) for j, (a, b) in enumerate(zip(label_want.tolist(), rows_want.tolist()))]
    heapq.heapify(heap)
    taken = []
    for _ in range(m):
        a, b, j = heap[0]
        taken.append(j)
        heapq.heapreplace(heap, (a + 1, b + 1, j))
    return np.asarray(taken, dtype=np.int64)


def _segments(start: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions ``start[r]:start[r + 1]`` of every row ``r`` in ``rows``, concatenated."""
    lengths = start[rows + 1] - start[rows]
    return np.repeat(start[rows] - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
