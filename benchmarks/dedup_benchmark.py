"""Dedup quality and speed: hf_ftbuilder's dedup stage against datasketch, rensa and text-dedup.

One run builds a planted corpus at each size, runs every tool on it, each in its own process, and
prints one markdown table (sizes as row groups) plus recall per kind of copy.

**Corpus** (deterministic, ``random.Random(0)``, real text only). Snippets: the sentences of the
article bodies in ``tests/data/web/ground-truth.json`` (30 pages) and, when ``../shared/data``
exists, ``../shared/data/html/scrapinghub/ground-truth.json`` (181 pages, ``articleBody``); the
texts of ``../shared/data/text/ag_news_test.csv``; the SMS of ``dataset_scripts/data/sms_spam.csv``
(each pool with repeated texts removed). A *base* document is paragraphs of 2-4 snippets of one
pool (article sentences 45%, AG News 35%, SMS 20%) until it holds 1,800-2,200 characters. 80% of
the documents are base documents, 10% exact copies of a base document and 10% near copies of one,
a quarter each of: ``word_edit`` (2-15% of the words replaced, inserted or deleted, words drawn
from the corpus), ``paragraph_shuffle`` (paragraph order changed), ``sentence_shuffle`` (snippet
order changed inside each paragraph) and ``boilerplate`` (a header of 1-2 and a footer of 2-4
lines from a fixed list). Every copy comes after its original (random sort keys, a copy's key
above its original's), so "keep the first" keeps the original. The ground truth is, for every
copy, its original, its kind and the true Jaccard of the two documents' 5-gram shingle sets
(lower-cased ``\\w+`` tokens, Python sets). Snippets are cut to at most 40 words, so that no single
snippet (an article with no sentence breaks that the splitter sees, say) dominates the documents
that draw it. Base documents are checked to be distinct: every pair of base documents sharing at
least 3 snippets gets its true Jaccard computed, and the largest Jaccard a pair sharing fewer
snippets could reach is printed.

**Tools** (threshold 0.8, 128 permutations, word 5-grams, seed 42). Each worker process is pinned
to ``--threads`` cores (default 1, by CPU affinity, which its children inherit; rensa's Rayon pool,
polars and text-dedup's ``num_proc`` get the same number), since the machine has 2 cores and other
jobs may run beside this one. hf_ftbuilder runs once more unpinned, as the row
``hf_ftbuilder (N cores)`` (its stage is single-process; the row shows what a free second core gives). Each runs in
a subprocess; only the dedup work is timed (not reading the corpus), and the process reports its
peak RSS (``VmHWM``) and its RSS just before the timed part.

* ``hf_ftbuilder``: ``hf_ftbuilder.dedup.dedup(ds, Dedup(exact=True, near=NearDedup(threshold=0.8,
  num_perm=128, ngram=5)), seed=42)`` on a ``datasets.Dataset`` (``id``, ``text``) written by
  ``hf_ftbuilder.arrow_cache.persist`` into a fresh temporary folder and memory-mapped back, with
  ``datasets.disable_caching()``; the removed rows are ``stats.dropped_rows`` (``dup_of``).
* ``datasketch`` (venv ``/tmp/bench-datasketch``): ``MinHash.generator`` (default SHA-1 hash,
  affine32 scheme) over the shingle strings, ``MinHashLSH(threshold=0.8, num_perm=128)`` (its own
  optimal bands/rows), every document inserted then queried; candidate pairs are joined with
  union-find and each connected cluster keeps its first document (no Jaccard check, as datasketch
  gives none).
* ``rensa`` (venv ``/tmp/bench-rensa``): ``RMinHash.from_token_sets`` over the shingle strings, and
  the streaming keep-first loop that ``RMinHashDeduplicator`` runs (query ``RMinHashLSH``, keep the
  document unless a kept candidate's estimated Jaccard ``RMinHash.jaccard`` is >= 0.8), written out
  so that the kept document a copy matched is known (token lists are built 1,000 documents at a
  time). ``rensa`` uses the deduplicator's default 8 bands for threshold 0.8; ``rensa-32`` uses 32
  bands of 4 rows (more candidates, higher recall).
* ``text-dedup`` (venv ``/tmp/bench-text-dedup``, Python 3.12): version 0.4.1's MinHash pipeline,
  configured by a ``config.toml`` as its CLI is (``local_files``/``json`` input, ``ngram_size=5``,
  ``num_perm=128``, ``threshold=0.8``, ``hash_bits=64``, ``check_false_positive=true`` as in its
  README's example), calling the steps of ``text_dedup.minhash.main`` in order: the min-length
  filter, ``fingerprint``, ``cluster``, ``assign``, ``check_false_positives``,
  ``remove_duplicates``; loading the JSONL is not timed and saving is skipped.
  ``text-dedup-noverify`` is the same with ``check_false_positive=false`` (the library default).
  Without the check, 0.4.1's cluster ids are polars_grouper's group labels (1, 2, ...), not row
  indices, so ``remove_duplicates`` (keep a row whose cluster id is its own index) drops whole
  clusters, originals included; that row reports removed ids only.

**Metrics**: pairwise precision is the share of (removed, kept) decisions whose true 5-gram Jaccard
is >= 0.8 (computed for each reported pair; for a tool that reports no kept id, the share of
removed documents that are planted copies); recall is the share of planted copies with true
Jaccard >= 0.8 that were removed, and exact recall the share of exact copies removed.

    .venv/bin/python -m benchmarks.dedup_benchmark [--sizes 10000,100000] [--peers datasketch,rensa,text-dedup]
    .venv/bin/python -m benchmarks.dedup_benchmark --install-peers          # create the peer venvs first
    .venv/bin/python -m benchmarks.dedup_benchmark --sizes 10000 --profile /tmp/dedup.prof

This file is also the worker that each peer venv runs (``--worker``), so it imports only the
standard library at module level.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
THRESHOLD, NUM_PERM, NGRAM, SEED = 0.8, 128, 5, 42

# name: (venv, packages, python that creates the venv (None: the one running this script), extra options)
PEERS: dict[str, tuple[Path, tuple[str, ...], str | None, dict]] = {
    "datasketch": (Path("/tmp/bench-datasketch"), ("datasketch==2.0.0",), None, {}),
    "rensa": (Path("/tmp/bench-rensa"), ("rensa==0.5.0",), None, {"bands": 8}),
    "rensa-32": (Path("/tmp/bench-rensa"), ("rensa==0.5.0",), None, {"bands": 32}),
    "text-dedup": (Path("/tmp/bench-text-dedup"), ("text-dedup==0.4.1",), "3.12", {"verify": True}),
    "text-dedup-noverify": (Path("/tmp/bench-text-dedup"), ("text-dedup==0.4.1",), "3.12", {"verify": False}),
}
DEFAULT_PEERS = "datasketch,rensa,rensa-32,text-dedup,text-dedup-noverify"
KINDS = ("exact", "word_edit", "paragraph_shuffle", "sentence_shuffle", "boilerplate")

_SENTENCE_BREAK = re.compile(r"(?<=[.!?\u3002])\s+")
MAX_SNIPPET_WORDS = 40  # longer sentences / texts are cut into pieces of at most this many words
_TOKEN = re.compile(r"\w+")
_WORD = re.compile(r"[A-Za-z][a-z]{2,}")
_BOILERPLATE = (
    "We use cookies to improve your experience on our site. By continuing you agree to our cookie policy.",
    "Subscribe to our newsletter and get the day's top stories delivered to your inbox every morning.",
    "Share this article: Facebook, Twitter, LinkedIn, WhatsApp, Email.",
    "Advertisement - scroll down to continue reading the story.",
    "Follow us on social media for the latest updates and breaking news alerts.",
    "Copyright 2024 The Daily Example. All rights reserved. This material may not be republished.",
    "Read more: the stories our editors picked for you this week, from politics to sport.",
    "Sign up for our free daily briefing and never miss an important story again.",
    "Home | News | Business | Technology | Sport | Culture | Opinion | Contact us",
    "Comments are closed for this article. Please read our community guidelines before posting.",
    "Related topics: world news, markets, economy, elections, climate, science.",
    "This story was updated with additional reporting from our correspondents.",
)


# --- shingles (the ground truth and the peers share this definition) ---------------------------


def shingle_set(text: str, n: int = NGRAM) -> set[str]:
    """Lower-cased ``\\w+`` tokens, word n-grams joined by a space (one shingle for shorter texts)."""
    tokens = _TOKEN.findall(text.lower())
    if len(tokens) < n:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def jaccard_sets(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


# --- corpus ---------------------------------------------------------------------------------


def _sources() -> tuple[list[tuple[list[str], float]], list[str]]:
    """Snippet pools (article sentences, AG News, SMS) with their weights, and the files used."""
    import csv

    used = []
    bodies = []
    for path in (REPO / "tests/data/web/ground-truth.json", SHARED / "html/scrapinghub/ground-truth.json"):
        if path.exists():
            bodies += [v["articleBody"] for v in json.loads(path.read_text(encoding="utf-8")).values()]
            used.append(str(path))
    def pieces(text: str) -> list[str]:
        """A text in pieces of at most MAX_SNIPPET_WORDS words (so no snippet dominates a document)."""
        words = text.split()
        out = [" ".join(words[i : i + MAX_SNIPPET_WORDS]) for i in range(0, len(words), MAX_SNIPPET_WORDS)]
        return [p for p in out if len(_TOKEN.findall(p)) >= 3]

    sentences: dict[str, None] = {}
    for body in bodies:
        for para in body.split("\n"):
            for sentence in _SENTENCE_BREAK.split(para.strip()):
                sentences.update(dict.fromkeys(pieces(sentence)))

    def column(path: Path) -> list[str]:
        with path.open(encoding="utf-8", newline="") as fh:
            texts = dict.fromkeys(p for row in csv.DictReader(fh) for p in pieces(row["text"]))
        used.append(str(path))
        return list(texts)

    ag_path = SHARED / "text/ag_news_test.csv"
    ag_news = column(ag_path) if ag_path.exists() else []
    sms = column(REPO / "dataset_scripts/data/sms_spam.csv")
    pools = [(list(sentences), 0.45), (ag_news, 0.35), (sms, 0.20)]
    return [(pool, weight) for pool, weight in pools if pool], used


def _render(paras: list[list[str]]) -> str:
    return "\n\n".join(" ".join(p) for p in paras)


def _word_edit(rng: random.Random, paras: list[list[str]], vocab: list[str]) -> tuple[str, float]:
    rate = rng.uniform(0.02, 0.15)
    words = [para_text.split(" ") for para_text in (" ".join(p) for p in paras)]
    total = sum(len(w) for w in words)
    for _ in range(max(1, round(rate * total))):
        p = rng.randrange(len(words))
        line = words[p]
        i = rng.randrange(len(line))
        op = rng.random()
        if op < 1 / 3:
            line[i] = rng.choice(vocab)
        elif op < 2 / 3:
            line.insert(i, rng.choice(vocab))
        elif len(line) > 1:
            del line[i]
    return "\n\n".join(" ".join(w) for w in words), rate


def _near_copy(rng: random.Random, kind: str, paras: list[list[str]], vocab: list[str]) -> str:
    if kind == "word_edit":
        return _word_edit(rng, paras, vocab)[0]
    if kind == "paragraph_shuffle" and len(paras) > 1:
        order = list(range(len(paras)))
        while order == sorted(order):
            rng.shuffle(order)
        return _render([paras[i] for i in order])
    if kind in ("paragraph_shuffle", "sentence_shuffle"):
        shuffled = [list(p) for p in paras]
        changed = False
        while not changed:
            for p in shuffled:
                rng.shuffle(p)
            changed = shuffled != paras
        return _render(shuffled)
    if kind == "boilerplate":
        header = rng.sample(_BOILERPLATE, rng.randint(1, 2))
        footer = rng.sample(_BOILERPLATE, rng.randint(2, 4))
        return "\n".join(header) + "\n\n" + _render(paras) + "\n\n" + "\n".join(footer)
    raise ValueError(kind)


def build_corpus(n_docs: int) -> dict:
    """The planted corpus: texts in order, the ground truth of every copy, and the base check."""
    pools, used = _sources()
    weights = [w for _, w in pools]
    offsets, total = [], 0
    for pool, _ in pools:
        offsets.append(total)
        total += len(pool)
    rng = random.Random(0)
    vocab = sorted({w.lower() for pool, _ in pools for s in pool[:3000] for w in _WORD.findall(s)})
    n_exact = n_near = n_docs // 10
    n_base = n_docs - n_exact - n_near
    base_paras: list[list[list[str]]] = []
    base_snippets: list[list[int]] = []
    for _ in range(n_base):
        target = rng.randint(1800, 2200)
        paras, ids, size = [], [], 0
        while size < target:
            k = rng.choices(range(len(pools)), weights)[0]
            pool = pools[k][0]
            para = []
            for _ in range(rng.randint(2, 4)):
                j = rng.randrange(len(pool))
                para.append(pool[j])
                ids.append(offsets[k] + j)
            paras.append(para)
            size += sum(len(s) + 1 for s in para) + 1
        base_paras.append(paras)
        base_snippets.append(ids)
    base_keys = [rng.random() for _ in range(n_base)]
    # (key, text, original base index or None, kind)
    entries: list[tuple[float, str, int | None, str | None]] = [
        (base_keys[b], _render(base_paras[b]), None, None) for b in range(n_base)
    ]
    near_kinds = KINDS[1:]
    for c in range(n_exact + n_near):
        b = rng.randrange(n_base)
        key = base_keys[b] + (1 - base_keys[b]) * rng.random()
        if c < n_exact:
            entries.append((key, entries[b][1], b, "exact"))
        else:
            kind = near_kinds[c % len(near_kinds)]
            entries.append((key, _near_copy(rng, kind, base_paras[b], vocab), b, kind))
    order = sorted(range(len(entries)), key=lambda e: (entries[e][0], e))
    position = {e: pos for pos, e in enumerate(order)}
    texts = [entries[e][1] for e in order]
    planted = {}  # copy position -> (original position, kind, true Jaccard)
    for e in range(n_base, len(entries)):
        _, text, b, kind = entries[e]
        orig = position[b]
        sim = 1.0 if kind == "exact" else jaccard_sets(shingle_set(text), shingle_set(texts[orig]))
        planted[position[e]] = (orig, kind, sim)
    base_positions = [position[b] for b in range(n_base)]
    check = _base_check(texts, base_positions, base_snippets, total)
    return {"texts": texts, "planted": planted, "used": used, "base_check": check,
            "pool_sizes": [len(p) for p, _ in pools]}


def _base_check(texts: list[str], base_positions: list[int], base_snippets: list[list[int]],
                n_snippets: int, min_shared: int = 3) -> dict:
    """True Jaccard of every base pair that shares ``min_shared`` or more snippets."""
    import numpy as np

    lengths = np.array([len(set(s)) for s in base_snippets])
    docs = np.repeat(np.arange(len(base_snippets)), lengths)
    snips = np.concatenate([np.array(sorted(set(s)), dtype=np.int64) for s in base_snippets])
    order = np.argsort(snips, kind="stable")
    snips, docs = snips[order], docs[order]
    starts = np.flatnonzero(np.r_[True, snips[1:] != snips[:-1]])
    ends = np.r_[starts[1:], len(snips)]
    n = len(base_snippets)
    keys = []
    for s, e in zip(starts, ends):
        if e - s > 1:
            members = docs[s:e]
            i, j = np.triu_indices(e - s, k=1)
            a, b = np.minimum(members[i], members[j]), np.maximum(members[i], members[j])
            keys.append(a.astype(np.int64) * n + b)
    if keys:
        uniq, counts = np.unique(np.concatenate(keys), return_counts=True)
    else:
        uniq, counts = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    heavy = uniq[counts >= min_shared]
    sims = [jaccard_sets(shingle_set(texts[base_positions[k // n]]), shingle_set(texts[base_positions[k % n]]))
            for k in heavy.tolist()]
    # A pair sharing fewer snippets shares at most (min_shared - 1) snippets' shingles, plus the
    # shingles that span two shared snippets standing side by side in both documents.
    shingles_per_doc = min(len(shingle_set(texts[p])) for p in base_positions)
    shared_max = (min_shared - 1) * MAX_SNIPPET_WORDS + (min_shared - 2) * (NGRAM - 1)
    bound = shared_max / (2 * shingles_per_doc - shared_max)
    return {"pairs_sharing_any": int(len(uniq)), "pairs_checked": len(sims), "min_shared": min_shared,
            "bound_below": bound,
            "max_jaccard": max(sims, default=0.0), "pairs_ge_0.5": sum(s >= 0.5 for s in sims),
            "max_shared_snippets": int(counts.max()) if len(counts) else 0,
            "mean_snippets_per_doc": float(lengths.mean())}


# --- workers (each runs in its own process) ---------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM; ``ru_maxrss`` would carry the parent's RSS over the fork and exec)
    or a child process's, if larger."""
    own = float("nan")
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                own = int(line.split()[1])
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def _cpu_s() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _read_jsonl(path: str) -> tuple[list[str], list[str]]:
    ids, texts = [], []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            ids.append(row["id"])
            texts.append(row["text"])
    return ids, texts


