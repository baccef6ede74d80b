"""Dedup: exact and near duplicates, and contamination against reference sets.

1. Exact: the 128-bit xxh3 hash of the normalised text (:mod:`hf_ftbuilder.text_norm`: NFKC,
   casefold, whitespace collapsed). Reason ``exact_duplicate``.
2. Near: MinHash LSH over word n-grams (:mod:`hf_ftbuilder.minhash`); every candidate pair is
   verified with the exact Jaccard of its shingle sets against ``near.threshold``; verified pairs
   are joined into clusters with union-find. Reason ``near_duplicate``.
3. Against: rows that are exact or near duplicates of a reference row are dropped as
   ``contaminated``, with the reference row's id as ``dup_of``.

Each group keeps one row: the first in input order (or the longest, ``keep: longest``). The kept
row gets ``dup_cluster`` (its own id) and ``dup_count`` (rows in the group); each removed row
``dup_of`` (the kept row's id), ``dup_cluster`` and ``similarity`` (its exact Jaccard with the kept
row; 1.0 for exact copies). Clusters are transitive: in a chain A~B, B~C where A and C are less
similar than the threshold, C still goes with A's cluster and its ``similarity`` to A shows it.

Only compact columns (hashes, signatures, ids, lengths) leave the dataset; texts are read back
only for the rows that LSH made candidates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from datasets import Dataset, Features, Sequence, Value

from .. import schema
from ..arrow_cache import add_columns
from ..config import Dedup, NearDedup
from ..engine import Engine, LocalEngine
from ..memory import release_mapped_pages
from ..minhash import (
    UnionFind,
    candidate_pairs,
    jaccard,
    lsh_params,
    permutations,
    shingle_hashes_batch,
    shingle_sets,
    signatures,
)
from ..stats import StageStats, score_histogram, split_dropped
from ..text_norm import hash_normalized, normalize_for_hash, text_hash

__all__ = ["dedup", "exact", "fingerprint_batch", "fingerprints", "hash_batch", "near", "similar_pairs"]

logger = logging.getLogger(__name__)

_HASH = "_text_hash"
_MINHASH = "_minhash"
_READ_ROWS = 65_536  # signatures read per batch
_VERIFY_PAIRS = 50_000  # candidate pairs verified together (their rows' shingle sets in memory)


def hash_batch(batch: dict[str, list]) -> dict[str, list]:
    """The 128-bit xxh3 hash of each row's normalised text."""
    return {_HASH: [text_hash(t) for t in batch[schema.TEXT]]}


def fingerprint_batch(batch: dict[str, list], *, ngram: int, num_perm: int, seed: int) -> dict[str, Any]:
    """Exact hash and MinHash signature of each row, normalising each text once and shingling
    and signing the whole batch together (numpy over the batch, not a loop over rows)."""
    normalized = [normalize_for_hash(t) for t in batch[schema.TEXT]]
    values, offsets = shingle_hashes_batch(normalized, ngram)
    return {
        _HASH: [hash_normalized(t) for t in normalized],
        _MINHASH: signatures(values, offsets, *permutations(num_perm, seed)),
    }


def _fingerprints(ds: Dataset, near: NearDedup | None, seed: int, desc: str,
                  engine: Engine | None = None) -> tuple[list[str], np.ndarray | None]:
    """Exact hashes, and with ``near`` the signatures as one ``uint32`` matrix (read from Arrow, not rows)."""
    engine = engine or LocalEngine()
    if near is None:
        out = engine.map(ds, hash_batch, remove_columns=ds.column_names, features=Features({_HASH: Value("string")}),
                         desc=desc)
        return out.with_format("arrow")[_HASH].to_pylist(), None
    out = engine.map(
        ds,
        fingerprint_batch,
        fn_kwargs={"ngram": near.ngram, "num_perm": near.num_perm, "seed": seed},
        remove_columns=ds.column_names,
        features=Features({_HASH: Value("string"), _MINHASH: Sequence(Value("uint32"))}),
        desc=desc,
    )
    # Read a batch at a time into one matrix: the whole column at once would be its file pages
    # plus a combined copy (1 GB at a million rows) before the matrix is even made.
    hashes: list[str] = []
    sigs = np.empty((out.num_rows, near.num_perm), dtype=np.uint32)
    start = 0
    for batch in out.with_format("arrow").iter(batch_size=_READ_ROWS):
        hashes += batch.column(_HASH).to_pylist()
        flat = batch.column(_MINHASH).combine_chunks().flatten().to_numpy(zero_copy_only=False)
        sigs[start : start + batch.num_rows] = flat.reshape(batch.num_rows, near.num_perm)
        start += batch.num_rows
        release_mapped_pages()
    return hashes, sigs


