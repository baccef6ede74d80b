"""MinHash signatures, LSH banding and exact Jaccard: shared by dedup, group splits and leakage.

Texts become sets of word n-gram shingles (``\\w+`` tokens of the normalised text, hashed with
xxh64 and combined with numpy, so there is no Python loop per shingle). A signature keeps, for
each of ``num_perm`` seeded hash functions, the smallest value over the shingles, as ``uint32``: 100,000 documents at 128 permutations take 51 MB.

LSH bands are chosen so that a pair at the target Jaccard becomes a candidate with probability
at least 0.995 (the S-curve's midpoint then sits well below the target); candidates are then
verified against the target with the exact Jaccard of their shingle sets, so the band choice
costs time, never precision.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import xxhash

from .text_norm import normalize_for_hash

__all__ = [
    "UnionFind",
    "candidate_pairs",
    "jaccard",
    "lsh_params",
    "permutations",
    "shingle_hashes",
    "shingles",
    "signature",
    "signatures_batch",
]

_SHIFT = np.uint64(32)
_TOKEN = re.compile(r"\w+")
# Multipliers that mix the token hashes of an n-gram into one 64-bit value (odd, fixed).
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5,
                 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x94D049BB133111EB, 0xBF58476D1CE4E5B9,
                 0x85EBCA77C2B2AE63, 0xD6E8FEB86659FD93], dtype=np.uint64)


def shingle_hashes(normalized: str, ngram: int) -> np.ndarray:
    """64-bit hashes of the word n-grams of an already normalised text, in order, repeats kept."""
    tokens = _TOKEN.findall(normalized)
    if not tokens:
        return np.zeros(0, dtype=np.uint64)
    if ngram > len(_MIX):
        raise ValueError(f"ngram must be at most {len(_MIX)}; got {ngram}")
    hashes = np.fromiter(map(xxhash.xxh64_intdigest, map(str.encode, tokens)), dtype=np.uint64, count=len(tokens))
    n = min(ngram, len(hashes))
    width = len(hashes) - n + 1
    with np.errstate(over="ignore"):
        mixed = hashes[:width] * _MIX[0]
        for k in range(1, n):  # n shifted slices: no Python loop over the shingles themselves
            mixed += hashes[k : k + width] * _MIX[k]
    return mixed


def shingles(text: str, ngram: int) -> np.ndarray:
    """Sorted distinct 64-bit hashes of the text's word n-grams (one shingle for shorter texts)."""
    return np.unique(shingle_hashes(normalize_for_hash(text), ngram))


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The seeded ``a`` (odd) and ``b`` of each hash function."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**64 - 1, size=num_perm, dtype=np.uint64, endpoint=True) | np.uint64(1)
    b = rng.integers(0, 2**64 - 1, size=num_perm, dtype=np.uint64, endpoint=True)
    return a, b


def signature(values: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The MinHash signature (``uint32[num_perm]``) of shingle hashes (repeats do not matter);
    all ones for an empty set.

    Each hash function is multiply-add-shift, ``(a * x + b) mod 2**64 >> 32``, a universal
    family that needs no modulo (four times faster than ``mod 2**61 - 1`` here).
    """
    if len(values) == 0:
        return np.full(len(a), 0xFFFFFFFF, dtype=np.uint32)
    with np.errstate(over="ignore"):
        hashed = np.multiply.outer(a, values)
        hashed += b[:, None]
    # The shift is monotonic, so it can follow the minimum: one pass over num_perm values, not all.
    return (hashed.min(axis=1) >> _SHIFT).astype(np.uint32)


def signatures_batch(batch: dict[str, list], *, ngram: int, num_perm: int, seed: int) -> dict[str, list]:
    """MinHash signatures of a batch's ``text`` (for ``Dataset.map``)."""
    a, b = permutations(num_perm, seed)
    return {"_minhash": [signature(shingle_hashes(normalize_for_hash(t), ngram), a, b) for t in batch["text"]]}


def lsh_params(threshold: float, num_perm: int, target_recall: float = 0.995) -> tuple[int, int]:
    """Bands and rows: the most rows per band whose S-curve still admits a pair at ``threshold``
    with probability ``target_recall`` (fewest false candidates for that recall)."""
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if bands < 1:
            break
        if 1 - (1 - threshold**rows) ** bands >= target_recall:
            best = (bands, rows)
    return best


def candidate_pairs(signatures: np.ndarray, bands: int, rows: int, *, all_pairs_up_to: int = 32) -> np.ndarray:
    """Pairs ``(i, j)``, ``i < j``, that share a band.

    A bucket of up to ``all_pairs_up_to`` members gives all its pairs; a larger one (many
    copies of one text) gives each member paired with the first and with its predecessor, which
    keeps the count linear and still links the whole bucket.
    """
    n = len(signatures)
    out: list[np.ndarray] = []
    weights = _MIX[:rows] if rows <= len(_MIX) else None
    for band in range(bands):
        block = signatures[:, band * rows : (band + 1) * rows].astype(np.uint64)
        if weights is not None:
            with np.errstate(over="ignore"):
                keys = (block * weights).sum(axis=1, dtype=np.uint64)
        else:
            keys = np.array([xxhash.xxh64_intdigest(row.tobytes()) for row in block], dtype=np.uint64)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        sizes = np.diff(np.r_[starts, n])
        twos = starts[sizes == 2]  # most buckets that matter hold one pair: no Python loop for them
        if len(twos):
            pair = np.sort(np.stack([order[twos], order[twos + 1]], axis=1), axis=1)
            out.append(pair)
        for start, size in zip(starts[sizes > 2], sizes[sizes > 2]):
            members = np.sort(order[start : start + size])
            if size <= all_pairs_up_to:
                i, j = np.triu_indices(size, k=1)
                out.append(np.stack([members[i], members[j]], axis=1))
            else:
                out.append(np.stack([np.full(size - 1, members[0]), members[1:]], axis=1))
                out.append(np.stack([members[:-1], members[1:]], axis=1))
    if not out:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(out).astype(np.int64)
    return np.unique(pairs, axis=0)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted distinct shingle arrays."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


class UnionFind:
    """Disjoint sets over ``0..n-1``; the root of a set is its smallest member."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, x: int, y: int) -> None:
        rx, ry = self.find(x), self.find(y)
        if rx != ry:
            self.parent[max(rx, ry)] = min(rx, ry)

    def groups(self, members: Iterable[int]) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for m in members:
            out.setdefault(self.find(m), []).append(m)
        return out


