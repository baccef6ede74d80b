"""The normalised form of a text that hashing, dedup and the leakage check compare.

Two texts that differ only in case, Unicode compatibility forms or whitespace normalise to
the same string, so they count as exact duplicates.
"""

from __future__ import annotations

import unicodedata

import xxhash

__all__ = ["hash_normalized", "normalize_for_hash", "text_hash"]


def normalize_for_hash(text: str) -> str:
    """NFKC, casefolded, with every run of whitespace turned into one space."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def hash_normalized(normalized: str) -> str:
    """128-bit xxh3 of an already normalised text, as 32 hex digits."""
    return xxhash.xxh3_128_hexdigest(normalized.encode("utf-8"))


def text_hash(text: str) -> str:
    """128-bit xxh3 of the normalised text: equal for texts that differ only in case or spacing."""
    return hash_normalized(normalize_for_hash(text))
