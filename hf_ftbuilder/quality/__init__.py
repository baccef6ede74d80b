"""Report: the figures of the built dataset that go into ``quality.json`` and the card.

Sections (each a key of ``quality.json``):

- ``splits``: rows and rows per label name of each split; ``labels``: names, counts, shares;
- ``size``: rows, characters, words and tokens per split and in all;
- ``class_balance``: per split and in all, counts, shares, imbalance ratio and normalised entropy;
- ``lengths``: words per row (percentiles, histogram); ``languages`` and ``domains`` (URL hosts)
  when the rows have them;
- ``noise``: duplicates removed (exact, near), rows dropped per reason by each stage, PII matches,
  and the label-noise estimate (:mod:`.baseline`), whose flagged rows go to
  ``review/label_issues.parquet``;
- ``diversity``: distinct-1/2, vocabulary, MATTR, and on a seeded sample of embedded rows the mean
  pairwise cosine distance and the number of clusters the sample covers (best silhouette);
- ``label_provenance``: rows per ``label_source`` and the score histogram;
- ``baseline``: TF-IDF + logistic regression cross-validated on train, then scored on validation
  and test (optionally on frozen embeddings too).

Rows that balancing added to train (``augmented_from``) are left out of the baseline and of the
noise estimate: copies in both folds would flatter the scores.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Value

from .. import schema
from ..arrow_cache import add_columns
from ..config import Report
from ..stats import StageStats
from . import baseline as baseline_mod
from . import text_stats

__all__ = ["METRIC_PATH", "report", "split_counts"]

logger = logging.getLogger(__name__)

#: ``evaluate.load(METRIC_PATH)`` gives the baseline's metrics as an ``evaluate`` module, offline.
METRIC_PATH = str(Path(__file__).with_name("classification_metric") / "classification_metric.py")
_MAX_FLAGGED_SHOWN = 5


def split_counts(dd: DatasetDict) -> dict[str, dict[str, Any]]:
    """Rows per split and, when ``label`` is a ClassLabel, rows per label name (every name listed)."""
    out: dict[str, dict[str, Any]] = {}
    for name, ds in dd.items():
        entry: dict[str, Any] = {"num_rows": ds.num_rows}
        feature = ds.features.get(schema.LABEL)
        if isinstance(feature, ClassLabel):
            counts = Counter(ds.with_format("arrow")[schema.LABEL].to_pylist())
            entry["label_counts"] = {label: counts.get(i, 0) for i, label in enumerate(feature.names)}
        out[name] = entry
    return out


def _column(ds: Dataset, name: str) -> list[Any]:
    return ds.with_format("arrow")[name].to_pylist() if name in ds.column_names else []


@functools.cache
def _tokenizer(name: str | None) -> Any:
    from transformers import AutoTokenizer

    from ..embedder import resolve_model

    try:
        return AutoTokenizer.from_pretrained(resolve_model(name))
    except (OSError, ValueError) as exc:
        logger.warning("report: cannot load tokenizer %r (%s); token counts left out", name, str(exc).splitlines()[0])
        return None


def _noise(stages: list[StageStats]) -> dict[str, Any]:
    out: dict[str, Any] = {"dropped": {s.name: dict(s.dropped) for s in stages if s.dropped}}
    for st in stages:
        if st.name == "dedup":
            out["duplicates"] = {
                "exact": st.details.get("exact", {}).get("removed", 0),
                "near": st.details.get("near", {}).get("removed", 0),
                "contaminated": st.details.get("against", {}).get("removed", 0),
            }
        if st.name == "clean" and st.details.get("pii"):
            out["pii"] = st.details["pii"]
    return out


def _semantic_diversity(texts: list[str], sample: int, seed: int, cache_dir: Path | None) -> dict[str, Any]:
    """Mean pairwise cosine distance of a seeded sample's embeddings, and the clusters it covers."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    from ..embedder import Embedder

    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(texts), size=min(sample, len(texts)), replace=False))
    # 128 tokens tell topics apart as well as 256 and halve the cost on long documents.
    embedder = Embedder(max_length=128, cache_dir=cache_dir, progress=False)
    vectors = embedder.encode([texts[i] for i in chosen], desc="report: embed")
    sims = vectors @ vectors.T
    n = len(vectors)
    mean_distance = float(1 - (sims.sum() - np.trace(sims)) / (n * (n - 1))) if n > 1 else 0.0
    best_k, best_score = 1, -1.0
    for k in range(2, min(8, n - 1) + 1):
        labels = KMeans(k, n_init=1, random_state=seed).fit_predict(vectors)
        if len(set(labels)) < 2:
            continue
        score = float(silhouette_score(vectors, labels, metric="cosine"))
        if score > best_score:
            best_k, best_score = k, score
    return {"sample": n, "mean_pairwise_distance": round(mean_distance, 6), "clusters": best_k,
            "silhouette": round(best_score, 6) if best_k > 1 else None}


