"""dedup: planted exact and near duplicates, exact survivors and reasons, chains, reference sets."""

from __future__ import annotations

import pytest

from hf_ftbuilder import minhash
from hf_ftbuilder.config import Dedup, NearDedup, parse_config
from hf_ftbuilder.context import StageContext
from hf_ftbuilder.dedup import dedup, exact, near
from hf_ftbuilder.errors import ConfigError
from hf_ftbuilder.minhash import jaccard, shingles

from ..conftest import BASE, edit


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