class _Shingles:
    """Shingle sets of the rows that need verifying, computed once each."""

    batch_size = 1000  # rows read and shingled together

    def __init__(self, ds: Dataset, ngram: int) -> None:
        self.ds, self.ngram, self.cache = ds, ngram, {}

    def prefetch(self, indices: np.ndarray) -> None:
        missing = sorted({int(i) for i in indices} - self.cache.keys())
        texts = self.ds.with_format("arrow")  # a column read: row-by-row reads cost seconds
        for start in range(0, len(missing), self.batch_size):
            rows = missing[start : start + self.batch_size]
            batch = texts.select(rows)[schema.TEXT].to_pylist()
            self.cache.update(zip(rows, shingle_sets(batch, self.ngram)))
            # Rows read at random: the kernel maps 64 KB around each, so a few thousand rows
            # would leave most of a large table resident without this.
            release_mapped_pages()

    def __getitem__(self, i: int) -> np.ndarray:
        return self.cache[int(i)]


def _keeper(members: list[int], lengths: list[int] | None) -> int:
    if lengths is None:
        return min(members)
    return min(members, key=lambda m: (-lengths[m], m))


def dedup(
    ds: Dataset, cfg: Dedup, *, seed: int = 42, reference: Dataset | None = None, engine: Engine | None = None
) -> tuple[Dataset, StageStats]:
    """Remove exact and near duplicates, and rows that duplicate the reference set.

    Args:
        ds: rows with ``id`` and ``text``.
        cfg: the recipe's ``dedup`` section.
        seed: seeds the MinHash permutations.
        reference: rows (``id``, ``text``) to decontaminate against, from ``dedup.against``.
        engine: where the fingerprints are computed (default: :class:`~hf_ftbuilder.engine.LocalEngine`).

    Returns:
        The kept rows with ``dup_cluster`` and ``dup_count``, and the stats; the removed rows
        (with ``dup_of``, ``dup_cluster``, ``similarity``) are in ``stats.dropped_rows``.
    """
    n = ds.num_rows
    ids = ds.with_format("arrow")[schema.ID].to_pylist()  # through Arrow: row-by-row reads cost seconds at 100k
    lengths = None
    if cfg.keep == "longest":  # lengths computed in Arrow: no Python copy of every text
        import pyarrow.compute as pc

        lengths = pc.utf8_length(ds.with_format("arrow")[schema.TEXT]).to_pylist()
    reason: list[str | None] = [None] * n
    dup_of: list[int | None] = [None] * n  # index of the kept row (or of the reference row)
    similarity: list[float | None] = [None] * n
    ref_ids: list[str] = list(reference[schema.ID]) if reference is not None else []
    details: dict[str, Any] = {}

    near_cfg = cfg.near if cfg.near.enabled else None
    hashes, sigs = _fingerprints(ds, near_cfg, seed, "dedup: fingerprint", engine)
    ref_sigs = None
    if reference is not None:
        ref_hashes, ref_sigs = _fingerprints(reference, near_cfg, seed, "dedup: fingerprint reference", engine)
        ref_first: dict[str, int] = {}
        for j, h in enumerate(ref_hashes):
            ref_first.setdefault(h, j)
        for i, h in enumerate(hashes):
            if h in ref_first:
                reason[i], dup_of[i], similarity[i] = "contaminated", ref_first[h], 1.0
    if cfg.exact:
        groups: dict[str, list[int]] = {}
        for i, h in enumerate(hashes):
            if reason[i] is None:
                groups.setdefault(h, []).append(i)
        exact_groups = 0
        for members in groups.values():
            if len(members) > 1:
                exact_groups += 1
                keep = _keeper(members, lengths)
                for m in members:
                    if m != keep:
                        reason[m], dup_of[m], similarity[m] = "exact_duplicate", keep, 1.0
        details["exact"] = {"removed": reason.count("exact_duplicate"), "groups": exact_groups}

    near_pairs: list[tuple[int, int, float]] = []
    if sigs is not None and n > 1:
        near_pairs = _near(ds, cfg, sigs, ref_sigs, reason, dup_of, similarity, lengths, reference, details)

    counts: dict[int, int] = {}
    for i in range(n):
        if reason[i] in ("exact_duplicate", "near_duplicate"):
            counts[dup_of[i]] = counts.get(dup_of[i], 1) + 1
    cluster = [None] * n
    count = [None] * n
    for i in range(n):
        if reason[i] is None:
            count[i] = counts.get(i, 1)
            cluster[i] = ids[i] if i in counts else None
        elif reason[i] == "contaminated":
            cluster[i] = None
        else:
            cluster[i] = ids[dup_of[i]]
    dup_of_id = [
        None if r is None else (ref_ids[d] if r == "contaminated" else ids[d]) for r, d in zip(reason, dup_of)
    ]
    out = add_columns(ds, [
        (schema.DUP_CLUSTER, cluster, Value("string")),
        (schema.DUP_COUNT, count, Value("int32")),
        (schema.DUP_OF, dup_of_id, Value("string")),
        (schema.SIMILARITY, similarity, Value("float32")),
        (schema.DROP_REASON, reason, Value("string")),
    ])
    kept, stats = split_dropped(out, "dedup")
    kept = kept.remove_columns([schema.DUP_OF, schema.SIMILARITY])
    if reference is not None:
        details["against"] = {"reference_rows": len(ref_ids), "removed": reason.count("contaminated")}
    if near_pairs:
        details.setdefault("near", {})["examples"] = _examples(ds, near_pairs)
    stats.details = details
    return kept, stats


