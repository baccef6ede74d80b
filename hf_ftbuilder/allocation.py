"""Sharing rows between splits: largest remainder, every split with a share gets a row."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["allocate"]


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
