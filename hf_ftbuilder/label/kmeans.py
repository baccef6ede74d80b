"""Semi-automatic labelling: KMeans clusters that a person names once.

The first build clusters the texts (TF-IDF or sentence embeddings; ``k`` fixed or chosen by
silhouette), labels each row ``cluster_<id>`` and writes ``review/clusters.md`` (for reading:
size, distinguishing terms, the texts nearest each centroid) and ``review/clusters.yaml`` (the same,
with an empty ``name`` per cluster). The person copies the YAML beside the recipe, writes a label
name or ``drop`` for each cluster, and points ``label.cluster_names`` at it; the next build applies
it. A plain ``{cluster id: name}`` mapping works too.

The fitted clusterer (vectoriser or embedding model, centroids, seed) is kept in
``cache_dir/label/``, so rebuilds, and builds with new rows, put every row in the cluster the person
already named, instead of refitting and renumbering. Cluster ids are ordered by size (0 is the
largest at fit time). Delete the file to refit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from datasets import Dataset

from .. import schema
from ..atomic_file import write_atomic
from ..config import KMeansLabel
from ..decisions import DROP, read_cluster_mapping
from ..embedder import Embedder
from ..engine import Engine
from ..errors import ConfigError, SourceError

__all__ = ["DROP", "ClusterResult", "Clusterer", "assign", "read_cluster_names"]

logger = logging.getLogger(__name__)

_SELECTION_SAMPLE = 5000  # rows used to choose k by silhouette


@dataclass
class Clusterer:
    """What is needed to put any text in the same cluster again."""

    features: str
    centroids: np.ndarray
    seed: int
    vectorizer: Any = None  # fitted TfidfVectorizer for features: tfidf
    model: str | None = None  # embedding model name for features: embedding
    silhouette: dict[int, float] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return len(self.centroids)

    def transform(self, texts: list[str], embedder: Embedder | None) -> Any:
        if self.features == "tfidf":
            return self.vectorizer.transform(texts)
        assert embedder is not None
        return embedder.encode(texts, desc="label: embed for clusters")

    def predict(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Nearest centroid of each row and the row's cosine similarity to it (0..1)."""
        dots = np.asarray(x @ self.centroids.T)
        sq = np.asarray(x.multiply(x).sum(axis=1)).ravel() if hasattr(x, "multiply") else (x * x).sum(axis=1)
        dist = sq[:, None] - 2 * dots + (self.centroids**2).sum(axis=1)[None, :]
        nearest = dist.argmin(axis=1)
        norms = np.sqrt(np.maximum(sq, 1e-12)) * np.linalg.norm(self.centroids[nearest], axis=1)
        cosine = dots[np.arange(len(nearest)), nearest] / np.maximum(norms, 1e-12)
        return nearest.astype(np.int64), np.clip(cosine, 0.0, 1.0).astype(np.float32)


@dataclass
class ClusterResult:
    """Per-row cluster and score, and what a person reads to name the clusters."""

    clusters: np.ndarray
    scores: np.ndarray
    entries: dict[int, dict[str, Any]]  # per cluster: name, size, terms, examples (and proposed)
    preface: list[str]  # the first lines of clusters.md
    details: dict[str, Any]
    vectors: np.ndarray | None = None  # the rows' embeddings, with features: embedding

    def propose(self, ids: list[str], people: dict[str, str]) -> dict[int, dict[str, Any]]:
        """Names that people's labels propose: a cluster where at least two rows were labelled by
        people and all of them agree gets that label proposed (shown in the review files)."""
        given: dict[int, list[str]] = {}
        for row_id, cluster in zip(ids, self.clusters.tolist()):
            if row_id in people:
                given.setdefault(int(cluster), []).append(people[row_id])
        proposed = {}
        for cluster, labels in sorted(given.items()):
            if len(labels) >= 2 and len(set(labels)) == 1:
                proposed[cluster] = {"name": labels[0], "people_labels": len(labels)}
                self.entries[cluster]["proposed"] = labels[0]
                self.entries[cluster]["proposed_by"] = f"all {len(labels)} rows people labelled"
        return proposed

    @property
    def review(self) -> dict[str, str]:
        """``clusters.md`` (to read) and ``clusters.yaml`` (to fill in), for a person."""
        header = (
            "# Name each cluster: set `name` to a label name, or to `drop` to leave its rows out.\n"
            "# Save this file beside the recipe and set label.cluster_names to its path; the next build applies it.\n"
        )
        md = list(self.preface)
        for c, e in self.entries.items():
            md += [f"## Cluster {c}" + (f": {e['name']}" if e["name"] else ""), "",
                   f"{e['size']} rows. Terms: {', '.join(e['terms']) or '(none)'}", ""]
            if e.get("proposed"):
                md += [f"Proposed by people's labels: {e['proposed']} ({e['proposed_by']})", ""]
            md += [f"- `{ex['id']}` {ex['text']}" for ex in e["examples"]] + [""]
        body = yaml.safe_dump(self.entries, sort_keys=False, allow_unicode=True)
        return {"clusters.md": "\n".join(md), "clusters.yaml": header + body}


