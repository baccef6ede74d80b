"""MinHash signatures, LSH banding and exact Jaccard: shared by dedup, group splits and leakage.

Texts become sets of word n-gram shingles: the ``\\w+`` tokens of the normalised text (exactly
the tokens of Python's ``re``), each hashed from its code points, and the hashes of each run of
``ngram`` tokens mixed into one 64-bit value. :func:`shingle_hashes_batch` does this for many texts
at once in numpy, with no Python loop per token or per shingle (a per-token ``re`` and xxh64 loop
took two thirds of the dedup stage). A signature keeps, for each of ``num_perm`` seeded hash
functions, the smallest value over the shingles, as ``uint32``: 100,000 documents at 128
permutations take 51 MB; :func:`signatures` computes many at once, block by block.

LSH bands are chosen so that a pair at the target Jaccard becomes a candidate with probability
at least 0.995 (the S-curve's midpoint then sits well below the target); candidates are then
verified against the target with the exact Jaccard of their shingle sets, so the band choice
costs time, never precision.
"""

from __future__ import annotations

import base64
import functools
import re
import sys
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xxhash
from datasets import Dataset, Features, Value
from datasets import Sequence as ListOf

from . import schema
from .engine import Engine, LocalEngine
from .memory import release_mapped_pages
from .text_norm import hash_normalized, normalize_for_hash, text_hash

__all__ = [
    "Shingling",
    "UnionFind",
    "candidate_pairs",
    "fingerprint_batch",
    "fingerprints",
    "hash_batch",
    "jaccard",
    "lsh_params",
    "permutations",
    "shingle_hashes",
    "shingle_hashes_batch",
    "shingle_sets",
    "shingles",
    "signature",
    "signatures",
    "similar_pairs",
    "verify_pairs",
    "word_bigram_hashes",
    "word_counts",
]

_SHIFT = np.uint64(32)
_NON_WORD = re.compile(r"\W")
# Multipliers that mix the token hashes of an n-gram into one 64-bit value (odd, fixed).
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5,
                 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x94D049BB133111EB, 0xBF58476D1CE4E5B9,
                 0x85EBCA77C2B2AE63, 0xD6E8FEB86659FD93], dtype=np.uint64)
# A token's hash is the polynomial sum(code_point[j] * _BASE**j) mod 2**64 (odd base, so it has an
# inverse), finished by murmur3's fmix64 so that every bit of it depends on every code point.
_BASE = 0x5851F42D4C957F2D
_BASE_INVERSE = pow(_BASE, -1, 2**64)
_FMIX = (np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53), np.uint64(33))
# Code points tokenised per numpy pass: the work arrays (about 25 bytes a code point) stay small.
_WINDOW = 1 << 18
_READ_ROWS = 65_536  # signatures read back per batch
_VERIFY_PAIRS = 50_000  # candidate pairs verified together (their rows' shingle sets in memory)
_SHINGLE_ROWS = 1000  # rows read and shingled together when verifying
# Shingles per signature block (a num_perm x _BLOCK uint64 buffer, 8 MB at 128): measured the
# fastest; blocks of a few hundred or a thousand shingles ran numpy's loops two to three times slower.
_BLOCK = 8192