class _Timed:
    """Wall and CPU time, and RSS before, of the block."""

    def __enter__(self) -> _Timed:
        import gc

        gc.collect()
        self.rss_before = _rss_mb()
        self.cpu = _cpu_s()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start
        self.cpu = _cpu_s() - self.cpu

    def result(self, removed: list, **extra) -> dict:
        return {"seconds": self.seconds, "cpu_seconds": self.cpu, "rss_before_mb": self.rss_before,
                "peak_rss_mb": _peak_mb(), "removed": removed, **extra}


def _worker_ours(arrow: str, opts: dict) -> dict:
    import datasets
    from datasets import Dataset

    from hf_ftbuilder import __version__
    from hf_ftbuilder.config import Dedup, NearDedup
    from hf_ftbuilder.context import StageContext
    from hf_ftbuilder.dedup import dedup

    datasets.disable_caching()
    datasets.disable_progress_bars()
    ds = Dataset.from_file(arrow)
    cfg = Dedup(exact=True, near=NearDedup(threshold=THRESHOLD, num_perm=NUM_PERM, ngram=NGRAM))
    profile = opts.get("profile")
    with _Timed() as timer:
        if profile:
            import cProfile

            prof = cProfile.Profile()
            kept, stats = prof.runcall(dedup, ds, cfg, context=StageContext(seed=SEED))
            prof.dump_stats(profile)
        else:
            kept, stats = dedup(ds, cfg, context=StageContext(seed=SEED))
    dropped = stats.dropped_rows
    removed = [] if dropped is None else [list(p) for p in zip(dropped["id"], dropped["dup_of"])]
    details = {k: v for k, v in stats.details.items()}
    details.get("near", {}).pop("examples", None)
    return timer.result(removed, version=__version__, kept=kept.num_rows, details=details,
                        api="hf_ftbuilder.dedup.dedup(ds, Dedup(exact=True, near=NearDedup(0.8, 128, 5)), context=StageContext(seed=42))")