def _key(cfg: KMeansLabel, seed: int, embedder: Embedder | None) -> str:
    parts = [cfg.kmeans.model_dump(mode="json"), seed, embedder.key if embedder else None]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _fit(x: Any, cfg: KMeansLabel, seed: int) -> tuple[np.ndarray, dict[int, float]]:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n = x.shape[0]
    scores: dict[int, float] = {}
    k = cfg.kmeans.k
    if k is None:
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=min(n, _SELECTION_SAMPLE), replace=False))
        xs = x[sample]
        lo, hi = cfg.kmeans.k_range
        for candidate in range(lo, min(hi, len(sample) - 1) + 1):
            fitted = KMeans(candidate, n_init=3, random_state=seed).fit(xs)
            if len(set(fitted.labels_)) < 2:
                continue
            scores[candidate] = round(float(silhouette_score(xs, fitted.labels_, metric="cosine", random_state=seed)), 6)
        if not scores:
            raise ConfigError(f"label.kmeans: cannot cluster {n} rows into {lo}..{hi} clusters")
        k = max(scores, key=lambda c: (scores[c], -c))
    if k > n:
        raise ConfigError(f"label.kmeans.k: {k} clusters but only {n} rows")
    model = KMeans(k, n_init=5, random_state=seed).fit(x)
    # Number clusters by size, largest first (ties: the cluster of the earliest row), so ids read well.
    sizes = np.bincount(model.labels_, minlength=k)
    first_row = np.array([np.flatnonzero(model.labels_ == c)[0] if sizes[c] else n for c in range(k)])
    order = sorted(range(k), key=lambda c: (-sizes[c], first_row[c]))
    return np.asarray(model.cluster_centers_)[order], scores


def _load(path: Path) -> Clusterer | None:
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except Exception as exc:  # a file from another scikit-learn version: refit rather than fail
        logger.warning("label: cannot read the saved clusterer %s (%s); fitting again", path, exc)
        return None


def _save(path: Path, clusterer: Clusterer) -> None:
    write_atomic(path, pickle.dumps(clusterer, protocol=5))


def _top_terms(texts: list[str], clusters: np.ndarray, k: int, count: int) -> list[list[str]]:
    """Class-based TF-IDF: terms frequent in one cluster and rare across the others."""
    from scipy.sparse import csr_matrix
    from sklearn.feature_extraction.text import CountVectorizer

    try:
        counts = CountVectorizer(stop_words="english", max_features=50_000).fit(texts)
        x = counts.transform(texts)
    except ValueError:  # only stop words
        return [[] for _ in range(k)]
    indicator = csr_matrix((np.ones(len(clusters)), (clusters, np.arange(len(clusters)))), shape=(k, len(clusters)))
    per_cluster = np.asarray((indicator @ x).todense(), dtype=np.float64)
    tf = per_cluster / np.maximum(per_cluster.sum(axis=1, keepdims=True), 1)
    avg_words = per_cluster.sum() / k
    idf = np.log(1 + avg_words / np.maximum(per_cluster.sum(axis=0), 1))
    weights = tf * idf
    vocab = counts.get_feature_names_out()
    return [[str(vocab[j]) for j in np.argsort(-weights[c], kind="stable")[:count] if weights[c, j] > 0] for c in range(k)]


def _entries(texts: list[str], ids: list[str], clusters: np.ndarray, scores: np.ndarray, cfg: KMeansLabel,
             clusterer: Clusterer, names: dict[int, str] | None) -> tuple[dict[int, dict[str, Any]], list[str]]:
    """Per cluster what a person reads to name it, and the first lines of ``clusters.md``."""
    k = clusterer.k
    terms = _top_terms(texts, clusters, k, cfg.kmeans.terms)
    entries: dict[int, dict[str, Any]] = {}
    for c in range(k):
        members = np.flatnonzero(clusters == c)
        nearest = members[np.argsort(-scores[members], kind="stable")[: cfg.kmeans.examples]]
        entries[c] = {
            "name": (names or {}).get(c),
            "size": int(len(members)),
            "terms": terms[c],
            "examples": [{"id": ids[i], "text": " ".join(texts[i].split())[:300]} for i in nearest],
        }
    preface = ["# Clusters to name", "",
               f"{k} clusters of {len(texts)} rows ({clusterer.features} features, seed {clusterer.seed}). "
               "Name them in `clusters.yaml` (see its first lines).", ""]
    if clusterer.silhouette:
        preface += ["Silhouette by k: " + ", ".join(f"{c}: {s:.3f}" for c, s in clusterer.silhouette.items()), ""]
    return entries, preface