# _build_word_chars()'s table for Python 3.11's Unicode database (14.0.0), bit-packed and
# compressed: read in a millisecond, where building it takes 0.3-0.4 s in every process that
# shingles (tests/test_minhash.py checks it against the build). Other Unicode versions build it.
_PACKED_WORD_CHARS = {
    "14.0.0": (
    "eNrt201v3EQYwPFxNtSlooQTcEBsKiTOPXCo1KLNqVd6qbhy4FJV4krVRrFvFZ+ilfgCPcElld2mEtzCrUgI1iWVigTVWmpJ"
    "nKzXD/Pil91NNi9N0m7L/yftrmc9Hs94xrNjj1cpQ+JA5JF+JTY4/9k3IoW414tZkVhlp9SY/uczf4t061iDbdvFnZ1SC0xe"
    "FuxiWKWllx8l1ZLNuawEQ9s8VydasqlUpJd1JL9Zk6uFcpt35nVo/mRo0wgl0e9LZXqx28uc2+SBUqEuUyA3N2+JRN8/UDPq"
    "9Iqs/uw/MuEfTOzrLTmn/IEuXfSjia9WRC34Nr4Jm/iB+mBt+eqHayb1ULV0pv2+zl9k0lePdfzipg1vmPCJFflKzZmwyGM1"
    "867ev0S+FPoIdZ8XOkJLl8uV+I4qlMvx1Z7Iv3JndkvJqgmH9vikyh7CTAey0Ropj50ncX7hYuumxDMS25qZtWt6+67w5WLZ"
    "fVaBqu0sVzESndnM1MVQTeSBHKFN21KSOrym61Riz1SmffXDct+pLrl3Upc0Nm1/KIVw07zfblqKaXjKHmsTzNz2qWkf7lwx"
    "q13crDyT9A6Hjq9f7s/PXP20zU5aVeruWJjcyE/uK5Nj7Ynd+Mb6/KSijtTfrvK8fL9s07f6W+ezZ6lk58daw+o9nf+R7850"
    "ni+euiur/v3qBFXHRprKcTpNOY9GayT5abBbzWUfn50dOhdFPNfeilKdiPfi+/f1K4gXs+Y8LPyhc7Ln1/1vtfqCatqf+7Rt"
    "Qsepl1UgR1F+AIft/wEAAIAplo2MbPO947tLendtqrzRbezFsYzcUrxV3Y16GJsbDL/3zI2pvL4v1KlvQZgr2c771V2gwuUo"
    "m6tuNnoS96sbpKFSvdTcRyo+celcXLyt1EeSnFNLS0v6er28lxaPZj1R498AAI5Tavrzdt3RA8Dh5ydGR6t2JqRQ7bckKrZ+"
    "27aqfaCUm5x0mqGtGu+/+juMpu3cfmJereb7otPpnLMpbNhB7FOd93yH8iZe3WOWI92zex6vrIoauJlSSc0kUlKNpN1RSmVx"
    "0vHN3ag4rd+kHp3rMXTvqXSl++vB6sfM0ep96/juiYMoqbbPIxMefOeyVQTmzatnt/5pl3mIx/Y3V9VDqDYCm7Z7hqCoqsZM"
    "mWXtKr4pd14eBJ1UsEP7CofDSfXZKcsd77OtuiuNOB5N35b+mg3F1bepm0ts163J7OrrMlzGCSVu26PXkrdtSn+W6xOdmvwV"
    "iJkP7478ihZ3ZVDOYRem7TXPP4R+PPH8ypSXyL24Dit1ekKZq5S1VA3FP1nGL7MXVlu7izVJi93O73TSOZ94xRfrJn1vYSg/"
    "rupDdck8X2EPSDKvl+bKU3t2e63uUmeRK499MiHryPiMd9F1yczo/Q8im3643zn46nGe7czeslc1fxRP7F+LyflhoHYcv2jh"
    "dMwfFtQKrZEmBOC17H9CO/Zu7ua75bwZn+oxfFcP5fyjfqJxezmKnb9PqqFou87BLzw/hP+3KW7/uTt/Q/poAMdhY30/PZG7"
    "i5SouYP3lty2Ocj4M5FMwuP8hw3wMtt2Ot7Ww8ntv5676n96Qx5ulIHBk75Z8cdWJzrQNFzk/rvYc+n2m7+zRuXKZ0PTaG92"
    "/1Icun/KvFzuH2CL6ro3ne6+rFif/AfnTRltn+l7L6MsgdvZxrXRbwblxcBOv+B69ZWgd+nMl1cuX+n1rktX0m+7R/e7Kxn9"
    "2DGenfEU9A8AAAAAAAAA8Nrh/iZK4S7rcg4P3iQxvR4w/T9KTIC/Cf//yPn/C7CHhL4GAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "e/sPkrJDYQ=="
    ),
}