def _near(
    ds: Dataset,
    cfg: Dedup,
    sigs: np.ndarray,
    ref_sigs: np.ndarray | None,
    reason: list[str | None],
    dup_of: list[int | None],
    similarity: list[float | None],
    lengths: list[int] | None,
    reference: Dataset | None,
    details: dict[str, Any],
) -> list[tuple[int, int, float]]:
    """Find near duplicates among the rows still kept (and against the reference); fill the lists."""
    near = cfg.near
    n = ds.num_rows
    bands, rows = (near.bands, near.rows) if near.bands else lsh_params(near.threshold, near.num_perm)
    alive = np.array([r is None for r in reason])
    n_ref = 0
    if reference is not None and ref_sigs is not None and len(ref_sigs):
        n_ref = len(ref_sigs)
        sigs = np.concatenate([ref_sigs, sigs])
        alive = np.concatenate([np.ones(n_ref, dtype=bool), alive])
    # Band only the rows still in play: exact copies would fill thousands of buckets for nothing.
    live = np.flatnonzero(alive)
    pairs = live[candidate_pairs(sigs, bands, rows, subset=live)] if len(live) > 1 else np.zeros((0, 2), dtype=np.int64)
    pairs = pairs[pairs[:, 1] >= n_ref]  # reference-reference pairs do not matter
    data = _Shingles(ds, near.ngram)
    refs = _Shingles(reference, near.ngram) if n_ref else None

    def sets(i: int) -> np.ndarray:
        return refs[i] if i < n_ref else data[i - n_ref]

    if refs is not None:
        refs.prefetch(pairs[pairs[:, 0] < n_ref][:, 0])
    data.prefetch(np.concatenate([pairs[pairs[:, 0] >= n_ref][:, 0], pairs[:, 1]]) - n_ref)
    verified: list[tuple[int, int, float]] = []
    for i, j in pairs.tolist():
        sim = jaccard(sets(i), sets(j))
        if sim >= near.threshold:
            verified.append((i, j, sim))

    # Contamination first: a row near a reference row is out, whatever else it resembles.
    for i, j, sim in verified:
        if i < n_ref:
            row = j - n_ref
            if reason[row] != "contaminated" or sim > (similarity[row] or 0):
                reason[row], dup_of[row], similarity[row] = "contaminated", i, sim
    links = [(i - n_ref, j - n_ref) for i, j, _ in verified if i >= n_ref]
    links = [(i, j) for i, j in links if reason[i] is None and reason[j] is None]
    uf = UnionFind(n)
    for i, j in links:
        uf.union(i, j)
    removed: list[tuple[int, int, float]] = []
    members_all = sorted({m for pair in links for m in pair})
    clusters = [m for m in uf.groups(members_all).values() if len(m) > 1]
    data.prefetch(np.array(members_all, dtype=np.int64))
    for members in clusters:
        keep = _keeper(members, lengths)
        for m in members:
            if m != keep:
                sim = jaccard(data[m], data[keep])
                reason[m], dup_of[m], similarity[m] = "near_duplicate", keep, sim
                removed.append((m, keep, sim))
    details["near"] = {
        "threshold": near.threshold,
        "num_perm": near.num_perm,
        "ngram": near.ngram,
        "bands": bands,
        "rows": rows,
        "candidates": int(len(pairs)),
        "verified": len(verified),
        "removed": len(removed),
        "clusters": len(clusters),
        "similarity_histogram": score_histogram([s for _, _, s in removed]),
    }
    logger.debug("near dedup: %s", details["near"])
    return removed


