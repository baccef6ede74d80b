"""minhash: tokens, shingles, signatures, LSH bands, the verifier and union-find."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from datasets import Dataset

from hf_ftbuilder import minhash
from hf_ftbuilder.minhash import (
    UnionFind,
    candidate_pairs,
    jaccard,
    lsh_params,
    permutations,
    shingle_hashes_batch,
    shingle_sets,
    shingles,
    signature,
    signatures,
)
from hf_ftbuilder.text_norm import normalize_for_hash, text_hash

from .conftest import BASE, edit


def test_normalised_text_ignores_case_width_and_spacing() -> None:
    assert normalize_for_hash("  Hello\n\tWORLD ") == "hello world"
    assert text_hash("Ｈｅｌｌｏ world") == text_hash("hello   world")
    assert len(text_hash("x")) == 32


def test_shingles_and_jaccard() -> None:
    a, b = shingles("one two three four five six", 5), shingles("ONE two, three four five six!", 5)
    assert len(a) == 2 and np.array_equal(a, b)  # case and punctuation do not matter
    assert jaccard(a, shingles("one two three four five seven", 5)) == pytest.approx(1 / 3)
    assert len(shingles("too short", 5)) == 1  # a text shorter than n is one shingle
    assert len(shingles("", 5)) == 0


MULTILINGUAL = ("Привет, мир! Съешь же ещё этих мягких французских булок. 東京は晴れ、気温は２５度です。"
                "서울의 날씨는 맑습니다. naïve café — snake_case x2 ½ ٣٤ हिन्दी déjà-vu ＡＢＣ 🙂 l'été ß "
                "İstanbul e\u0301 Ωμέγα ﬁle")


def _reference_shingle_hashes(normalized: str, ngram: int) -> list[int]:
    """The shingle definition in plain Python: ``re`` tokens, each hashed as the polynomial of its
    code points in ``_BASE`` mod 2**64 then fmix64, and n-grams mixed with ``_MIX``."""
    mask = 2**64 - 1

    def fmix64(h: int) -> int:
        h ^= h >> 33
        h = h * 0xFF51AFD7ED558CCD & mask
        h ^= h >> 33
        h = h * 0xC4CEB9FE1A85EC53 & mask
        return h ^ h >> 33

    tokens = re.findall(r"\w+", normalized)
    hashes = [fmix64(sum(ord(c) * pow(minhash._BASE, j, 2**64) for j, c in enumerate(t)) & mask) for t in tokens]
    if not hashes:
        return []
    n = min(ngram, len(hashes))
    mix = [int(m) for m in minhash._MIX]
    return [sum(h * m for h, m in zip(hashes[i : i + n], mix)) & mask for i in range(len(hashes) - n + 1)]


def test_tokens_are_those_of_python_re() -> None:
    every = "".join(map(chr, range(0x110000)))
    assert np.array_equal(minhash._word_chars(), [bool(re.match(r"\w", c)) for c in every])
    for text in (MULTILINGUAL, normalize_for_hash(MULTILINGUAL), "", "...", "a", "_x_ y"):
        code_points, _ = minhash._code_points([text])
        starts, ends = minhash._token_spans(code_points)
        assert [text[s:e] for s, e in zip(starts.tolist(), ends.tolist())] == re.findall(r"\w+", text)


def test_the_shipped_word_character_table_is_the_one_re_gives() -> None:
    """The packed table stands for building it from re: the same bit for every code point (on a
    Python whose Unicode version has no packed table, both are built)."""
    shipped, built = minhash._word_chars(), minhash._build_word_chars()
    assert shipped.dtype == built.dtype == np.bool_ and len(shipped) == len(built) == 0x110000
    assert np.array_equal(shipped, built) and 100_000 < shipped.sum() < 200_000


def test_word_counts_are_those_of_re_on_the_lower_cased_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every code point before, between and after word characters; then texts longer than a
    window, which re counts itself."""
    texts = [f"{c}a{c}{c} {c}" for c in map(chr, range(0x110000))] + [MULTILINGUAL, "", " ", "İİx İ", "aİ_b"]
    expected = [len(re.findall(r"\w+", t.lower())) for t in texts]
    assert minhash.word_counts(texts).tolist() == expected
    assert minhash.word_counts(["aİb"]).tolist() == [2] and minhash.word_counts(["AIB"]).tolist() == [1]
    monkeypatch.setattr(minhash, "_WINDOW", 8)
    short, long = ["ab cd", "x"], "İx " * 5 + MULTILINGUAL
    assert minhash.word_counts([*short, long, *short]).tolist() == [2, 1, len(re.findall(r"\w+", long.lower())), 2, 1]