def _worker_datasketch(jsonl: str, opts: dict) -> dict:
    from importlib.metadata import version

    from datasketch import MinHash, MinHashLSH

    ids, texts = _read_jsonl(jsonl)
    with _Timed() as timer:
        lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
        shingled = ([s.encode("utf-8") for s in shingle_set(t)] for t in texts)
        sketches = list(MinHash.generator(shingled, num_perm=NUM_PERM, seed=SEED))
        with lsh.insertion_session() as session:
            for i, m in enumerate(sketches):
                session.insert(i, m, check_duplication=False)
        parent = list(range(len(texts)))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for i, m in enumerate(sketches):
            for j in lsh.query(m):
                ri, rj = find(i), find(j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)  # the root is the cluster's first document
        removed = [[ids[i], ids[find(i)]] for i in range(len(texts)) if find(i) != i]
    return timer.result(removed, version=version("datasketch"), bands_rows=[lsh.b, lsh.r],
                        api="MinHash.generator(num_perm=128, seed=42) + MinHashLSH(threshold=0.8, num_perm=128); "
                            "union-find over query() candidates, keep the first of each cluster")


def _worker_rensa(jsonl: str, opts: dict) -> dict:
    from importlib.metadata import version

    from rensa import RMinHash, RMinHashLSH

    bands = int(opts.get("bands", 8))
    ids, texts = _read_jsonl(jsonl)
    with _Timed() as timer:
        sketches = []
        for start in range(0, len(texts), 1000):  # in chunks: all token lists at once would take GBs at 100k
            chunk = [list(shingle_set(t)) for t in texts[start : start + 1000]]
            sketches += RMinHash.from_token_sets(chunk, num_perm=NUM_PERM, seed=SEED)
        lsh = RMinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, num_bands=bands)
        removed = []
        for i, m in enumerate(sketches):
            match = None
            for j in sorted(lsh.query(m)):
                if m.jaccard(sketches[j]) >= THRESHOLD:
                    match = j
                    break
            if match is None:
                lsh.insert(i, m)
            else:
                removed.append([ids[i], ids[match]])
    return timer.result(removed, version=version("rensa"), bands_rows=[bands, NUM_PERM // bands],
                        api=f"RMinHash.from_token_sets(num_perm=128, seed=42) + RMinHashLSH(0.8, 128, num_bands={bands}); "
                            "keep-first loop of RMinHashDeduplicator (estimated Jaccard >= 0.8)")


def text_dedup_config(jsonl: str | Path, work: Path, *, verify: bool, seed: int, threads: int) -> str:
    """text-dedup's config.toml as its README shows it: JSONL in, MinHash at this benchmark's settings."""
    return f"""
[input]
input_type = "local_files"
file_type = "json"

[input.read_arguments]
path = "json"
data_files = "{jsonl}"
split = "train"
cache_dir = "{work / 'hf-cache'}"

[algorithm]
algorithm_name = "minhash"
text_column = "text"
seed = {seed}
num_perm = {NUM_PERM}
threshold = {THRESHOLD}
false_positive_weight = 0.5
false_negative_weight = 0.5
hash_bits = 64
ngram_size = {NGRAM}
check_false_positive = {"true" if verify else "false"}
num_proc = {threads}

[output]
output_dir = "{work / 'out'}"
clean_cache = false
save_clusters = false

[debug]
enable_profiling = false
"""


def _worker_text_dedup(jsonl: str, opts: dict) -> dict:
    from importlib.metadata import version

    from text_dedup import minhash as td
    from text_dedup.config.base import load_config_from_toml
    from text_dedup.data_sources.io import load_dataset

    verify = bool(opts.get("verify", True))
    work = Path(opts["workdir"])
    toml = work / "config.toml"
    toml.write_text(text_dedup_config(jsonl, work, verify=verify, seed=SEED, threads=int(opts.get("threads", 1))),
                    encoding="utf-8")
    config = load_config_from_toml(toml)
    algo = config.algorithm
    ds = load_dataset(config)  # JSONL to Arrow and the index column: reading, not timed
    with _Timed() as timer:
        ds = ds.filter(algo.get_filtering_func(), input_columns=[algo.text_column], num_proc=algo.num_proc)
        embedded = td.fingerprint(config, ds)
        assignment = td.cluster(config, embedded)
        ds = td.assign(config, ds, assignment)
        if algo.check_false_positive:
            ds, assignment = td.check_false_positives(config, ds)
        final = td.remove_duplicates(config, ds)
    index_col, cluster_col = algo.internal_index_column, algo.cluster_column
    kept = set(final[index_col])
    id_of = dict(zip(ds[index_col], ds["id"]))
    removed = []
    for idx, cluster, doc_id in zip(ds[index_col], ds[cluster_col], ds["id"]):
        if idx not in kept:
            # Without the check, cluster ids are polars_grouper labels (1, 2, ...), not row indices.
            removed.append([doc_id, id_of.get(cluster) if verify and cluster != idx and cluster in kept else None])
    return timer.result(removed, version=version("text-dedup"), bands_rows=[algo.bands, algo.rows],
                        api="text_dedup.minhash steps (filter, fingerprint, cluster, assign, "
                            f"{'check_false_positives, ' if verify else ''}remove_duplicates), config.toml: "
                            f"ngram_size=5, num_perm=128, threshold=0.8, hash_bits=64, check_false_positive={verify}")


_WORKERS = {"ours": _worker_ours, "datasketch": _worker_datasketch, "rensa": _worker_rensa,
            "text-dedup": _worker_text_dedup}


def _worker_main(name: str, data: str, out: str, opts: dict) -> None:
    threads = int(opts.get("threads") or 0)
    if threads and hasattr(os, "sched_setaffinity"):  # a hard cap on cores, inherited by any child process
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
    result = _WORKERS[name](data, opts)
    result["cores"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    Path(out).write_text(json.dumps(result), encoding="utf-8")


# --- runner -----------------------------------------------------------------------------------


def _pyenv_python(version: str) -> str | None:
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = sorted(root.glob(f"{version}.*"), key=lambda p: [int(x) for x in p.name.split(".") if x.isdigit()])
    return str(found[-1] / "bin/python") if found else None


def install_peers(names: list[str]) -> None:
    """Create each peer's benchmark-only venv (PyPI only); never the project's .venv."""
    for name in names:
        venv, packages, python_version, _ = PEERS[name]
        if (venv / "bin/python").exists():
            continue
        python = sys.executable if python_version is None else _pyenv_python(python_version)
        if python is None:
            print(f"{name}: no Python {python_version} under pyenv; not installed", flush=True)
            continue
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "--quiet", *packages], check=True)


