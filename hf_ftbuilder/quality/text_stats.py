"""Size, balance, lengths and lexical diversity of the built splits.

Words are ``\\w+`` tokens of the lower-cased text. Tokens are counted with a Hugging Face tokenizer
(``report.tokenizer``, default the offline all-MiniLM-L6-v2's), so sizes read in the unit a
fine-tuning run budgets in.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import numpy as np

__all__ = ["RowStats", "balance", "diversity", "lengths", "length_summary", "size"]

_WORD = re.compile(r"\w+")
_LENGTH_EDGES = (0, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
_MATTR_WINDOW = 50


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class RowStats:
    """The report's model step: characters, words and tokens of each row (``Engine.map_model``).

    Only these three integers per row leave the dataset; sizes and length figures are sums and
    percentiles of them, so the report never holds the texts. The tokenizer loads on first use.
    """

    def __init__(self, tokenizer: str | None) -> None:
        self.tokenizer_name = tokenizer
        self._tokenizer: Any = None

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        texts = batch["text"]
        out: dict[str, list] = {"_chars": [len(t) for t in texts], "_words": [len(words(t)) for t in texts]}
        if self.tokenizer_name is not None:
            if self._tokenizer is None:
                from ..embedder import resolve_model
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(resolve_model(self.tokenizer_name))
            encoded = self._tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
            out["_tokens"] = [len(ids) for ids in encoded]
        else:
            out["_tokens"] = [None] * len(texts)
        return out


def size(texts: list[str], tokenizer: Any | None) -> dict[str, int]:
    """Rows, characters, words and (with a tokenizer) tokens."""
    out = {"rows": len(texts), "characters": sum(map(len, texts)), "words": sum(len(words(t)) for t in texts)}
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
    return length_summary(np.array([len(words(t)) for t in texts]) if texts else np.zeros(0))


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


def _mattr(tokens: list[str]) -> float:
    """Moving-average type-token ratio over windows of ``_MATTR_WINDOW`` tokens (plain TTR if shorter)."""
    if not tokens:
        return 0.0
    if len(tokens) <= _MATTR_WINDOW:
        return len(set(tokens)) / len(tokens)
    window = Counter(tokens[:_MATTR_WINDOW])
    ratios = [len(window) / _MATTR_WINDOW]
    for i in range(_MATTR_WINDOW, len(tokens)):
        old = tokens[i - _MATTR_WINDOW]
        window[old] -= 1
        if not window[old]:
            del window[old]
        window[tokens[i]] += 1
        ratios.append(len(window) / _MATTR_WINDOW)
    return float(np.mean(ratios))


def diversity(texts: list[str]) -> dict[str, Any]:
    """distinct-1 and distinct-2 (unique n-grams / all n-grams), vocabulary size, and the MATTR of
    the texts read one after another (window 50)."""
    unigrams: Counter[str] = Counter()
    bigrams: Counter[tuple[str, str]] = Counter()
    stream: list[str] = []
    for text in texts:
        toks = words(text)
        unigrams.update(toks)
        bigrams.update(zip(toks, toks[1:]))
        stream.extend(toks)
    total_uni, total_bi = sum(unigrams.values()), sum(bigrams.values())
    return {
        "distinct_1": round(len(unigrams) / total_uni, 6) if total_uni else 0.0,
        "distinct_2": round(len(bigrams) / total_bi, 6) if total_bi else 0.0,
        "vocabulary": len(unigrams),
        "mattr": round(_mattr(stream), 6),
    }
