"""Size, balance, lengths and lexical diversity of the built splits.

Words are ``\\w+`` tokens of the lower-cased text. Tokens are counted with a Hugging Face tokenizer
(``report.tokenizer``, default the offline all-MiniLM-L6-v2's), so sizes read in the unit a
fine-tuning run budgets in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import schema
from ..embedder import resolve_model

__all__ = ["TokenCounts", "balance", "diversity", "length_summary", "lengths", "row_stats_batch", "size"]

_WORD = re.compile(r"\w+")
_LENGTH_EDGES = (0, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
_MATTR_WINDOW = 50


#: Texts longer than this are tokenised one match at a time: a 53 MB row is 9 million words, half
#: a gigabyte as a list. Shorter ones use findall, a third faster.
_LONG_TEXT = 1_000_000


def _words(text: str) -> Iterable[str]:
    """The ``\\w+`` tokens of the lower-cased text."""
    lowered = text.lower()
    if len(lowered) < _LONG_TEXT:
        return _WORD.findall(lowered)
    return (m.group() for m in _WORD.finditer(lowered))


def word_count(text: str) -> int:
    """Words of a text (``\\w+`` tokens of the lower-cased text)."""
    # subn counts the matches without making a string of each: a fifth faster than findall.
    return sum(1 for _ in _words(text)) if len(text) >= _LONG_TEXT else _WORD.subn("", text.lower())[1]


def _word_ids(text: str, vocabulary: dict[str, int]) -> np.ndarray:
    """The vocabulary ids of the text's words, in order."""
    return np.fromiter((vocabulary.setdefault(w, len(vocabulary)) for w in _words(text)), dtype=np.int32)


def row_stats_batch(batch: dict[str, list]) -> dict[str, list]:
    """Characters and words of each row: only these integers leave the dataset, and sizes and
    length figures are sums and percentiles of them, so the report never holds the texts."""
    texts = batch[schema.TEXT]
    return {schema.CHARS: [len(t) for t in texts], schema.WORDS: [word_count(t) for t in texts]}


class TokenCounts:
    """The report's model step: tokens of each row (``Engine.map_model``); the tokenizer loads on first use."""

    def __init__(self, tokenizer: str) -> None:
        self.tokenizer_name = tokenizer
        self._backend: Any = None

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        if self._backend is None:
            from transformers import AutoTokenizer

            # The Rust tokenizer itself: the same token counts as the Python wrapper without
            # building a list of ids per text (a third faster on 2 KB documents).
            backend = AutoTokenizer.from_pretrained(resolve_model(self.tokenizer_name)).backend_tokenizer
            backend.no_truncation()
            backend.no_padding()
            self._backend = backend
        return {schema.TOKENS: [len(e) for e in self._backend.encode_batch(batch[schema.TEXT], add_special_tokens=False)]}


def size(texts: list[str], tokenizer: Any | None) -> dict[str, int]:
    """Rows, characters, words and (with a tokenizer) tokens."""
    out = {"rows": len(texts), "characters": sum(map(len, texts)), "words": sum(map(word_count, texts))}
    if tokenizer is not None and texts:
        total = 0
        for start in range(0, len(texts), 1000):
            encoded = tokenizer(texts[start : start + 1000], add_special_tokens=False, truncation=False)["input_ids"]
            total += sum(map(len, encoded))
        out["tokens"] = total
    return out


def balance(counts: dict[str, int]) -> dict[str, Any]:
    """Shares, imbalance ratio (largest/smallest present class) and entropy normalised to 0..1."""
    n = sum(counts.values())
    present = [c for c in counts.values() if c]
    shares = {k: round(v / n, 6) if n else 0.0 for k, v in counts.items()}
    entropy = -sum((c / n) * math.log(c / n) for c in present) if n else 0.0
    return {
        "counts": counts,
        "shares": shares,
        "imbalance_ratio": round(max(present) / min(present), 4) if present else None,
        "normalized_entropy": round(entropy / math.log(len(counts)), 6) if len(counts) > 1 and n else 1.0,
    }