def _env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("RAYON_NUM_THREADS", "POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[var] = str(threads)
    env.update({"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                "PYTHONPATH": ""})
    return env


def _run_worker(python: str, name: str, data: Path, tmp: Path, opts: dict, threads: int, *,
                cwd: Path | None = None) -> dict | str:
    out = tmp / f"result-{name}.json"
    out.unlink(missing_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"work-{name}-", dir=tmp))
    opts = {**opts, "threads": threads, "workdir": str(workdir)}
    env = _env(threads)
    env["HF_DATASETS_CACHE"] = str(workdir / "hf-cache")
    env["TMPDIR"] = str(workdir)
    cmd = [python, str(Path(__file__).resolve()), "--worker", name, str(data), str(out), json.dumps(opts)]
    if name == "ours":
        env["PYTHONPATH"] = str(REPO)
    wall = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(cwd or workdir))
    wall = time.perf_counter() - wall
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stderr.strip().splitlines() or ["?"])[-5:]
        return f"{name} failed (exit {proc.returncode}): " + " | ".join(tail)
    result = json.loads(out.read_text(encoding="utf-8"))
    result["process_seconds"] = wall
    return result


def score(result: dict, planted: dict, texts: list[str], memo: dict) -> dict:
    """Precision of the (removed, kept) decisions and recall of the planted copies."""
    pos = {f"doc-{i:07d}": i for i in range(len(texts))}
    removed = {pos[r]: (pos[k] if k is not None else None) for r, k in result["removed"]}
    pairs = [(r, k) for r, k in removed.items() if k is not None]
    if pairs and len(pairs) == len(removed):
        good = 0
        for r, k in pairs:
            if (r, k) not in memo:
                if r in planted and planted[r][0] == k:
                    memo[(r, k)] = planted[r][2]
                else:
                    memo[(r, k)] = jaccard_sets(shingle_set(texts[r]), shingle_set(texts[k]))
            good += memo[(r, k)] >= THRESHOLD
        precision, how = (good / len(pairs) if pairs else float("nan")), "pairs"
    else:
        precision = sum(r in planted for r in removed) / len(removed) if removed else float("nan")
        how = "ids"
    targets = [c for c, (_, _, sim) in planted.items() if sim >= THRESHOLD]
    exact = [c for c, (_, kind, _) in planted.items() if kind == "exact"]
    by_kind = {}
    for kind in KINDS:
        hi = [c for c, (_, k, s) in planted.items() if k == kind and s >= THRESHOLD]
        lo = [c for c, (_, k, s) in planted.items() if k == kind and s < THRESHOLD]
        by_kind[kind] = (sum(c in removed for c in hi), len(hi), sum(c in removed for c in lo), len(lo))
    return {
        "removed": len(removed),
        "precision": precision,
        "precision_how": how,
        "bad_pairs": sum(memo.get(p, 1.0) < THRESHOLD for p in pairs) if how == "pairs" else None,
        "recall": sum(c in removed for c in targets) / len(targets) if targets else float("nan"),
        "exact_recall": sum(c in removed for c in exact) / len(exact) if exact else float("nan"),
        "non_copies_removed": sum(r not in planted for r in removed),
        "by_kind": by_kind,
    }


