"""The normalised form of a text that hashing, dedup and the leakage check compare.

Two texts that differ only in case, Unicode compatibility forms or whitespace normalise to
the same string, so they count as exact duplicates.
"""

from __future__ import annotations

import hashlib
import unicodedata

__all__ = ["normalize_for_hash", "text_hash"]


def normalize_for_hash(text: str) -> str:
    """NFKC, casefolded, with every run of whitespace turned into one space."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def text_hash(text: str) -> str:
    """128-bit BLAKE2b of the normalised text, as 32 hex digits."""
    return hashlib.blake2b(normalize_for_hash(text).encode("utf-8"), digest_size=16).hexdigest()
