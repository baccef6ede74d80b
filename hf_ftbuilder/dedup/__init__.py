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
from typing import Any

import numpy as np
from datasets import Dataset, Value

from .. import schema
from ..arrow_cache import add_columns
from ..config import Dedup, NearDedup
from ..context import StageContext
from ..minhash import Shingling, UnionFind, candidate_pairs, fingerprints, lsh_params, verify_pairs
from ..stats import StageStats, score_histogram, split_dropped

__all__ = ["dedup", "exact", "near"]

logger = logging.getLogger(__name__)

def _ordered(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _keeper(members: list[int], lengths: list[int] | None) -> int:
    if lengths is None:
        return min(members)
    return min(members, key=lambda m: (-lengths[m], m))


def dedup(
    ds: Dataset, cfg: Dedup, *, context: StageContext | None = None, reference: Dataset | None = None
) -> tuple[Dataset, StageStats]:
    """Remove exact and near duplicates, and rows that duplicate the reference set.

    Args:
        ds: rows with ``id`` and ``text``.
        cfg: the recipe's ``dedup`` section.
        context: ``seed`` seeds the MinHash permutations; ``engine`` computes the fingerprints.
        reference: rows (``id``, ``text``) to decontaminate against, from ``dedup.against``.

    Returns:
        The kept rows with ``dup_cluster`` and ``dup_count``, and the stats; the removed rows
        (with ``dup_of``, ``dup_cluster``, ``similarity``) are in ``stats.dropped_rows``.
    """
    context = context or StageContext()
    seed, engine = context.seed, context.engine
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

    shingling = Shingling(cfg.near.ngram, cfg.near.num_perm) if cfg.near.enabled else None
    hashes, sigs = fingerprints(ds, shingling, seed=seed, desc="dedup: fingerprint", engine=engine)
    ref_sigs = None
    if reference is not None:
        ref_hashes, ref_sigs = fingerprints(reference, shingling, seed=seed, desc="dedup: fingerprint reference",
                                            engine=engine)
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
    parts = [reference, ds] if n_ref and reference is not None else [ds]
    sims = verify_pairs(pairs, parts, near.ngram)
    verified = [(i, j, sim) for (i, j), sim in zip(pairs.tolist(), sims.tolist()) if sim >= near.threshold]

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
    members_all = sorted({m for pair in links for m in pair})
    clusters = [m for m in uf.groups(members_all).values() if len(m) > 1]
    to_keeper = []
    for members in clusters:
        keep = _keeper(members, lengths)
        to_keeper += [(m, keep) for m in members if m != keep]
    # Each removed row's Jaccard with the row kept in its place: most such pairs were verified
    # above (candidate pairs are ordered, i < j); only rows that joined through a chain need
    # their Jaccard with the keeper computed.
    known = {(i - n_ref, j - n_ref): sim for i, j, sim in verified if i >= n_ref}
    chained = sorted({_ordered(m, keep) for m, keep in to_keeper} - known.keys())
    found = verify_pairs(np.array(chained, dtype=np.int64).reshape(-1, 2), [ds], near.ngram)
    known.update(zip(chained, found.tolist()))
    kept_sims = [known[_ordered(m, keep)] for m, keep in to_keeper]
    removed: list[tuple[int, int, float]] = []
    for (m, keep), sim in zip(to_keeper, kept_sims):
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
    return dedup(ds, cfg, context=StageContext(seed=seed))