def run_size(n_docs: int, peers: list[str], threads: int, profile: str | None) -> dict:
    t0 = time.perf_counter()
    corpus = build_corpus(n_docs)
    texts, planted = corpus["texts"], corpus["planted"]
    megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(f"\n## {n_docs:,} documents, {megabytes:.1f} MB (built in {time.perf_counter() - t0:.0f} s)", flush=True)
    sims = sorted(s for _, k, s in planted.values() if k != "exact")
    hi = sum(s >= THRESHOLD for _, _, s in planted.values())
    print(f"planted: {len(planted):,} copies ({sum(k == 'exact' for _, k, _ in planted.values()):,} exact), "
          f"{hi:,} with true Jaccard >= {THRESHOLD}; near copies' Jaccard min/median/max "
          f"{sims[0]:.3f}/{sims[len(sims) // 2]:.3f}/{sims[-1]:.3f}", flush=True)
    for kind in KINDS[1:]:
        ks = sorted(s for _, k, s in planted.values() if k == kind)
        print(f"  {kind}: {len(ks):,} copies, Jaccard median {ks[len(ks) // 2]:.3f}, "
              f"{sum(s >= THRESHOLD for s in ks):,} >= {THRESHOLD}", flush=True)
    check = corpus["base_check"]
    print(f"base documents distinct: {check['pairs_checked']:,} base pairs share >= {check['min_shared']} snippets "
          f"(most shared: {check['max_shared_snippets']}; {check['mean_snippets_per_doc']:.1f} snippets a document, "
          f"pools {corpus['pool_sizes']}); their max 5-gram Jaccard {check['max_jaccard']:.3f}, "
          f"{check['pairs_ge_0.5']} pairs >= 0.5; pairs sharing fewer snippets have Jaccard <= "
          f"{check['bound_below']:.3f} (snippets of <= {MAX_SNIPPET_WORDS} words)", flush=True)

    results: dict[str, dict | str] = {}
    with tempfile.TemporaryDirectory(prefix="dedup-bench-") as tmp_name:
        tmp = Path(tmp_name)
        jsonl = tmp / "corpus.jsonl"
        with jsonl.open("w", encoding="utf-8") as fh:
            for i, text in enumerate(texts):
                fh.write(json.dumps({"id": f"doc-{i:07d}", "text": text}) + "\n")
        import datasets
        from datasets import Dataset

        from hf_ftbuilder.arrow_cache import persist

        datasets.disable_caching()
        datasets.disable_progress_bars()
        ds = Dataset.from_dict({"id": [f"doc-{i:07d}" for i in range(len(texts))], "text": texts})
        arrow = persist(ds, tmp / "datasets", "bench")
        arrow_path = Path(arrow.cache_files[0]["filename"])
        del ds, arrow

        runs = [("hf_ftbuilder", "ours", sys.executable, arrow_path, {})]
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        if cores > threads:
            runs.append((f"hf_ftbuilder ({cores} cores)", "ours", sys.executable, arrow_path, {"threads": cores}))
        for peer in peers:
            venv, _, _, opts = PEERS[peer]
            worker = "rensa" if peer.startswith("rensa") else "text-dedup" if peer.startswith("text-dedup") else peer
            runs.append((peer, worker, str(venv / "bin/python"), jsonl, opts))
        for label, worker, python, data, opts in runs:
            if not Path(python).exists():
                results[label] = f"no venv ({python}); run with --install-peers"
                print(f"{label}: not measured: {results[label]}", flush=True)
                continue
            res = _run_worker(python, worker, data, tmp, opts, opts.get("threads", threads),
                              cwd=REPO if worker == "ours" else None)
            results[label] = res
            if isinstance(res, str):
                print(f"{label}: not measured: {res}", flush=True)
            else:
                print(f"{label} {res['version']}: {res['seconds']:.1f} s wall, {res['cpu_seconds']:.1f} s CPU, "
                      f"peak RSS {res['peak_rss_mb']:.0f} MB, removed {len(res['removed']):,}", flush=True)
                if worker == "ours":
                    print(f"  details: {json.dumps(res['details'])}", flush=True)
        if profile:
            res = _run_worker(sys.executable, "ours", arrow_path, tmp, {"profile": profile}, threads, cwd=REPO)
            if isinstance(res, str):
                print(f"profile run failed: {res}", flush=True)
            else:
                print(f"profiled hf_ftbuilder run: {res['seconds']:.1f} s (under cProfile), stats in {profile}",
                      flush=True)
                print_profile(profile)

    memo: dict = {}
    scores = {label: score(res, planted, texts, memo) for label, res in results.items() if not isinstance(res, str)}
    return {"n": n_docs, "megabytes": megabytes, "results": results, "scores": scores,
            "planted_hi": hi, "used": corpus["used"]}


