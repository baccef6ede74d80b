from __future__ import annotations

import re

import numpy as np
import pytest

from hf_ftbuilder import minhash
from hf_ftbuilder.config import Dedup, NearDedup, parse_config
from hf_ftbuilder.context import StageContext
from hf_ftbuilder.dedup import dedup, exact, near
from hf_ftbuilder.errors import ConfigError
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

BASE = ("The committee met on Tuesday to review the bridge plan, which has been debated for months by residents "
        "who want more detail about the timetable, the cost and the closures that the works will bring to the "
        "old town and to the river path that runs beside it. Engineers told the meeting that the supports are "
        "older than the records show, that divers found cracks in two of the piers last winter, and that a "
        "temporary crossing could open in the spring if the county agrees to share the cost with the city and "
        "the contractor can find enough steel before the summer.")  # 110 words


def edit(text: str, positions: list[int], word: str = "zebra") -> str:
    words = text.split()
    for p in positions:
        words[p] = word
    return " ".join(words)


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


def test_planted_exact_duplicates_keep_first_and_say_of_what(make_dataset) -> None:
    texts = ["Win a prize now", "hello there", "win a PRIZE   now", "unique", "Hello there", "win a prize now"]
    ds, stats = exact(make_dataset(texts, gold=list("abcdef")))
    assert ds["id"] == ["r0", "r1", "r3"]
    assert ds["gold"] == ["a", "b", "d"]
    assert ds["dup_cluster"] == ["r0", "r1", None]
    assert ds["dup_count"] == [3, 2, 1]
    assert "dup_of" not in ds.column_names
    assert stats.dropped == {"exact_duplicate": 3}
    dropped = stats.dropped_rows
    assert dropped["id"] == ["r2", "r4", "r5"]
    assert dropped["dup_of"] == ["r0", "r1", "r0"]
    assert dropped["dup_cluster"] == ["r0", "r1", "r0"]
    assert dropped["similarity"] == [1.0, 1.0, 1.0]
    assert stats.details["exact"] == {"removed": 3, "groups": 2}


def test_keep_longest(make_dataset) -> None:
    ds, _ = exact(make_dataset(["a  b", "A B", "x"]), keep="longest")
    assert ds["id"] == ["r0", "r2"]
    ds, stats = exact(make_dataset(["A B", "a   b", "x"]), keep="longest")
    assert ds["id"] == ["r1", "r2"]
    assert stats.dropped_rows["dup_of"] == ["r1"]


def test_planted_near_duplicate_clusters(make_dataset) -> None:
    other = BASE.replace("bridge", "library").replace("river path", "market square").replace("committee", "council")
    texts = [
        BASE,                      # r0: kept, cluster of 3
        edit(BASE, [20]),          # r1: one word changed
        "A stranger: the weather was fine and the match went on as planned in the afternoon at the park.",
        edit(BASE, [5, 40]),       # r3: two words changed
        other,                     # r4: same frame, different content words: not a duplicate
        BASE.upper(),              # r5: exact duplicate of r0
    ]
    ds, stats = near(make_dataset(texts), threshold=0.8)
    assert ds["id"] == ["r0", "r2", "r4"]
    assert ds["dup_cluster"] == ["r0", None, None]
    assert ds["dup_count"] == [4, 1, 1]  # r0 stands for itself, r1, r3 and r5
    assert stats.dropped == {"near_duplicate": 2, "exact_duplicate": 1}
    dropped = {r["id"]: r for r in stats.dropped_rows}
    assert {k: (v["drop_reason"], v["dup_of"], v["dup_cluster"]) for k, v in dropped.items()} == {
        "r1": ("near_duplicate", "r0", "r0"),
        "r3": ("near_duplicate", "r0", "r0"),
        "r5": ("exact_duplicate", "r0", "r0"),
    }
    base = shingles(BASE, 5)
    assert dropped["r1"]["similarity"] == pytest.approx(jaccard(shingles(texts[1], 5), base), abs=1e-6)
    assert 0.8 <= dropped["r3"]["similarity"] < dropped["r1"]["similarity"] < 1
    assert stats.details["near"]["removed"] == 2 and stats.details["near"]["clusters"] == 1


