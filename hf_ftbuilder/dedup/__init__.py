"""Dedup: remove exact duplicates, keeping one row per group and recording which.

Texts are compared in their normalised form (:mod:`hf_ftbuilder.text_norm`: NFKC, casefold,
whitespace collapsed), hashed to 128 bits. Only the compact hash, id and length columns are
pulled out of the dataset for grouping. In each group the first row in input order is kept
(or the longest, with ``keep: longest``); the kept row gets ``dup_cluster`` (its own id) and
``dup_count`` (rows in the group), each removed row ``dup_of`` (the kept row's id),
``dup_cluster`` and ``similarity`` 1.0, with reason ``exact_duplicate``.
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset, Value

from .. import schema
from ..config import Dedup
from ..stats import StageStats, split_dropped
from ..text_norm import text_hash

__all__ = ["dedup", "exact", "hash_batch"]

_HASH = "_text_hash"


def hash_batch(batch: dict[str, list]) -> dict[str, list]:
    """The 128-bit hash of each row's normalised text."""
    return {_HASH: [text_hash(t) for t in batch[schema.TEXT]]}


def _groups(hashes: list[str], lengths: list[int] | None) -> list[int]:
    """For every row, the index of the row kept in its group."""
    keeper: dict[str, int] = {}
    for i, h in enumerate(hashes):
        j = keeper.get(h)
        if j is None or (lengths is not None and lengths[i] > lengths[j]):
            keeper[h] = i
    return [keeper[h] for h in hashes]


def dedup(ds: Dataset, cfg: Dedup) -> tuple[Dataset, StageStats]:
    """Remove exact duplicates (when ``cfg.exact``).

    Args:
        ds: rows with ``id`` and ``text``.
        cfg: the recipe's ``dedup`` section.

    Returns:
        The kept rows with ``dup_cluster`` and ``dup_count``, and the stats; the removed rows
        (with ``dup_of``, ``dup_cluster``, ``similarity``) are in ``stats.dropped_rows``.
    """
    if not cfg.exact:
        return ds, StageStats(name="dedup", rows_in=ds.num_rows, rows_out=ds.num_rows)
    hashed = ds.map(hash_batch, batched=True, desc="dedup: hash")
    hashes = list(hashed[_HASH])
    lengths = [len(t) for t in hashed[schema.TEXT]] if cfg.keep == "longest" else None
    ids = list(hashed[schema.ID])
    kept_by = _groups(hashes, lengths)
    sizes: dict[int, int] = {}
    for k in kept_by:
        sizes[k] = sizes.get(k, 0) + 1
    cluster: list[Any] = [ids[k] if sizes[k] > 1 else None for k in kept_by]
    count = [sizes[k] if k == i else None for i, k in enumerate(kept_by)]
    dup_of = [ids[k] if k != i else None for i, k in enumerate(kept_by)]
    similarity = [1.0 if k != i else None for i, k in enumerate(kept_by)]
    reason = ["exact_duplicate" if k != i else None for i, k in enumerate(kept_by)]
    out = hashed.remove_columns(_HASH)
    for name, values, feature in (
        (schema.DUP_CLUSTER, cluster, Value("string")),
        (schema.DUP_COUNT, count, Value("int32")),
        (schema.DUP_OF, dup_of, Value("string")),
        (schema.SIMILARITY, similarity, Value("float32")),
        (schema.DROP_REASON, reason, Value("string")),
    ):
        out = out.add_column(name, values, feature=feature)
    kept, stats = split_dropped(out, "dedup")
    kept = kept.remove_columns([schema.DUP_OF, schema.SIMILARITY])
    groups = sum(1 for k, n in sizes.items() if n > 1)
    stats.details = {"exact": {"removed": stats.dropped.get("exact_duplicate", 0), "groups": groups}}
    return kept, stats


def exact(ds: Dataset, *, keep: str = "first") -> tuple[Dataset, StageStats]:
    """Remove exact duplicates from any dataset with ``id`` and ``text`` columns."""
    return dedup(ds, Dedup(exact=True, keep=keep))