def print_profile(path: str, top: int = 5) -> None:
    """The functions of hf_ftbuilder's dedup and minhash modules with the most cumulative time."""
    import pstats

    stats = pstats.Stats(path)
    rows = []
    for (filename, line, func), (cc, nc, tt, ct, _) in stats.stats.items():
        if filename.endswith(("hf_ftbuilder/dedup/__init__.py", "hf_ftbuilder/minhash.py")):
            rows.append((ct, tt, nc, f"{Path(filename).parent.name}/{Path(filename).name}:{line}({func})"))
    rows.sort(reverse=True)
    print(f"\ntop {top} functions in hf_ftbuilder/dedup/__init__.py and hf_ftbuilder/minhash.py by cumulative time:")
    print("| function | calls | cumulative s | own s |")
    print("|---|---:|---:|---:|")
    for ct, tt, nc, name in rows[:top]:
        print(f"| {name} | {nc:,} | {ct:.2f} | {tt:.2f} |")
    print("\ntop 15 overall by own time:")
    total = sum(v[2] for v in stats.stats.values())
    own = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:15]
    print("| function | calls | own s | cumulative s |")
    print("|---|---:|---:|---:|")
    for (filename, line, func), (cc, nc, tt, ct, _) in own:
        where = "/".join(Path(filename).parts[-2:]) if filename != "~" else "built-in"
        print(f"| {where}:{line}({func}) | {nc:,} | {tt:.2f} | {ct:.2f} |")
    print(f"(total own time {total:.2f} s)", flush=True)


