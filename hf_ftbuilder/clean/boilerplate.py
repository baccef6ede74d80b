"""Corpus-level boilerplate: lines that stand in many documents (cookie notices, "Subscribe to
our newsletter", navigation) are counted in one pass and removed in a second.

Only documents of two or more lines are counted and stripped: a one-line document that repeats
(an SMS "Ok") is a duplicate for dedup to handle, not boilerplate.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import schema

__all__ = ["line_hash", "line_hashes_batch", "repeated_lines", "strip_boilerplate_batch"]


def line_hash(line: str) -> int:
    """A signed 64-bit hash of a line with case and spacing folded."""
    key = " ".join(line.casefold().split()).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little", signed=True)


def _lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


def line_hashes_batch(batch: dict[str, list]) -> dict[str, list]:
    """Each multi-line document's distinct line hashes (empty for one-line documents)."""
    out = []
    for text in batch[schema.TEXT]:
        lines = _lines(text)
        out.append(sorted({line_hash(line) for line in lines}) if len(lines) > 1 else [])
    return {schema.LINE_HASHES: out}


def repeated_lines(hash_lists: pa.ChunkedArray | list[list[int]], min_docs: int) -> list[int]:
    """Hashes found in at least ``min_docs`` documents, sorted (so the step's fingerprint is stable).

    ``hash_lists`` holds each document's distinct hashes (``line_hashes_batch``), best as the Arrow
    column: it is flattened to one int64 array without a Python object per hash.
    """
    if isinstance(hash_lists, list):
        hash_lists = pa.chunked_array([pa.array(hash_lists, type=pa.list_(pa.int64()))])
    flat = pc.list_flatten(hash_lists).to_numpy()
    if not len(flat):
        return []
    values, counts = np.unique(flat, return_counts=True)
    return values[counts >= min_docs].tolist()


def strip_boilerplate_batch(batch: dict[str, list], *, repeated: list[int]) -> dict[str, list]:
    """Remove repeated lines from multi-line documents; a document left empty gets ``boilerplate``."""
    drop = set(repeated)
    texts, touched, reasons = [], [], []
    # The row's distinct line hashes, when pass 1 left them: a row with none of the repeated ones
    # keeps every line, and its lines are not hashed again.
    hashes = batch.get(schema.LINE_HASHES) or [None] * len(batch[schema.TEXT])
    for text, names, prior, mine in zip(batch[schema.TEXT], batch[schema.TOUCHED], batch[schema.DROP_REASON], hashes):
        lines = text.split("\n")
        if prior is None and (mine is None or not drop.isdisjoint(mine)) and len(_lines(text)) > 1:
            kept = [line for line in lines if not line.strip() or line_hash(line) not in drop]
            if len(kept) != len(lines):
                names = [*names, "boilerplate"]
                text = "\n".join(kept).strip()
                while "\n\n\n" in text:
                    text = text.replace("\n\n\n", "\n\n")
        texts.append(text)
        touched.append(names)
        reasons.append(prior if prior is not None else ("boilerplate" if not text.strip() else None))
    return {schema.TEXT: texts, schema.TOUCHED: touched, schema.DROP_REASON: reasons}