def _label_issues(ds: Dataset, names: list[str], flagged: list[tuple[int, int, float]]) -> Dataset:
    rows = ds.select([r for r, _, _ in flagged])
    given = rows.with_format("arrow")[schema.LABEL].to_pylist()
    return add_columns(rows, [
        ("given_label", [names[g] for g in given], Value("string")),
        ("likely_label", [names[j] for _, j, _ in flagged], Value("string")),
        ("issue_score", [round(m, 6) for _, _, m in flagged], Value("float32")),
    ])


def _learnability(dd: DatasetDict, names: list[str], cfg: Report, seed: int, cache_dir: Path | None) -> tuple[dict[str, Any], dict[str, Any], Dataset | None]:
    """The baseline section, the label-noise section and the rows it flags."""
    originals = {name: ds.filter(lambda a: a is None, input_columns=schema.AUGMENTED_FROM)
                 if schema.AUGMENTED_FROM in ds.column_names else ds for name, ds in dd.items()}
    data = {name: (_column(ds, schema.TEXT), np.array(_column(ds, schema.LABEL), dtype=np.int64))
            for name, ds in originals.items()}
    baseline: dict[str, Any] = {}
    if cfg.baseline and "train" in data:
        train_x, train_y = data["train"]
        evaluated = {n: v for n, v in data.items() if n != "train"}
        baseline["tfidf_logreg"] = {
            "cross_validation": baseline_mod.cross_validate(train_x, train_y, names, folds=cfg.cv_folds, seed=seed),
            "splits": baseline_mod.fit_and_score((train_x, train_y), evaluated, names, seed=seed),
        }
        if cfg.embedding_baseline:
            from ..embedder import Embedder

            embedder = Embedder(cache_dir=cache_dir, progress=False)
            vecs = {n: (embedder.encode(x, desc=f"report: embed {n}"), y) for n, (x, y) in data.items()}
            baseline["embedding_logreg"] = {
                "model": embedder.name,
                "cross_validation": baseline_mod.cross_validate(vecs["train"][0], train_y, names, folds=cfg.cv_folds,
                                                                seed=seed, embeddings=True),
                "splits": baseline_mod.fit_and_score(vecs["train"], {n: v for n, v in vecs.items() if n != "train"},
                                                     names, seed=seed, embeddings=True),
            }
    noise: dict[str, Any] = {}
    issues = None
    if cfg.label_noise:
        order = [n for n in originals]
        texts = [t for n in order for t in data[n][0]]
        labels = np.concatenate([data[n][1] for n in order]) if order else np.zeros(0, dtype=np.int64)
        proba = baseline_mod.out_of_fold(texts, labels, len(names), folds=cfg.cv_folds, seed=seed)
        if proba is None:
            noise = {"skipped": "a class has fewer than 2 rows"}
        else:
            found = baseline_mod.confident_learning(proba, labels)
            flagged = found.pop("flagged")
            noise = {**found, "label_errors": len(flagged), "rows": int(len(labels)), "names": names}
            if flagged:
                from datasets import concatenate_datasets

                whole = concatenate_datasets([originals[n] for n in order])
                issues = _label_issues(whole, names, flagged)
                noise["examples"] = [
                    {"id": r[schema.ID], "given": r["given_label"], "likely": r["likely_label"],
                     "score": round(float(r["issue_score"]), 4)}
                    for r in issues.select(range(min(_MAX_FLAGGED_SHOWN, issues.num_rows)))
                ]
    return baseline, noise, issues