def _fmt(x: float, digits: int = 3) -> str:
    return "-" if x != x else f"{x:.{digits}f}"


def report(runs: list[dict], threads: int) -> None:
    print(f"\n# Results (threshold {THRESHOLD}, {NUM_PERM} permutations, word {NGRAM}-grams, {threads} thread(s); "
          "wall and CPU seconds of the dedup work only)\n")
    print("| size | tool | version | cores | bands x rows | wall s | CPU s | wall / ours | peak RSS MB | RSS before MB "
          "| removed | precision | recall (J>=0.8) | exact recall | non-copies removed |")
    print("|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        ours = run["results"].get("hf_ftbuilder")
        ours_s = ours["seconds"] if isinstance(ours, dict) else float("nan")
        for label, res in run["results"].items():
            if isinstance(res, str):
                print(f"| {run['n']:,} | {label} | - | - | - | - | - | - | - | - | - | - | - | - | {res} |")
                continue
            sc = run["scores"][label]
            br = res.get("bands_rows")
            if label.startswith("hf_ftbuilder"):
                near = res["details"].get("near", {})
                br = [near.get("bands"), near.get("rows")]
            prec = _fmt(sc["precision"], 4) + ("" if sc["precision_how"] == "pairs" else " (ids)")
            print(f"| {run['n']:,} | {label} | {res['version']} | {res.get('cores', '?')} | {br[0]}x{br[1]} "
                  f"| {res['seconds']:.1f} "
                  f"| {res['cpu_seconds']:.1f} | {res['seconds'] / ours_s:.2f} | {res['peak_rss_mb']:.0f} "
                  f"| {res['rss_before_mb']:.0f} | {sc['removed']:,} | {prec} | {_fmt(sc['recall'], 4)} "
                  f"| {_fmt(sc['exact_recall'], 4)} | {sc['non_copies_removed']:,} |")
    print("\nRecall by kind of copy: removed / planted, for copies with true Jaccard >= 0.8 | below 0.8 "
          "(removing the latter costs precision)\n")
    print("| size | tool | " + " | ".join(KINDS) + " |")
    print("|---|---|" + "---:|" * len(KINDS))
    for run in runs:
        for label, sc in run["scores"].items():
            cells = []
            for kind in KINDS:
                hi_r, hi_n, lo_r, lo_n = sc["by_kind"][kind]
                cells.append(f"{hi_r:,}/{hi_n:,}" + (f" \\| {lo_r:,}/{lo_n:,}" if lo_n else ""))
            print(f"| {run['n']:,} | {label} | " + " | ".join(cells) + " |")
    print("\nTargets: recall >= 0.95 (J >= 0.8), precision >= 0.99, hf_ftbuilder wall <= 0.5 x the fastest peer "
          "that finished, peak RSS <= 1 GB at 100k.\n")
    for run in runs:
        ours = run["results"].get("hf_ftbuilder")
        if not isinstance(ours, dict):
            continue
        sc = run["scores"]["hf_ftbuilder"]
        peers = {k: v for k, v in run["results"].items() if not k.startswith("hf_ftbuilder") and isinstance(v, dict)}
        line = (f"- {run['n']:,}: recall {_fmt(sc['recall'], 4)} ({'met' if sc['recall'] >= 0.95 else 'NOT met'}), "
                f"precision {_fmt(sc['precision'], 4)} ({'met' if sc['precision'] >= 0.99 else 'NOT met'})")
        if peers:
            fastest = min(peers, key=lambda k: peers[k]["seconds"])
            ratio = ours["seconds"] / peers[fastest]["seconds"]
            line += (f", wall {ours['seconds']:.1f} s = {ratio:.2f} x fastest peer {fastest} "
                     f"({peers[fastest]['seconds']:.1f} s) ({'met' if ratio <= 0.5 else 'NOT met'})")
        line += f", peak RSS {ours['peak_rss_mb']:.0f} MB"
        if run["n"] >= 100_000:
            line += f" ({'met' if ours['peak_rss_mb'] <= 1024 else 'NOT met'})"
        for label, res in run["results"].items():
            if label.startswith("hf_ftbuilder (") and isinstance(res, dict) and peers:
                line += (f"; {label}: wall {res['seconds']:.1f} s = {res['seconds'] / peers[fastest]['seconds']:.2f} x "
                         f"{fastest}, peak RSS {res['peak_rss_mb']:.0f} MB")
        print(line)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, name, data, out, opts = sys.argv
        _worker_main(name, data, out, json.loads(opts))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="corpus sizes in documents, comma-separated")
    parser.add_argument("--peers", default=DEFAULT_PEERS, help=f"comma-separated, from: {', '.join(PEERS)}")
    parser.add_argument("--threads", type=int, default=1, help="threads / processes each tool may use")
    parser.add_argument("--install-peers", action="store_true", help="create the peer venvs under /tmp first")
    parser.add_argument("--profile", metavar="PATH", help="also run hf_ftbuilder under cProfile at the first size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    peers = [p for p in args.peers.split(",") if p]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        parser.error(f"unknown peers {unknown}; choose from {list(PEERS)}")
    if args.install_peers:
        install_peers(peers)
    print(f"dedup benchmark: sizes {sizes}, peers {peers}, {args.threads} thread(s) per tool, "
          f"{os.cpu_count()} cores (other jobs on the machine add timing noise: compare CPU seconds too)", flush=True)
    runs = []
    for i, n in enumerate(sizes):
        runs.append(run_size(n, peers, args.threads, args.profile if i == 0 else None))
    print("\ncorpus sources: " + ", ".join(runs[0]["used"]))
    report(runs, args.threads)


if __name__ == "__main__":
    main()
