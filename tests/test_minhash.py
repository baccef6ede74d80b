"""minhash: shingle hashes of a text do not depend on how it is cut into windows."""

from __future__ import annotations

import random

import numpy as np
import pytest

from hf_ftbuilder import minhash


@pytest.mark.parametrize("window", [1_000, 37])
def test_a_long_text_read_a_window_at_a_time_gives_the_same_shingles(monkeypatch, window: int) -> None:
    rng = random.Random(1)
    words = ["alpha", "beta", "gamma", "déjà", "naïve", "x1", "über", "z"]
    long = " ".join(rng.choice(words) + rng.choice(["", ",", ".", " -"]) for _ in range(20_000))
    texts = ["a short text here", long, "", "another one"]
    whole = minhash.shingle_hashes_batch(texts, 5)  # the long text fits one default window
    monkeypatch.setattr(minhash, "_WINDOW", window)
    minhash._cached_powers.cache_clear()
    try:
        cut = minhash.shingle_hashes_batch(texts, 5)
    finally:
        minhash._cached_powers.cache_clear()
    assert len(long) > window and np.diff(whole[1]).tolist() == [1, 19_996, 0, 1]
    assert np.array_equal(whole[0], cut[0]) and np.array_equal(whole[1], cut[1])


def test_a_set_larger_than_a_block_is_signed_block_by_block_with_the_same_result(monkeypatch) -> None:
    rng = np.random.default_rng(0)
    a, b = minhash.permutations(128, 42)
    values = rng.integers(0, 2**63, size=100_000, dtype=np.uint64)
    offsets = np.array([0, 5, 5, 20_000, 20_001, 60_000, 100_000])  # sets of 5, 0, 19,995, 1, 39,999, 40,000
    signed = minhash.signatures(values, offsets, a, b)
    monkeypatch.setattr(minhash, "_BLOCK", 10**9)  # every set in one block: the plain way
    assert np.array_equal(signed, minhash.signatures(values, offsets, a, b))
    assert (signed[1] == 0xFFFFFFFF).all()  # the empty set