def _examples(ds: Dataset, removed: list[tuple[int, int, float]], limit: int = 3) -> list[dict[str, Any]]:
    """A few removed rows beside the row kept in their place, lowest similarity first."""
    chosen = sorted(removed, key=lambda r: (r[2], r[0]))[:limit]
    rows = ds.select([i for pair in chosen for i in pair[:2]])
    out = []
    for k, (_, _, sim) in enumerate(chosen):
        a, b = rows[2 * k], rows[2 * k + 1]
        out.append({"removed": a[schema.ID], "kept": b[schema.ID], "similarity": round(sim, 4),
                    "removed_text": a[schema.TEXT][:300], "kept_text": b[schema.TEXT][:300]})
    return out


def exact(ds: Dataset, *, keep: str = "first") -> tuple[Dataset, StageStats]:
    """Remove exact duplicates from any dataset with ``id`` and ``text`` columns."""
    return dedup(ds, Dedup(exact=True, keep=keep, near=NearDedup(enabled=False)))


def near(
    ds: Dataset, *, threshold: float = 0.8, num_perm: int = 128, ngram: int = 5, seed: int = 42, keep: str = "first"
) -> tuple[Dataset, StageStats]:
    """Remove exact and near duplicates, e.g. ``near(ds, threshold=0.8)``."""
    cfg = Dedup(keep=keep, near=NearDedup(threshold=threshold, num_perm=num_perm, ngram=ngram))
    return dedup(ds, cfg, seed=seed)


def fingerprints(
    ds: Dataset, *, ngram: int = 5, num_perm: int = 128, seed: int = 42, desc: str = "fingerprint",
    engine: Engine | None = None,
) -> tuple[list[str], np.ndarray]:
    """Exact hashes and MinHash signatures of every row; the same map as dedup's with the same
    settings, so ``Dataset.map`` serves it from dedup's cache files."""
    hashes, sigs = _fingerprints(ds, NearDedup(ngram=ngram, num_perm=num_perm), seed, desc, engine)
    assert sigs is not None
    return hashes, sigs


def similar_pairs(
    ds: Dataset,
    sigs: np.ndarray,
    *,
    threshold: float,
    ngram: int = 5,
    keep: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``i < j``, whose word n-gram Jaccard is at least ``threshold``, and that Jaccard.

    LSH candidates (bands chosen for ``threshold``) are verified with the exact Jaccard, so no
    pair below the threshold is returned. ``keep(pairs) -> bool mask`` drops candidates before
    verification (the leakage check keeps only pairs across splits).
    """
    bands, rows = lsh_params(threshold, sigs.shape[1])
    pairs = candidate_pairs(sigs, bands, rows) if len(sigs) > 1 else np.zeros((0, 2), dtype=np.int64)
    if keep is not None and len(pairs):
        pairs = pairs[keep(pairs)]
    # Verified a slice of pairs at a time, with the shingle sets of that slice's rows only: at low
    # thresholds LSH gives millions of candidates, and the sets of every row they touch would
    # not fit (2.5 GB for 900k rows at threshold 0.5).
    sims = np.empty(len(pairs), dtype=np.float64)
    for start in range(0, len(pairs), _VERIFY_PAIRS):
        chunk = pairs[start : start + _VERIFY_PAIRS]
        data = _Shingles(ds, ngram)  # the previous slice's sets go with the previous cache
        data.prefetch(chunk.ravel())
        sims[start : start + len(chunk)] = [jaccard(data[i], data[j]) for i, j in chunk.tolist()]
    verified = sims >= threshold
    return pairs[verified], sims[verified]