def test_batch_shingles_follow_the_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [normalize_for_hash(t) for t in (BASE, MULTILINGUAL, "", "  ", "one", "one two", "a b c d", "a b c d e",
                                             "!!! ???", edit(BASE, [3, 50]))]
    monkeypatch.setattr(minhash, "_WINDOW", 64)  # many windows, and texts longer than one
    for ngram in (1, 3, 5):
        values, offsets = shingle_hashes_batch(texts, ngram)
        assert len(offsets) == len(texts) + 1 and offsets[-1] == len(values)
        for i, text in enumerate(texts):
            assert values[offsets[i] : offsets[i + 1]].tolist() == _reference_shingle_hashes(text, ngram)
    monkeypatch.undo()
    values, offsets = shingle_hashes_batch(texts, 5)
    assert values[offsets[0] : offsets[1]].tolist() == _reference_shingle_hashes(texts[0], 5)
    assert [s.tolist() for s in shingle_sets([BASE, "", MULTILINGUAL], 5)] == [
        shingles(t, 5).tolist() for t in (BASE, "", MULTILINGUAL)
    ]


def test_signatures_of_many_sets_equal_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = permutations(64, 3)
    sets = [shingles(t, 5) for t in (BASE, "", "short text", edit(BASE, [1]), "", MULTILINGUAL)]
    offsets = np.r_[0, np.cumsum([len(s) for s in sets])]
    monkeypatch.setattr(minhash, "_BLOCK", 50)  # blocks of several sets, and sets larger than a block
    batch = signatures(np.concatenate(sets), offsets, a, b)
    for values, sig in zip(sets, batch):
        expected = np.full(64, 2**32 - 1)  # the empty set's
        if len(values):
            expected = (np.multiply.outer(a, values) + b[:, None]).min(axis=1) >> np.uint64(32)
        assert np.array_equal(sig, expected.astype(np.uint32))
        assert np.array_equal(sig, signature(values, a, b))


def test_signature_agreement_estimates_jaccard() -> None:
    a, b = permutations(256, 7)
    s1, s2 = shingles(BASE, 5), shingles(edit(BASE, [10, 30]), 5)
    estimate = (signature(s1, a, b) == signature(s2, a, b)).mean()
    assert abs(estimate - jaccard(s1, s2)) < 0.1
    assert np.array_equal(signature(s1, *permutations(256, 7)), signature(s1, a, b))  # seeded


def test_lsh_params_put_the_target_high_on_the_s_curve() -> None:
    bands, rows = lsh_params(0.8, 128)
    assert (bands, rows) == (21, 6)
    assert 1 - (1 - 0.8**rows) ** bands >= 0.995
    assert bands * rows <= 128


def test_candidate_pairs_from_shared_bands() -> None:
    sigs = np.array([[1, 2, 3, 4], [1, 2, 9, 9], [7, 7, 3, 4], [5, 5, 5, 5]], dtype=np.uint32)
    assert candidate_pairs(sigs, bands=2, rows=2).tolist() == [[0, 1], [0, 2]]
    # Banding a subset gives positions in it, as banding the subset's copy would.
    subset = np.array([1, 2, 3])
    assert candidate_pairs(sigs, bands=2, rows=2, subset=subset).tolist() == []
    assert candidate_pairs(sigs, bands=2, rows=2, subset=np.array([0, 2])).tolist() == [[0, 1]]
    rng = np.random.default_rng(0)
    many = rng.integers(0, 3, size=(300, 8), dtype=np.uint32)
    chosen = np.flatnonzero(rng.random(300) < 0.7)
    assert np.array_equal(candidate_pairs(many, 4, 2, subset=chosen), candidate_pairs(many[chosen], 4, 2))


def test_union_find_roots_are_smallest_members() -> None:
    uf = UnionFind(6)
    uf.union(4, 2)
    uf.union(2, 5)
    uf.union(1, 0)
    assert uf.groups(range(6)) == {0: [0, 1], 2: [2, 4, 5], 3: [3]}


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