def report(
    dd: DatasetDict,
    cfg: Report,
    *,
    stages: list[StageStats] | None = None,
    seed: int = 42,
    cache_dir: Path | None = None,
) -> tuple[dict[str, Any], StageStats]:
    """Compute the report sections for the built splits.

    Returns:
        The sections and the stage stats (``review_rows["label_issues"]`` holds the rows the
        label-noise estimate flags).
    """
    stages = stages or []
    splits = split_counts(dd)
    sections: dict[str, Any] = {"splits": splits}
    first = next(iter(dd.values()))
    feature = first.features.get(schema.LABEL)
    texts = {name: _column(ds, schema.TEXT) for name, ds in dd.items()}
    all_texts = [t for v in texts.values() for t in v]
    tokenizer = _tokenizer(cfg.tokenizer) if cfg.tokenizer != "none" else None
    per_split = {name: text_stats.size(v, tokenizer) for name, v in texts.items()}
    sections["size"] = {"splits": per_split,
                        "total": {k: sum(s.get(k, 0) for s in per_split.values()) for k in per_split[next(iter(per_split))]}}
    if tokenizer is not None:
        sections["size"]["tokenizer"] = cfg.tokenizer or "sentence-transformers/all-MiniLM-L6-v2"
    sections["lengths"] = text_stats.lengths(all_texts)
    sections["diversity"] = text_stats.diversity(all_texts)
    if cfg.diversity_sample and len(all_texts) > 2:
        sections["diversity"]["semantic"] = _semantic_diversity(all_texts, cfg.diversity_sample, seed, cache_dir)
    languages = Counter(v for ds in dd.values() for v in _column(ds, schema.LANGUAGE) if v)
    if languages:
        sections["languages"] = dict(languages.most_common())
    hosts = Counter(urlsplit(u).hostname for ds in dd.values() for u in _column(ds, schema.URL) if u)
    if hosts:
        sections["domains"] = dict(hosts.most_common(20))
    sections["noise"] = _noise(stages)
    label_stage = next((s for s in stages if s.name == "label"), None)
    review: dict[str, Dataset] = {}
    if isinstance(feature, ClassLabel):
        names = list(feature.names)
        total = Counter()
        for entry in splits.values():
            total.update(entry["label_counts"])
        n = sum(total.values())
        sections["labels"] = {
            "names": names,
            "counts": {k: total.get(k, 0) for k in names},
            "shares": {k: round(total.get(k, 0) / n, 6) if n else 0.0 for k in names},
        }
        sections["class_balance"] = {
            "all": text_stats.balance({k: total.get(k, 0) for k in names}),
            "splits": {s: text_stats.balance(e["label_counts"]) for s, e in splits.items()},
        }
        sources = Counter(v for ds in dd.values() for v in _column(ds, schema.LABEL_SOURCE))
        sections["label_provenance"] = {
            "sources": {str(k): v for k, v in sorted(sources.items(), key=lambda kv: str(kv[0]))},
            "score_histogram": (label_stage.details.get("score_histogram", {}) if label_stage else {}),
        }
        baseline, noise, issues = _learnability(dd, names, cfg, seed, cache_dir)
        if baseline:
            sections["baseline"] = baseline
        if noise:
            sections["noise"]["labels"] = noise
        if issues is not None:
            review["label_issues"] = issues
    rows = sum(e["num_rows"] for e in splits.values())
    stats = StageStats(name="report", rows_in=rows, rows_out=rows)
    stats.review_rows = review
    return sections, stats