def read_cluster_names(path: Path, k: int, labels: list[str] | None) -> dict[int, str]:
    """The person's mapping ``cluster id -> label name | drop``, checked against the clusters and labels.

    Raises:
        SourceError: the file is missing or not a mapping.
        ConfigError: it names a cluster that does not exist, leaves one unnamed, or names an unknown label.
    """
    if not path.is_file():
        raise SourceError(f"label.cluster_names: {path}: file not found")
    try:
        found = read_cluster_mapping(path)
    except ValueError as exc:
        raise SourceError(f"label.{exc}") from None
    names: dict[int, str] = {}
    for cluster, name in found.items():
        if not 0 <= cluster < k:
            raise ConfigError(f"label.cluster_names: {path}: cluster {cluster} does not exist (clusters are 0..{k - 1})")
        if labels is not None and name != DROP and name not in labels:
            raise ConfigError(f"label.cluster_names: {path}: cluster {cluster} is named {name!r}, not one of {labels}")
        names[cluster] = name
    unnamed = [c for c in range(k) if c not in names]
    if unnamed:
        raise ConfigError(f"label.cluster_names: {path}: clusters {unnamed} have no name yet "
                          "(a label name or drop: `ftbuild review RECIPE` or the file)")
    return names


def assign(
    ds: Dataset,
    cfg: KMeansLabel,
    *,
    base_dir: Path,
    cache_dir: Path,
    seed: int,
    progress: bool = True,
    engine: Engine | None = None,
) -> tuple[ClusterResult, dict[int, str] | None]:
    """Cluster the rows with the saved clusterer (fitting and saving it first if there is none).

    Returns:
        The clusters and review files, and the person's names per cluster (None until there is a
        ``cluster_names`` file).
    """
    embedder = None
    if cfg.kmeans.features == "embedding":
        embedder = Embedder(cfg.model, batch_size=cfg.batch_size, max_length=cfg.max_length, device=cfg.device,
                            quantize=cfg.quantize, cache_dir=cache_dir, progress=progress, engine=engine)
    path = cache_dir / "label" / f"kmeans-{_key(cfg, seed, embedder)}.pkl"
    texts = ds.with_format("arrow")[schema.TEXT].to_pylist()
    ids = ds.with_format("arrow")[schema.ID].to_pylist()
    clusterer = _load(path)
    if clusterer is None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = None
        if cfg.kmeans.features == "tfidf":
            vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english", max_features=cfg.kmeans.max_features,
                                         dtype=np.float64)
            try:
                vectorizer.fit(texts)
            except ValueError:
                raise ConfigError("label.kmeans: the texts have no words to cluster on (try features: embedding)") from None
        clusterer = Clusterer(features=cfg.kmeans.features, centroids=np.zeros((0, 0)), seed=seed,
                              vectorizer=vectorizer, model=embedder.name if embedder else None)
        x = clusterer.transform(texts, embedder)
        clusterer.centroids, clusterer.silhouette = _fit(x, cfg, seed)
        _save(path, clusterer)
        logger.info("label: fitted %d clusters, saved in %s", clusterer.k, path)
    else:
        x = clusterer.transform(texts, embedder)
        logger.info("label: %d clusters from the saved clusterer %s", clusterer.k, path)
    clusters, scores = clusterer.predict(x)
    names = read_cluster_names(base_dir / cfg.cluster_names, clusterer.k, cfg.labels) if cfg.cluster_names else None
    entries, preface = _entries(texts, ids, clusters, scores, cfg, clusterer, names)
    details = {
        "features": clusterer.features,
        "k": clusterer.k,
        "silhouette": {str(c): s for c, s in clusterer.silhouette.items()},
        "clusterer": str(path.relative_to(cache_dir)),
        "named": names is not None,
        "clusters_named": sum(1 for n in (names or {}).values() if n != DROP),
        "clusters_dropped": sum(1 for n in (names or {}).values() if n == DROP),
        "sizes": np.bincount(clusters, minlength=clusterer.k).tolist(),
    }
    vectors = x if cfg.kmeans.features == "embedding" else None
    return ClusterResult(clusters=clusters, scores=scores, entries=entries, preface=preface, details=details,
                         vectors=vectors), names