@functools.cache
def _word_chars() -> np.ndarray:
    """For every code point, whether it is ``\\w`` to Python's ``re``, so the tokens are exactly
    those of ``re.findall(r"\\w+", text)``."""
    packed = _PACKED_WORD_CHARS.get(unicodedata.unidata_version)
    if packed is None:
        return _build_word_chars()
    bits = np.unpackbits(np.frombuffer(zlib.decompress(base64.b64decode(packed)), dtype=np.uint8))
    return bits[: sys.maxunicode + 1].astype(bool)


def _build_word_chars() -> np.ndarray:
    """:func:`_word_chars` built by ``re`` itself."""
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    marked = _NON_WORD.sub("\0", every)  # one character for one: positions stay code points
    return np.frombuffer(marked.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(bool)


def _powers_of_base(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``_BASE**i`` and ``_BASE**-i`` mod 2**64 for ``i < n`` (cached up to a window's length)."""
    if n <= _WINDOW + 1:
        up, down = _cached_powers(_WINDOW + 1)
        return up[:n], down[:n]
    return _accumulate_powers(n)


@functools.cache
def _cached_powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    return _accumulate_powers(n)  # 4 MB for a window of 2**18


def _accumulate_powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    up = np.full(n, _BASE, dtype=np.uint64)
    down = np.full(n, _BASE_INVERSE, dtype=np.uint64)
    up[0] = down[0] = 1
    return np.multiply.accumulate(up), np.multiply.accumulate(down)


def _windows(texts: Sequence[str]) -> Iterator[Sequence[str]]:
    """Consecutive runs of texts of at most ``_WINDOW`` code points in all (a longer text alone)."""
    start, size = 0, 0
    for i, text in enumerate(texts):
        if size and size + len(text) > _WINDOW:
            yield texts[start:i]
            start, size = i, 0
        size += len(text) + 1
    if start < len(texts):
        yield texts[start:]


def _code_points(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The texts' code points joined by single spaces (no token crosses one), and where each text
    starts (``len(texts) + 1`` positions)."""
    joined = " ".join(texts).encode("utf-32-le", "surrogatepass")
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    starts = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths + 1, out=starts[1:])
    return np.frombuffer(joined, dtype=np.uint32), starts


_WORD_RUN = re.compile(r"\w+")
_DOTTED_I = 0x130  # "İ": the one code point whose lower case ("i" and a combining dot) is not all \w


def word_counts(texts: Sequence[str]) -> np.ndarray:
    """The ``\\w+`` tokens of each lower-cased text, ``len(re.findall(r"\\w+", text.lower()))``,
    counted on code points with numpy: a token starts wherever a word character follows another
    character or the text's start. Lower-casing changes the tokens only where "İ" is followed by a
    word character (its combining dot ends the token), which adds one. A text longer than a
    window is counted by ``re`` itself, one match at a time. tests/test_minhash.py checks every
    code point.
    """
    out = np.empty(len(texts), dtype=np.int64)
    at = 0
    for window in _windows(texts):
        if len(window) == 1 and len(window[0]) > _WINDOW:
            out[at] = sum(1 for _ in _WORD_RUN.finditer(window[0].lower()))
        else:
            code_points, starts = _code_points(window)
            word = np.zeros(len(code_points) + 2, dtype=bool)  # padded on both sides
            _word_chars().take(code_points, out=word[1:-1])
            begins = np.flatnonzero(word[1:-1] & ~word[:-2])
            split = np.flatnonzero((code_points == _DOTTED_I) & word[2:])
            owner = np.searchsorted(starts, np.concatenate([begins, split]), side="right") - 1
            out[at : at + len(window)] = np.bincount(owner, minlength=len(window))[: len(window)]
        at += len(window)
    return out


def _token_spans(code_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of every run of word characters."""
    word = np.zeros(len(code_points) + 2, dtype=bool)  # padded, so that every run rises and falls
    _word_chars().take(code_points, out=word[1:-1])  # take: twice as fast as indexing here
    edges = np.flatnonzero(word[1:] != word[:-1])  # on booleans: five times faster than on int8
    return edges[0::2], edges[1::2]


def _fmix64(h: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finaliser, in place: a bijection that spreads every input bit."""
    c1, c2, shift = _FMIX
    h ^= h >> shift
    h *= c1
    h ^= h >> shift
    h *= c2
    h ^= h >> shift
    return h


def _token_hashes(code_points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each token's code points, the same wherever the token stands.

    Prefix sums of ``code_point[i] * _BASE**i`` give each token's sum in two lookups; multiplying by
    ``_BASE**-start`` moves it to position 0.
    """
    up, down = _powers_of_base(len(code_points))
    prefix = np.zeros(len(code_points) + 1, dtype=np.uint64)
    terms = code_points.astype(np.uint64)
    terms *= up
    np.cumsum(terms, out=prefix[1:])
    return _fmix64((prefix[ends] - prefix[starts]) * down[starts])


def _ngram_hashes(tokens: np.ndarray, offsets: np.ndarray, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """Mix each run of ``ngram`` token hashes of a text into one value (a text with fewer tokens
    gets one value from all of them, an empty text none); the values and each text's count."""
    counts = np.diff(offsets)
    sums = tokens * _MIX[0]
    # Texts shorter than ngram: their one value is the partial sum at their first token, taken
    # before the next text's tokens are added to it.
    short = np.flatnonzero((counts > 0) & (counts < ngram))
    short_sums = np.empty(len(short), dtype=np.uint64)
    for k in range(1, ngram):  # ngram shifted slices: no Python loop over the shingles themselves
        done = counts[short] == k
        short_sums[done] = sums[offsets[short[done]]]
        width = max(len(tokens) - k, 0)
        sums[:width] += tokens[k : k + width] * _MIX[k]
    sums[offsets[short]] = short_sums
    last_start = np.maximum(counts - ngram, 0)  # a text's last n-gram starts here (relative)
    text_of = np.repeat(np.arange(len(counts)), counts)
    relative = np.arange(len(tokens)) - offsets[text_of]
    per_text = np.where(counts >= ngram, counts - ngram + 1, np.minimum(counts, 1))
    return sums[relative <= last_start[text_of]], per_text


def _spans_at_least(code_points: np.ndarray, min_chars: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_token_spans`, keeping the runs of at least ``min_chars`` code points."""
    starts, ends = _token_spans(code_points)
    if min_chars > 1:
        keep = ends - starts >= min_chars
        starts, ends = starts[keep], ends[keep]
    return starts, ends


def _long_text_tokens(text: str, min_chars: int = 1) -> np.ndarray:
    """The token hashes of a text longer than a window, a window at a time.

    The work arrays of one pass take about 25 bytes a code point (1.3 GB for a 53 MB row); here
    they take that per window, and only the token hashes (8 bytes a token) are kept. Each cut is
    moved forward to the next non-word character, so no token is split; a run of word characters
    longer than a window (not text) is cut at the next window's end.
    """
    pieces, start, n = [], 0, len(text)
    while start < n:
        end = min(start + _WINDOW, n)
        if end < n:
            found = _NON_WORD.search(text, end, min(n, end + _WINDOW))
            end = found.start() if found else min(n, end + _WINDOW)
        code_points, _ = _code_points([text[start:end]])
        token_starts, token_ends = _spans_at_least(code_points, min_chars)
        pieces.append(_token_hashes(code_points, token_starts, token_ends))
        start = end
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.uint64)


def _window_tokens(texts: Sequence[str], min_chars: int = 1) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """For each window of texts: the hashes of their tokens of at least ``min_chars`` code points,
    in order, and where each text's run of them starts (``len(window) + 1`` positions)."""
    for window in _windows(texts):
        if len(window) == 1 and len(window[0]) > _WINDOW:
            tokens = _long_text_tokens(window[0], min_chars)
            yield tokens, np.array([0, len(tokens)], dtype=np.int64)
        else:
            code_points, text_starts = _code_points(window)
            starts, ends = _spans_at_least(code_points, min_chars)
            yield _token_hashes(code_points, starts, ends), np.searchsorted(starts, text_starts)


def word_bigram_hashes(texts: Sequence[str], min_chars: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The hashes of each text's ``\\w+`` tokens of at least ``min_chars`` code points and of each
    pair of consecutive ones within a text, for a bag of words and bigrams: all values, and the text
    each belongs to. With ``min_chars=2`` on lower-cased texts these are the terms of
    scikit-learn's word analyzer with ``ngram_range=(1, 2)`` (its pattern ``\\b\\w\\w+\\b``), each
    hashed from code points here instead of built as a Python string there
    (tests/quality/test_report.py checks the counts against CountVectorizer's)."""
    values, owners, at = [], [], 0
    with np.errstate(over="ignore"):
        for tokens, offsets in _window_tokens(texts, min_chars):
            counts = np.diff(offsets)
            owner = np.repeat(np.arange(at, at + len(counts)), counts)
            paired = np.flatnonzero(owner[:-1] == owner[1:])
            values += [tokens, _fmix64(tokens[paired] * _MIX[0] + tokens[paired + 1] * _MIX[1])]
            owners += [owner, owner[paired]]
            at += len(counts)
    if not values:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    return np.concatenate(values), np.concatenate(owners)


def shingle_hashes_batch(normalized: Sequence[str], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of the word n-grams of many already normalised texts, in order, repeats kept:
    all values, and the offsets (``len(normalized) + 1``) of each text's run of them."""
    if ngram > len(_MIX):
        raise ValueError(f"ngram must be at most {len(_MIX)}; got {ngram}")
    values, counts = [np.zeros(0, dtype=np.uint64)], [np.zeros(0, dtype=np.int64)]
    with np.errstate(over="ignore"):
        for tokens, token_offsets in _window_tokens(normalized):
            window_values, window_counts = _ngram_hashes(tokens, token_offsets, ngram)
            values.append(window_values)
            counts.append(window_counts)
    offsets = np.zeros(len(normalized) + 1, dtype=np.int64)
    np.cumsum(np.concatenate(counts), out=offsets[1:])
    return np.concatenate(values), offsets


def shingle_hashes(normalized: str, ngram: int) -> np.ndarray:
    """64-bit hashes of the word n-grams of an already normalised text, in order, repeats kept."""
    return shingle_hashes_batch([normalized], ngram)[0]


def shingles(text: str, ngram: int) -> np.ndarray:
    """Sorted distinct 64-bit hashes of the text's word n-grams (one shingle for shorter texts)."""
    return np.unique(shingle_hashes(normalize_for_hash(text), ngram))


def shingle_sets(texts: Iterable[str], ngram: int) -> list[np.ndarray]:
    """:func:`shingles` of many texts, computed together."""
    values, offsets = shingle_hashes_batch([normalize_for_hash(t) for t in texts], ngram)
    return [np.unique(values[start:end]) for start, end in zip(offsets[:-1].tolist(), offsets[1:].tolist())]


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The seeded ``a`` (odd) and ``b`` of each hash function."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**64 - 1, size=num_perm, dtype=np.uint64, endpoint=True) | np.uint64(1)
    b = rng.integers(0, 2**64 - 1, size=num_perm, dtype=np.uint64, endpoint=True)
    return a, b


def signatures(values: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MinHash signatures (``uint32[len(offsets) - 1, num_perm]``) of many shingle sets, set ``i``
    being ``values[offsets[i]:offsets[i + 1]]`` (repeats do not matter); all ones for an empty set.

    Each hash function is multiply-add-shift, ``(a * x + b) mod 2**64 >> 32``, a universal
    family that needs no modulo (four times faster than ``mod 2**61 - 1`` here). The sets are
    hashed a block of about ``_BLOCK`` shingles at a time into one reused buffer (a fresh array
    per set cost more in allocation and page faults than the arithmetic), and each set's minimum
    is a segment of one ``minimum.reduceat``.
    """
    out = np.full((len(offsets) - 1, len(a)), 0xFFFFFFFF, dtype=np.uint32)
    filled = np.flatnonzero(np.diff(offsets) > 0)  # reduceat has no empty segments
    starts, ends = offsets[filled], offsets[filled + 1]
    buffer = np.empty(len(a) * min(_BLOCK, len(values)), dtype=np.uint64)
    i = 0
    with np.errstate(over="ignore"):
        while i < len(filled):
            if ends[i] - starts[i] > _BLOCK:
                # One set larger than a block (a very long row): its minimum over block after block,
                # not a num_perm x set-size matrix (9 GB for a 53 MB row).
                out[filled[i]] = _large_set_minima(values[starts[i] : ends[i]], a, b, buffer)
                i += 1
                continue
            j = max(int(np.searchsorted(ends, starts[i] + _BLOCK, side="right")), i + 1)
            block = values[starts[i] : ends[j - 1]]
            size = len(a) * len(block)
            hashed = (buffer[:size] if size <= len(buffer) else np.empty(size, np.uint64)).reshape(len(a), -1)
            np.multiply(a[:, None], block, out=hashed)
            hashed += b[:, None]
            # The shift is monotonic, so it can follow the minimum: one pass over the minima, not all.
            minima = np.minimum.reduceat(hashed, starts[i:j] - starts[i], axis=1)
            out[filled[i:j]] = (minima >> _SHIFT).T.astype(np.uint32)
            i = j
    return out


def _large_set_minima(values: np.ndarray, a: np.ndarray, b: np.ndarray, buffer: np.ndarray) -> np.ndarray:
    """One set's signature, ``_BLOCK`` shingles at a time into ``buffer``, keeping a running minimum."""
    running = np.full(len(a), np.iinfo(np.uint64).max, dtype=np.uint64)
    for start in range(0, len(values), _BLOCK):
        chunk = values[start : start + _BLOCK]
        hashed = buffer[: len(a) * len(chunk)].reshape(len(a), -1)
        np.multiply(a[:, None], chunk, out=hashed)
        hashed += b[:, None]
        np.minimum(running, hashed.min(axis=1), out=running)
    return (running >> _SHIFT).astype(np.uint32)


def signature(values: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The MinHash signature (``uint32[num_perm]``) of one set of shingle hashes (see :func:`signatures`)."""
    return signatures(values, np.array([0, len(values)]), a, b)[0]


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


def candidate_pairs(signatures: np.ndarray, bands: int, rows: int, *, all_pairs_up_to: int = 32,
                    subset: np.ndarray | None = None) -> np.ndarray:
    """Pairs ``(i, j)``, ``i < j``, that share a band.

    A bucket of up to ``all_pairs_up_to`` members gives all its pairs; a larger one (many
    copies of one text) gives each member paired with the first and with its predecessor, which
    keeps the count linear and still links the whole bucket. With ``subset`` (sorted row
    indices) only those rows are banded, and ``i``, ``j`` are positions in ``subset``: the same
    as ``candidate_pairs(signatures[subset], ...)`` without copying every selected signature.
    """
    n = len(signatures) if subset is None else len(subset)
    out: list[np.ndarray] = []
    weights = _MIX[:rows] if rows <= len(_MIX) else None
    for band in range(bands):
        columns = slice(band * rows, (band + 1) * rows)
        block = (signatures[:, columns] if subset is None else signatures[subset, columns]).astype(np.uint64)
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




# --- fingerprints of a dataset and verified similar pairs: dedup, group splits and leakage ----------


@dataclass(frozen=True)
class Shingling:
    """How texts become MinHash signatures: word ``ngram``-grams and ``num_perm`` hash functions.

    One setting for every near-duplicate measure of a build (dedup, group splits, the leakage
    check): the recipe's ``dedup.near.ngram`` and ``num_perm`` (defaults 5 and 128).
    """

    ngram: int = 5
    num_perm: int = 128


def hash_batch(batch: dict[str, list]) -> dict[str, list]:
    """The 128-bit xxh3 hash of each row's normalised text."""
    return {schema.TEXT_HASH: [text_hash(t) for t in batch[schema.TEXT]]}


def fingerprint_batch(batch: dict[str, list], *, shingling: Shingling, seed: int) -> dict[str, Any]:
    """Exact hash and MinHash signature of each row, normalising each text once and shingling
    and signing the whole batch together (numpy over the batch, not a loop over rows)."""
    normalized = [normalize_for_hash(t) for t in batch[schema.TEXT]]
    values, offsets = shingle_hashes_batch(normalized, shingling.ngram)
    return {
        schema.TEXT_HASH: [hash_normalized(t) for t in normalized],
        schema.MINHASH: signatures(values, offsets, *permutations(shingling.num_perm, seed)),
    }


def fingerprints(
    ds: Dataset, shingling: Shingling | None, *, seed: int, desc: str = "fingerprint", engine: Engine | None = None,
) -> tuple[list[str], np.ndarray | None]:
    """Exact hashes of every row's normalised text and, with ``shingling``, the MinHash signatures
    as one ``uint32`` matrix (read back from Arrow a batch at a time, not as rows)."""
    engine = engine or LocalEngine()
    if shingling is None:
        out = engine.map(ds, hash_batch, remove_columns=ds.column_names,
                         features=Features({schema.TEXT_HASH: Value("string")}), desc=desc)
        return out.with_format("arrow")[schema.TEXT_HASH].to_pylist(), None
    out = engine.map(
        ds,
        fingerprint_batch,
        fn_kwargs={"shingling": shingling, "seed": seed},
        remove_columns=ds.column_names,
        features=Features({schema.TEXT_HASH: Value("string"), schema.MINHASH: ListOf(Value("uint32"))}),
        desc=desc,
    )
    # Read a batch at a time into one matrix: the whole column at once would be its file pages
    # plus a combined copy (1 GB at a million rows) before the matrix is even made.
    hashes: list[str] = []
    sigs = np.empty((out.num_rows, shingling.num_perm), dtype=np.uint32)
    start = 0
    for batch in out.with_format("arrow").iter(batch_size=_READ_ROWS):
        hashes += batch.column(schema.TEXT_HASH).to_pylist()
        flat = batch.column(schema.MINHASH).combine_chunks().flatten().to_numpy(zero_copy_only=False)
        sigs[start : start + batch.num_rows] = flat.reshape(batch.num_rows, shingling.num_perm)
        start += batch.num_rows
        release_mapped_pages()
    return hashes, sigs


def _shingle_sets_of(ds: Dataset, rows: np.ndarray, ngram: int) -> dict[int, np.ndarray]:
    """Shingle sets of some rows of ``ds``, read a thousand rows at a time through Arrow."""
    out: dict[int, np.ndarray] = {}
    texts = ds.with_format("arrow")  # a column read: row-by-row reads cost seconds
    wanted = np.unique(rows).tolist()
    for start in range(0, len(wanted), _SHINGLE_ROWS):
        chunk = wanted[start : start + _SHINGLE_ROWS]
        out.update(zip(chunk, shingle_sets(texts.select(chunk)[schema.TEXT].to_pylist(), ngram)))
        # Rows read at random: the kernel maps 64 KB around each, so a few thousand rows would
        # leave most of a large table resident without this.
        release_mapped_pages()
    return out


def verify_pairs(pairs: np.ndarray, parts: Sequence[Dataset], ngram: int) -> np.ndarray:
    """The exact Jaccard of each pair's word n-gram sets; row numbers run through ``parts`` one
    after another (a reference set, then the rows).

    Pairs are verified a slice at a time with the shingle sets of that slice's rows only: at low
    thresholds LSH gives millions of candidates, and the sets of every row they touch would not
    fit (2.5 GB for 900k rows at threshold 0.5). This is the one verifier of the project.
    """
    bounds = np.cumsum([0, *[part.num_rows for part in parts]])
    sims = np.empty(len(pairs), dtype=np.float64)
    for start in range(0, len(pairs), _VERIFY_PAIRS):
        chunk = pairs[start : start + _VERIFY_PAIRS]
        rows = chunk.ravel()
        sets: dict[int, np.ndarray] = {}
        for k, part in enumerate(parts):
            mine = rows[(rows >= bounds[k]) & (rows < bounds[k + 1])]
            if len(mine):
                local = _shingle_sets_of(part, mine - bounds[k], ngram)
                sets.update((int(i) + int(bounds[k]), v) for i, v in local.items())
        sims[start : start + len(chunk)] = [jaccard(sets[i], sets[j]) for i, j in chunk.tolist()]
    return sims


def similar_pairs(
    ds: Dataset,
    sigs: np.ndarray,
    *,
    threshold: float,
    ngram: int,
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
    sims = verify_pairs(pairs, [ds], ngram)
    verified = sims >= threshold
    return pairs[verified], sims[verified]
