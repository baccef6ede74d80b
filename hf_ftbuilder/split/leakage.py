"""The leakage check: validation and test rows that copy, or nearly copy, a train row.

Run after every split method. For each validation and test row it looks for the most similar
train row: by the exact hash of the normalised text (as dedup computes it), by the Jaccard of word
n-gram sets (``dedup.near``'s n-grams and permutations) (MinHash LSH candidates, verified exactly), and with ``leakage.embedding`` by cosine
similarity of sentence embeddings. A row counts as leaked when any of them reaches its threshold.
``action``: ``report`` counts and shows examples, ``drop`` removes the leaked rows (reason
``leaked``), ``fail`` stops the build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset

from .. import schema
from ..config import Leakage
from ..embedder import Embedder
from ..engine import Engine
from ..errors import StageError
from ..minhash import Shingling, fingerprints, similar_pairs

__all__ = ["check"]

_CHUNK = 2048  # evaluation rows compared with all of train at once (embedding cosine)


def _nearest_by_embedding(
    ds: Dataset, train: np.ndarray, evaluated: np.ndarray, cache_dir: Path | None, model: str | None,
    engine: Engine | None,
) -> tuple[np.ndarray, np.ndarray]:
    """For each evaluated row, its most similar train row and the cosine similarity."""
    embedder = Embedder(model, cache_dir=cache_dir, progress=False, engine=engine)
    train_vectors = embedder.encode(ds.select(train), desc="leakage: embed train")
    eval_vectors = embedder.encode(ds.select(evaluated), desc="leakage: embed validation/test")
    best = np.zeros(len(evaluated), dtype=np.int64)
    cosine = np.zeros(len(evaluated), dtype=np.float32)
    for start in range(0, len(evaluated), _CHUNK):
        sims = eval_vectors[start : start + _CHUNK] @ train_vectors.T
        best[start : start + _CHUNK] = train[sims.argmax(axis=1)]
        cosine[start : start + _CHUNK] = sims.max(axis=1)
    return best, cosine


def check(
    ds: Dataset,
    indices: dict[str, list[int]],
    cfg: Leakage,
    *,
    seed: int,
    shingling: Shingling | None = None,
    cache_dir: Path | None = None,
    embedding_model: str | None = None,
    engine: Engine | None = None,
) -> tuple[dict[str, Any], set[int]]:
    """Find the validation/test rows of ``ds`` (split by ``indices``) that leak from train.

    Args:
        shingling: the word n-grams and permutations of the near-copy measure (``dedup.near``'s;
            default 5-grams, 128 permutations).

    Returns:
        The report (per split: rows checked, exact, near and embedding counts, leaked rows, and
        examples) and the leaked row indices.

    Raises:
        StageError: rows leaked and ``action`` is ``fail``.
    """
    shingling = shingling or Shingling()
    train = np.asarray(indices.get("train", []), dtype=np.int64)
    split_of = np.full(ds.num_rows, -1, dtype=np.int64)
    names = [s for s in indices if s != "train"]
    for k, name in enumerate(names):
        split_of[np.asarray(indices[name], dtype=np.int64)] = k
    split_of[train] = len(names)  # train
    evaluated = np.flatnonzero((split_of >= 0) & (split_of < len(names)))
    report: dict[str, Any] = {"threshold": cfg.threshold, "action": cfg.action, "splits": {}}
    if not len(evaluated) or not len(train):
        return report, set()

    hashes, sigs = fingerprints(ds, shingling, seed=seed, desc="leakage: fingerprint", engine=engine)
    assert sigs is not None
    ids = ds.with_format("arrow")[schema.ID].to_pylist()
    # Best match per evaluated row: (kind, train row, similarity).
    best: dict[int, tuple[str, int, float]] = {}
    first_train: dict[str, int] = {}
    for i in train.tolist():
        first_train.setdefault(hashes[i], i)
    for i in evaluated.tolist():
        if hashes[i] in first_train:
            best[i] = ("exact", first_train[hashes[i]], 1.0)

    is_train = split_of == len(names)

    def across(pairs: np.ndarray) -> np.ndarray:
        a, b = is_train[pairs[:, 0]], is_train[pairs[:, 1]]
        return (a != b) & (split_of[pairs[:, 0]] >= 0) & (split_of[pairs[:, 1]] >= 0)

    pairs, sims = similar_pairs(ds, sigs, threshold=cfg.threshold, ngram=shingling.ngram, keep=across)
    near_best: dict[int, tuple[int, float]] = {}
    for (i, j), sim in zip(pairs.tolist(), sims.tolist()):
        row, other = (j, i) if is_train[i] else (i, j)
        if row not in near_best or sim > near_best[row][1]:
            near_best[row] = (other, sim)
    for row, (other, sim) in near_best.items():
        if row not in best:
            best[row] = ("near", other, sim)

    embedding_hits: dict[int, tuple[int, float]] = {}
    if cfg.embedding:
        nearest, cosine = _nearest_by_embedding(ds, train, evaluated, cache_dir, embedding_model, engine)
        for row, other, cos in zip(evaluated.tolist(), nearest.tolist(), cosine.tolist()):
            if cos >= cfg.embedding_threshold:
                embedding_hits[row] = (other, cos)
                best.setdefault(row, ("embedding", other, cos))

    leaked = set(best)
    for k, name in enumerate(names):
        rows = set(np.flatnonzero(split_of == k).tolist())
        mine = sorted(leaked & rows)
        entry = {
            "rows": len(rows),
            "exact": sum(1 for r in mine if best[r][0] == "exact"),
            "near": sum(1 for r in rows if r in near_best),
            "leaked": len(mine),
            "share": round(len(mine) / len(rows), 6) if rows else 0.0,
            "examples": [
                {"id": ids[r], "train_id": ids[best[r][1]], "kind": best[r][0], "similarity": round(best[r][2], 4)}
                for r in sorted(mine, key=lambda r: (-best[r][2], r))[: cfg.examples]
            ],
        }
        if cfg.embedding:
            entry["embedding"] = sum(1 for r in rows if r in embedding_hits)
        report["splits"][name] = entry
    total = len(leaked)
    report["leaked"] = total
    if total and cfg.action == "fail":
        counts = ", ".join(f"{n} {e['leaked']} of {e['rows']}" for n, e in report["splits"].items())
        raise StageError(f"leakage: rows copy or nearly copy a train row ({counts}); leakage.action is fail")
    return report, leaked
