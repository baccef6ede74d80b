"""Size, balance, lengths and lexical diversity of the built splits.

Words are ``\\w+`` tokens of the lower-cased text. Tokens are counted with a Hugging Face tokenizer
(``report.tokenizer``, default the offline all-MiniLM-L6-v2's), so sizes read in the unit a
fine-tuning run budgets in.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .. import schema
from ..embedder import resolve_model
from ..engine import on_cores
from ..minhash import word_counts

__all__ = ["TokenCounts", "balance", "diversity", "length_summary", "lengths", "lexical", "row_stats_batch", "size", "token_counter"]

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


def _word_ids(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """The texts' words as ids of a vocabulary of these texts: every text's ids one after
    another, the words of each text, the vocabulary (a word's id is its position), and the ids'
    :func:`_gaps` (this range's part of the MATTR)."""
    vocabulary: dict[str, int] = {}
    per_text = []
    for text in texts:
        words = _words(text)
        if isinstance(words, list):
            for word in dict.fromkeys(words):  # new words first, then one lookup per word in C
                vocabulary.setdefault(word, len(vocabulary))
            per_text.append(np.fromiter(map(vocabulary.__getitem__, words), dtype=np.int32, count=len(words)))
        else:
            per_text.append(np.fromiter((vocabulary.setdefault(w, len(vocabulary)) for w in words), dtype=np.int32))
    counts = np.fromiter(map(len, per_text), dtype=np.int64, count=len(per_text))
    ids = np.concatenate(per_text) if per_text else np.zeros(0, dtype=np.int32)
    return ids, counts, list(vocabulary), _gaps(ids)


def row_stats_batch(batch: dict[str, list]) -> dict[str, list]:
    """Characters and words of each row: only these integers leave the dataset, and sizes and
    length figures are sums and percentiles of them, so the report never holds the texts."""
    texts = batch[schema.TEXT]
    return {schema.CHARS: [len(t) for t in texts], schema.WORDS: word_counts(texts).tolist()}


def token_counter(name: str) -> Any:
    """The Rust tokenizer of a Hugging Face tokenizer, without truncation or padding: what token
    counts need, and nothing else.

    A model folder with a ``tokenizer.json`` is read by ``tokenizers`` alone, in milliseconds;
    ``AutoTokenizer`` (for the rest: a Hub id, a model with only a slow tokenizer) first imports
    transformers and torch, about 5 s that a build labelled from a column pays for nothing else.
    Both give the same counts (tests/quality/test_report.py).

    Raises:
        OSError, ValueError: the tokenizer cannot be loaded.
    """
    ref = resolve_model(name)
    if (Path(ref) / "tokenizer.json").is_file():
        from tokenizers import Tokenizer

        try:
            backend = Tokenizer.from_file(str(Path(ref) / "tokenizer.json"))
        except Exception as exc:  # the Rust side raises its own Exception type on a malformed file
            raise ValueError(f"{Path(ref) / 'tokenizer.json'}: {str(exc).splitlines()[0]}") from None
    else:
        from transformers import AutoTokenizer

        backend = AutoTokenizer.from_pretrained(ref).backend_tokenizer
    backend.no_truncation()
    backend.no_padding()
    return backend


class TokenCounts:
    """The report's model step: tokens of each row (``Engine.map_model``); the tokenizer loads on first use."""

    def __init__(self, tokenizer: str) -> None:
        self.tokenizer_name = tokenizer
        self._backend: Any = None

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        if self._backend is None:
            # The Rust tokenizer itself: the same token counts as the Python wrapper without
            # building a list of ids per text (a third faster on 2 KB documents).
            self._backend = token_counter(self.tokenizer_name)
        # encode_batch_fast leaves out the character offsets, which a count does not read (15% less).
        encoded = self._backend.encode_batch_fast(batch[schema.TEXT], add_special_tokens=False)
        return {schema.TOKENS: [len(e) for e in encoded]}


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


def _gaps(ids: np.ndarray) -> np.ndarray:
    """How many tokens back each token's previous occurrence is, ``_MATTR_WINDOW`` when it is
    that far or more (or there is none): all that the MATTR needs of the ids."""
    w = _MATTR_WINDOW
    order = np.argsort(ids, kind="stable").astype(np.int32)
    same = ids[order[1:]] == ids[order[:-1]]
    later, earlier = order[1:][same], order[:-1][same]
    del order, same
    gaps = np.full(len(ids), w, dtype=np.uint8)
    gaps[later] = np.minimum(later - earlier, w)
    return gaps


def _mattr(gaps: np.ndarray, ids: np.ndarray) -> float:
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
    # The first window start in which each token is new: just after its previous occurrence, or
    # the first window that holds it. int32 in place: at 7 million tokens each array is 28 MB.
    first = np.arange(1, n + 1, dtype=np.int32)
    first -= gaps
    np.clip(first, 0, None, out=first)
    delta = np.bincount(first, minlength=n + 1)
    del first
    delta[1:] -= 1  # token i stops adding at window start i + 1
    distinct = np.cumsum(delta[: n - w + 1], out=delta[: n - w + 1])
    return float(distinct.sum() / len(distinct) / w)


def _join_gaps(parts: list[np.ndarray], stream: np.ndarray) -> np.ndarray:
    """The gaps of the whole stream from those of its ranges (each range only saw itself): a
    token among a range's first ``_MATTR_WINDOW - 1`` without an earlier occurrence in its range
    looks for one at the end of the ranges before."""
    w = _MATTR_WINDOW
    gaps = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)
    start = 0
    for part in parts[:-1]:
        start += len(part)
        for at in range(start, min(start + w - 1, len(stream))):
            if gaps[at] == w:
                lo = max(at - w + 1, 0)
                seen = np.flatnonzero(stream[lo:start] == stream[at])
                if len(seen):
                    gaps[at] = at - lo - seen[-1]
    return gaps


#: Texts per process below which numbering words in one process is quicker than forking another.
_PARALLEL_WORD_TEXTS = 1_000


def diversity(texts: Sequence[str]) -> dict[str, Any]:
    """distinct-1 and distinct-2 (unique n-grams / all n-grams), vocabulary size, and the MATTR of
    the texts read one after another (window 50)."""
    return lexical(texts)[0]


def lexical(texts: Sequence[str]) -> tuple[dict[str, Any], np.ndarray]:
    """:func:`diversity`'s figures, and the words of each text (its :func:`word_count`), which
    numbering the words counts anyway.

    Words become integer ids (one dict of the vocabulary), bigrams one int64 each: no Python
    object per n-gram, which at 20,000 documents of 2 KB was half a gigabyte of tuples. Each core
    numbers the words of a range of the texts and finds each word's previous occurrence there
    (splitting words and sorting ids are most of the cost); the ranges' vocabularies then merge
    into one, and their occurrences join at the ranges' edges.
    """
    vocabulary: dict[str, int] = {}
    streams, counts, gaps = [], [], []
    for ids, per_text, words, range_gaps in on_cores(_word_ids, texts, min_per_core=_PARALLEL_WORD_TEXTS):
        merged = np.fromiter((vocabulary.setdefault(w, len(vocabulary)) for w in words), dtype=np.int32, count=len(words))
        streams.append(merged[ids])
        counts.append(per_text)
        gaps.append(range_gaps)
    stream = np.concatenate(streams)
    words_per_text = np.concatenate(counts)
    ends = np.cumsum(words_per_text)
    total_uni = len(stream)
    # Pairs of neighbouring words; those that straddle two texts (at each non-empty text's last
    # word) become -1, which sorts first and is never a real bigram.
    bigrams = np.multiply(stream[:-1], np.int64(len(vocabulary)), dtype=np.int64) if total_uni else np.zeros(0, np.int64)
    bigrams += stream[1:]
    straddling = np.unique(ends[(ends > 0) & (ends < total_uni)] - 1)
    bigrams[straddling] = -1
    bigrams.sort()  # in place: distinct values are where the sorted array changes
    real = bigrams[len(straddling):]
    distinct_bigrams = int(np.count_nonzero(real[1:] != real[:-1])) + 1 if len(real) else 0
    total_bi = len(real)
    del bigrams, real
    return {
        "distinct_1": round(len(vocabulary) / total_uni, 6) if total_uni else 0.0,
        "distinct_2": round(distinct_bigrams / total_bi, 6) if total_bi else 0.0,
        "vocabulary": len(vocabulary),
        "mattr": round(_mattr(_join_gaps(gaps, stream), stream), 6),
    }, words_per_text