def test_chains_are_transitive_and_say_so(make_dataset) -> None:
    # A~B and B~C pass the threshold, A~C does not: union-find puts C in A's cluster, and C's
    # similarity to A (below the threshold) is what the dropped row reports.
    a = BASE
    b = edit(a, [20, 60])
    c = edit(b, [40, 80], word="yak")
    sa, sb, sc = shingles(a, 5), shingles(b, 5), shingles(c, 5)
    assert jaccard(sa, sb) >= 0.75 and jaccard(sb, sc) >= 0.75 and jaccard(sa, sc) < 0.75
    ds, stats = near(make_dataset([a, b, c]), threshold=0.75)
    assert ds["id"] == ["r0"]
    assert stats.dropped_rows["dup_of"] == ["r0", "r0"]
    assert stats.dropped_rows["similarity"][1] == pytest.approx(jaccard(sa, sc), abs=1e-6)


def test_verification_reads_rows_in_batches(make_dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [edit(BASE, [i]) for i in range(0, 60, 10)] + ["Something else entirely, about the weather and a match."]
    expected = near(make_dataset(texts), threshold=0.8)[1].dropped_rows.to_dict()
    assert len(expected["id"]) == 5
    monkeypatch.setattr(minhash, "_SHINGLE_ROWS", 2)  # rows read two at a time
    monkeypatch.setattr(minhash, "_VERIFY_PAIRS", 3)  # pairs verified three at a time
    assert near(make_dataset(texts), threshold=0.8)[1].dropped_rows.to_dict() == expected


def test_a_cluster_is_never_emptied(make_dataset) -> None:
    texts = [edit(BASE, [i]) for i in range(0, 100, 10)]  # ten near copies of one another
    ds, stats = near(make_dataset(texts), threshold=0.7)
    assert ds.num_rows == 1 and ds["dup_count"] == [10]
    assert stats.dropped == {"near_duplicate": 9}


def test_same_seed_same_result(make_dataset) -> None:
    texts = [edit(BASE, [i, i + 17]) for i in range(0, 20, 2)] + [BASE.replace("bridge", f"bridge {i}") for i in range(5)]
    first = near(make_dataset(texts), seed=3)
    second = near(make_dataset(texts), seed=3)
    assert first[0]["id"] == second[0]["id"]
    assert first[0]["dup_cluster"] == second[0]["dup_cluster"]
    assert first[1].dropped_rows["dup_of"] == second[1].dropped_rows["dup_of"]


def test_against_drops_copies_and_edited_copies_of_reference_rows(make_dataset) -> None:
    refs = [f"Reference item {i}: " + edit(BASE, [i, i + 10, i + 20, i + 30, i + 40], word=f"w{i}") for i in range(12)]
    reference = make_dataset(refs)
    reference = reference.map(lambda r: {"id": "ref" + r["id"]})
    fresh = [f"Fresh text {i} about gardens, " + "tomatoes and rain " * (i + 3) for i in range(6)]
    texts = fresh[:3] + refs[:5] + [edit(r, [90]) for r in refs[5:10]] + fresh[3:]
    ds, stats = dedup(make_dataset(texts), Dedup(), context=StageContext(seed=1), reference=reference)
    assert stats.dropped == {"contaminated": 10}
    dropped = stats.dropped_rows
    assert dropped["id"] == [f"r{i}" for i in range(3, 13)]
    assert dropped["dup_of"] == [f"refr{i}" for i in range(10)]
    assert dropped["similarity"][:5] == [1.0] * 5 and all(0.8 <= s < 1 for s in dropped["similarity"][5:])
    assert ds.num_rows == 6
    assert stats.details["against"] == {"reference_rows": 12, "removed": 10}


def test_near_config_checks() -> None:
    with pytest.raises(ConfigError, match="set both bands and rows"):
        parse_config({"name": "x", "sources": [{"type": "csv", "path": "a"}], "dedup": {"near": {"bands": 4}}})
    with pytest.raises(ConfigError, match=r"bands \* rows must be at most num_perm; got 20 \* 8 > 128"):
        parse_config({"name": "x", "sources": [{"type": "csv", "path": "a"}],
                      "dedup": {"near": {"bands": 20, "rows": 8}}})
    assert Dedup().near == NearDedup(enabled=True, threshold=0.8, num_perm=128, ngram=5)