def lengths(texts: list[str]) -> dict[str, Any]:
    """Words per row: percentiles and a histogram with fixed edges (comparable between builds)."""
    return length_summary(np.array([word_count(t) for t in texts]) if texts else np.zeros(0))


def length_summary(counts: np.ndarray) -> dict[str, Any]:
    """Percentiles and fixed-edge histogram of words per row, from the counts."""
    if not len(counts):
        return {"percentiles": {}, "histogram": {}}
    pct = {f"p{p}": float(np.percentile(counts, p)) for p in (5, 25, 50, 75, 95, 99)}
    edges = [*_LENGTH_EDGES, max(int(counts.max()) + 1, _LENGTH_EDGES[-1] + 1)]
    hist = np.histogram(counts, bins=edges)[0]
    return {
        "mean": round(float(counts.mean()), 3),
        "min": int(counts.min()),
        "max": int(counts.max()),
        "percentiles": pct,
        "histogram": {f"{lo}-{hi - 1}" if i < len(edges) - 2 else f"{lo}+": int(c)
                      for i, (lo, hi, c) in enumerate(zip(edges, edges[1:], hist)) if c},
    }


def _mattr(ids: np.ndarray) -> float:
    """Moving-average type-token ratio over windows of ``_MATTR_WINDOW`` tokens (plain TTR if shorter).

    Counted without a window object per step: a token is new in every window that starts after
    its previous occurrence and still contains it, so each token adds 1 to a range of window
    starts (a difference array), and one cumulative sum gives every window's distinct count.
    """
    n, w = len(ids), _MATTR_WINDOW
    if not n:
        return 0.0
    if n <= w:
        return len(np.unique(ids)) / n
    # int32 throughout and in place: at 7 million tokens each array is 28 MB.
    order = np.argsort(ids, kind="stable").astype(np.int32)
    same = ids[order[1:]] == ids[order[:-1]]
    first = np.zeros(n, dtype=np.int32)  # the first window start in which each token is new
    first[order[1:][same]] = order[:-1][same] + 1
    del order, same
    np.maximum(first, np.arange(-w + 1, n - w + 1, dtype=np.int32), out=first)
    np.clip(first, 0, None, out=first)
    delta = np.bincount(first, minlength=n + 1)
    del first
    delta[1:] -= 1  # token i stops adding at window start i + 1
    distinct = np.cumsum(delta[: n - w + 1], out=delta[: n - w + 1])
    return float(distinct.sum() / len(distinct) / w)


def diversity(texts: list[str]) -> dict[str, Any]:
    """distinct-1 and distinct-2 (unique n-grams / all n-grams), vocabulary size, and the MATTR of
    the texts read one after another (window 50).

    Words become integer ids (one dict of the vocabulary), bigrams one int64 each: no Python
    object per n-gram, which at 20,000 documents of 2 KB was half a gigabyte of tuples.
    """
    vocabulary: dict[str, int] = {}
    per_text = []
    for text in texts:
        per_text.append(_word_ids(text, vocabulary))
    stream = np.concatenate(per_text) if per_text else np.zeros(0, dtype=np.int32)
    size = np.int64(len(vocabulary))
    bigrams = np.empty(sum(max(len(a) - 1, 0) for a in per_text), dtype=np.int64)
    at = 0
    for a in per_text:
        if len(a) > 1:
            np.add(a[:-1] * size, a[1:], out=bigrams[at : at + len(a) - 1])
            at += len(a) - 1
    del per_text
    bigrams.sort()  # in place: distinct values are where the sorted array changes
    distinct_bigrams = int(np.count_nonzero(bigrams[1:] != bigrams[:-1])) + 1 if len(bigrams) else 0
    total_uni, total_bi = len(stream), len(bigrams)
    del bigrams
    return {
        "distinct_1": round(len(vocabulary) / total_uni, 6) if total_uni else 0.0,
        "distinct_2": round(distinct_bigrams / total_bi, 6) if total_bi else 0.0,
        "vocabulary": len(vocabulary),
        "mattr": round(_mattr(stream), 6),
    }
