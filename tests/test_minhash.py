"""minhash: shingle hashes of a text do not depend on how it is cut into windows."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datasets import Dataset

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


def test_similar_pairs_verified_a_slice_at_a_time_are_the_same(monkeypatch) -> None:
    rng = random.Random(3)
    words = [f"w{i}" for i in range(400)]
    texts = []
    for _ in range(40):
        base = [rng.choice(words) for _ in range(60)]
        texts.append(" ".join(base))
        for _ in range(3):  # near copies: a few words replaced
            copy = list(base)
            for k in rng.sample(range(60), 4):
                copy[k] = rng.choice(words)
            texts.append(" ".join(copy))
    ds = Dataset.from_dict({"id": [str(i) for i in range(len(texts))], "text": texts})
    _, sigs = minhash.fingerprints(ds, minhash.Shingling(), seed=1)
    whole_pairs, whole_sims = minhash.similar_pairs(ds, sigs, threshold=0.5, ngram=5)
    assert len(whole_pairs) == 81  # of up to 6 a group of 4: 4 words of 60 changed leave 5-gram Jaccard near 0.5
    monkeypatch.setattr(minhash, "_VERIFY_PAIRS", 7)
    pairs, sims = minhash.similar_pairs(ds, sigs, threshold=0.5, ngram=5)
    assert np.array_equal(pairs, whole_pairs) and np.array_equal(sims, whole_sims)
