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
  and test (optionally on frozen embeddings too);
- ``left_out``: figures the defaults ask for whose extra is not installed (``tokens`` and
  ``semantic_diversity`` need ``models``, ``plots`` needs ``plots``), each with that extra.

Rows that balancing added to train (``augmented_from``) are left out of the baseline and of the
noise estimate: copies in both folds would flatter the scores.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pyarrow.compute as pc
from datasets import ClassLabel, Dataset, DatasetDict, Value

from .. import extras, schema
from ..allocation import iterative_folds
from ..arrow_cache import add_columns
from ..config import Report
from ..context import StageContext
from ..embedder import Embedder
from ..engine import Engine, LocalEngine, in_background, settle
from ..memory import release, release_mapped_pages
from ..stats import StageStats
from . import baseline as baseline_mod
from . import text_stats

__all__ = ["METRIC_PATH", "report", "split_counts"]

logger = logging.getLogger(__name__)

#: ``evaluate.load(METRIC_PATH)`` gives the baseline's metrics as an ``evaluate`` module, offline.
METRIC_PATH = str(Path(__file__).with_name("classification_metric") / "classification_metric.py")
_MAX_FLAGGED_SHOWN = 5
DEFAULT_TOKENIZER = "sentence-transformers/all-MiniLM-L6-v2"


def split_counts(dd: DatasetDict) -> dict[str, dict[str, Any]]:
    """Rows per split and, when ``label`` is a ClassLabel, rows per label name (every name listed);
    with several labels per row (``labels``), the rows carrying each label."""
    out: dict[str, dict[str, Any]] = {}
    for name, ds in dd.items():
        entry: dict[str, Any] = {"num_rows": ds.num_rows}
        feature = ds.features.get(schema.LABEL)
        if isinstance(feature, ClassLabel):
            counts = _value_counts(DatasetDict({name: ds}), schema.LABEL, skip_empty=False)
            entry["label_counts"] = {label: counts.get(i, 0) for i, label in enumerate(feature.names)}
        elif (names := _many_names(ds)) is not None:
            counts = _indicator(_label_sets(ds), len(names)).sum(axis=0)
            entry["label_counts"] = {label: int(counts[i]) for i, label in enumerate(names)}
        out[name] = entry
    return out


def _many_names(ds: Dataset) -> list[str] | None:
    """The label names when the rows carry several labels each (``labels``: a list of ClassLabel)."""
    feature = ds.features.get(schema.LABELS)
    inner = getattr(feature, "feature", None)
    return list(inner.names) if isinstance(inner, ClassLabel) else None


def _label_sets(ds: Dataset) -> list[list[int]]:
    return ds.with_format("arrow")[schema.LABELS].to_pylist()


def _indicator(sets: list[list[int]], n_labels: int) -> np.ndarray:
    """Rows x labels, 1 where the row carries the label."""
    out = np.zeros((len(sets), n_labels), dtype=np.int8)
    for i, row in enumerate(sets):
        out[i, row] = 1
    return out


def _column(ds: Dataset, name: str) -> list[Any]:
    return ds.with_format("arrow")[name].to_pylist() if name in ds.column_names else []


def _labels(ds: Dataset) -> np.ndarray:
    """The ClassLabel indices of every row, read from Arrow (a Python list of a million ints is 36 MB)."""
    return ds.with_format("arrow")[schema.LABEL].to_numpy(zero_copy_only=False).astype(np.int64)


def _value_counts(dd: DatasetDict, name: str, *, skip_empty: bool = True) -> Counter[Any]:
    """The values of a column over every split and their counts, counted in Arrow (no Python
    object per row); empty and missing values left out unless ``skip_empty`` is off."""
    out: Counter[Any] = Counter()
    for ds in dd.values():
        if name in ds.column_names:
            counts = pc.value_counts(ds.with_format("arrow")[name])
            for value, n in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()):
                if value or not skip_empty:
                    out[value] += n
    return out


def _row_counts(ds: Dataset, engine: Engine | None) -> tuple[np.ndarray, np.ndarray]:
    """Characters and words of every row of a split, counted by the engine in batches."""
    from datasets import Features

    counts = (engine or LocalEngine()).map(
        ds.select_columns([schema.TEXT]), text_stats.row_stats_batch, remove_columns=[schema.TEXT],
        features=Features({schema.CHARS: Value("int64"), schema.WORDS: Value("int64")}), desc="report: count words")
    table = counts.with_format("arrow")[:]
    return tuple(table.column(c).to_numpy(zero_copy_only=False) for c in (schema.CHARS, schema.WORDS))


def _size(ds: Dataset, counts: tuple[np.ndarray, np.ndarray], tokenizer: str | None, token_sample: int, seed: int,
          engine: Engine | None) -> dict[str, int]:
    """Rows, characters, words and tokens of a split, from its rows' ``counts`` (characters and
    words per row: :func:`_row_counts`, or the lexical diversity's when it read every row).

    Tokens are counted on every row when the split has at most ``token_sample`` rows; above that,
    on a seeded sample, scaled by characters (tokens per character of the sample times the split's
    characters) and marked as estimated.
    """
    from datasets import Features
    from datasets.fingerprint import Hasher

    engine = engine or LocalEngine()
    chars, words = counts
    out = {"rows": ds.num_rows, "characters": int(chars.sum()), "words": int(words.sum())}
    if tokenizer is not None:
        texts = ds.select_columns([schema.TEXT])
        rows = _sample(np.zeros(ds.num_rows, dtype=np.int64), token_sample, seed, 0)
        sample = texts.select(rows) if len(rows) < ds.num_rows else texts
        tokens = engine.map_model(
            sample, text_stats.TokenCounts, init_kwargs={"tokenizer": tokenizer},
            features=Features({schema.TOKENS: Value("int64")}), remove_columns=[schema.TEXT],
            desc="report: count tokens", batch_size=1000,
            fingerprint=Hasher.hash([sample._fingerprint, "tokens", tokenizer]),
        ).with_format("arrow")[schema.TOKENS].to_numpy(zero_copy_only=False)
        if len(rows) < ds.num_rows:
            sampled_chars = int(chars[rows].sum())
            out["tokens"] = round(int(tokens.sum()) * out["characters"] / sampled_chars) if sampled_chars else 0
            out["tokens_estimated_from"] = len(rows)
        else:
            out["tokens"] = int(tokens.sum())
    return out


@functools.cache
def _tokenizer(name: str) -> Any:
    try:
        return text_stats.token_counter(name)
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


def _diversity_embedder(cache_dir: Path | None, engine: Engine | None) -> Embedder:
    """The semantic diversity's embedder, its model loaded.

    128 tokens tell topics apart as well as 256 and halve the cost on long documents; bf16 (or
    int8) as labelling's default: 300 scale-benchmark documents in 2.6 s instead of 7.1 s.
    """
    return Embedder(max_length=128, quantize="auto", cache_dir=cache_dir, progress=False, engine=engine).load()


def _semantic_diversity(dd: DatasetDict, sample: int, seed: int, embedder: Embedder) -> dict[str, Any]:
    """Mean pairwise cosine distance of a seeded sample's embeddings, and the clusters it covers."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    total = sum(ds.num_rows for ds in dd.values())
    chosen = np.sort(rng.choice(total, size=min(sample, total), replace=False))
    vectors = embedder.encode(_texts_at(dd, chosen), desc="report: embed")
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


def _sample(labels: np.ndarray, cap: int, seed: int, min_per_class: int) -> np.ndarray:
    """Sorted row indices of a seeded sample of at most about ``cap`` rows, stratified by label.

    Each label keeps its share of the cap, but at least ``min_per_class`` rows (or all it has), so
    a small class still has a row in every fold. Below the cap every row is kept.
    """
    if len(labels) <= cap:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    picked = []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        want = min(len(members), max(min_per_class, round(cap * len(members) / len(labels))))
        picked.append(rng.choice(members, size=want, replace=False))
    return np.sort(np.concatenate(picked))


def _per_split(splits: dict[str, Dataset], positions: np.ndarray) -> Iterator[tuple[Dataset, np.ndarray]]:
    """Each split holding some of ``positions`` (sorted, over the splits read one after another),
    with those positions counted from the split's first row."""
    start = 0
    for ds in splits.values():
        local = positions[(positions >= start) & (positions < start + ds.num_rows)] - start
        if len(local):
            yield ds, local
        start += ds.num_rows


def _take(splits: dict[str, Dataset], positions: np.ndarray) -> Dataset:
    """The rows at ``positions`` (sorted) of the splits read one after another, as one dataset.

    Each split is cut to its rows before they are joined: joining whole splits (each a selection
    of the labelled rows) would copy them all.
    """
    from datasets import concatenate_datasets

    parts = [ds.select(local) if len(local) < ds.num_rows else ds for ds, local in _per_split(splits, positions)]
    if len(parts) == 1:
        return parts[0]
    joined = concatenate_datasets([p.flatten_indices() if p._indices is not None else p for p in parts])
    release_mapped_pages()  # the pages around the rows read at random to flatten them
    return joined


def _texts_at(splits: dict[str, Dataset], positions: np.ndarray) -> list[str]:
    """The texts of :func:`_take`'s rows, read from each split where they are: no joined copy
    of the rows is written (10,000 rows of 2 KB took 1.3 s to copy)."""
    return [text for ds, local in _per_split(splits, positions) for text in _texts_of(ds, local)]


def _texts_and_labels(ds: Dataset, rows: np.ndarray) -> tuple[list[str], np.ndarray]:
    chosen = ds.select(rows).with_format("arrow").select_columns([schema.TEXT, schema.LABEL])[:]
    texts, labels = chosen.column(schema.TEXT).to_pylist(), chosen.column(schema.LABEL).to_numpy().astype(np.int64)
    # Rows read at random: the kernel maps the pages around each, a gigabyte for 8,000 rows of a
    # million-row table, counted in the resident set until they are dropped.
    release_mapped_pages()
    return texts, labels


class _Clock:
    """The wall time of each figure of the report (summed when a figure is timed in parts), for
    ``quality.json``'s ``run.report``: the next slow figure shows there."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, figure: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[figure] = round(self.seconds.get(figure, 0.0) + time.perf_counter() - start, 3)


def _learnability(dd: DatasetDict, names: list[str], cfg: Report, seed: int, cache_dir: Path | None,
                  engine: Engine | None, clock: _Clock,
                  on_counted: Callable[[], Any]) -> tuple[dict[str, Any], dict[str, Any], Dataset | None]:
    """The baseline section, the label-noise section and the rows it flags (``on_counted``: see
    :func:`.baseline.learn`).

    Both come from one pass of TF-IDF + logistic regression (:func:`.baseline.learn`) over at
    most ``cfg.max_model_rows`` rows of each split (seeded, stratified samples), so their cost stops
    growing with the dataset: the k-fold models on train give its rows' out-of-fold probabilities
    and the model fitted on all of train the other splits'. The sections say how many rows they used.
    """
    originals = {name: ds.filter(lambda a: a is None, input_columns=schema.AUGMENTED_FROM)
                 if schema.AUGMENTED_FROM in ds.column_names else ds for name, ds in dd.items()}
    baseline: dict[str, Any] = {}
    noise: dict[str, Any] = {}
    issues = None
    if not (cfg.baseline or cfg.label_noise):
        return baseline, noise, issues
    if "train" not in originals:
        return baseline, ({"skipped": "no train split to learn from"} if cfg.label_noise else noise), issues
    with clock("baseline" if cfg.baseline else "label_noise"):
        picked = {name: _sample(_labels(ds), cfg.max_model_rows, seed, cfg.cv_folds) for name, ds in originals.items()}
        data = {name: _texts_and_labels(ds, picked[name]) for name, ds in originals.items()}
        evaluated = {n: v for n, v in data.items() if n != "train"}
        learned = baseline_mod.learn(data["train"], evaluated, names, folds=cfg.cv_folds, seed=seed,
                                     on_counted=on_counted)
        # What on_counted started beside the fits ends here, before anything below fingerprints a
        # dataset: datasets' hashing reads transformers' attributes once it is in sys.modules, and
        # a half-imported transformers has none (the fingerprint would silently be random).
        settle()
    if cfg.baseline:
        baseline["tfidf_logreg"] = {"rows": {n: len(y) for n, (_, y) in data.items()},
                                    "cross_validation": learned.cross_validation, "splits": learned.splits}
        if cfg.embedding_baseline:
            with clock("embedding_baseline"):
                train_y = data["train"][1]
                embedder = Embedder(cache_dir=cache_dir, progress=False, engine=engine)
                vecs = {n: (embedder.encode(x, desc=f"report: embed {n}"), y) for n, (x, y) in data.items()}
                baseline["embedding_logreg"] = {
                    "model": embedder.name,
                    "cross_validation": baseline_mod.cross_validate(vecs["train"][0], train_y, names,
                                                                    folds=cfg.cv_folds, seed=seed, embeddings=True),
                    "splits": baseline_mod.fit_and_score(vecs["train"], {n: v for n, v in vecs.items() if n != "train"},
                                                         names, seed=seed, embeddings=True),
                }
    if cfg.label_noise:
        with clock("label_noise"):
            proba = learned.proba
            characters = sum(len(t) for texts, _ in data.values() for t in texts)
            if proba and characters <= cfg.label_noise_characters:
                chars = baseline_mod.character_proba(data["train"], evaluated, len(names), folds=cfg.cv_folds, seed=seed)
                proba = {name: (proba[name] + chars[name]) / 2 for name in proba}
            noise, issues = _label_noise(originals, picked, data, proba, names)
            if proba is not learned.proba:
                noise["models"] = ["words", "characters"]
            elif "skipped" not in noise:
                noise["models"] = ["words"]
    return baseline, noise, issues


def _label_noise(originals: dict[str, Dataset], picked: dict[str, np.ndarray],
                 data: dict[str, tuple[list[str], np.ndarray]], proba_of: dict[str, np.ndarray],
                 names: list[str]) -> tuple[dict[str, Any], Dataset | None]:
    """Confident learning on every sampled row's probabilities (per split, from models that did
    not see the row): the section and the rows it flags (in split order)."""
    if not proba_of:
        return {"skipped": "a class has fewer than 2 rows"}, None
    order = list(originals)
    proba = np.concatenate([proba_of[name] for name in order])
    labels = np.concatenate([data[name][1] for name in order])
    found = baseline_mod.confident_learning(proba, labels)
    flagged = found.pop("flagged")
    noise = {**found, "label_errors": len(flagged), "rows": int(len(labels)), "names": names}
    if not flagged:
        return noise, None
    offsets = np.cumsum([0] + [originals[name].num_rows for name in order[:-1]])
    positions = np.concatenate([picked[name] + offset for name, offset in zip(order, offsets)])
    whole = _take(originals, positions)
    issues = _label_issues(whole, names, flagged)
    noise["examples"] = [
        {"id": r[schema.ID], "given": r["given_label"], "likely": r["likely_label"],
         "score": round(float(r["issue_score"]), 4)}
        for r in issues.select(range(min(_MAX_FLAGGED_SHOWN, issues.num_rows)))
    ]
    return noise, issues


def _many_label_sections(dd: DatasetDict, names: list[str], splits: dict[str, dict[str, Any]],
                         label_stage: StageStats | None) -> dict[str, Any]:
    """``labels`` and ``class_balance`` with several labels per row: counts and shares per label
    (share: of the rows), cardinality (mean labels per row), density (cardinality over the number
    of labels), rows per number of labels, the co-occurrence table (rows carrying both labels; its
    diagonal is the counts), per split too, and the rows that got no label."""
    k = len(names)
    per_split: dict[str, Any] = {}
    together = np.zeros((k, k), dtype=np.int64)
    per_row: Counter[int] = Counter()
    rows = 0
    for split_name, ds in dd.items():
        y = _indicator(_label_sets(ds), k).astype(np.int64)
        together += y.T @ y
        sizes = y.sum(axis=1)
        per_row.update(sizes.tolist())
        rows += len(y)
        cardinality = float(sizes.mean()) if len(y) else 0.0
        per_split[split_name] = {"cardinality": round(cardinality, 6), "density": round(cardinality / k, 6),
                                 "shares": {n: round(int(y[:, i].sum()) / len(y), 6) if len(y) else 0.0
                                            for i, n in enumerate(names)}}
    counts = {n: int(together[i, i]) for i, n in enumerate(names)}
    cardinality = sum(m * c for m, c in per_row.items()) / rows if rows else 0.0
    dropped = label_stage.dropped if label_stage else {}
    labels = {
        "names": names,
        "per_row": "many",
        "counts": counts,
        "shares": {n: round(c / rows, 6) if rows else 0.0 for n, c in counts.items()},
        "cardinality": round(cardinality, 6),
        "density": round(cardinality / k, 6),
        "labels_per_row": {str(m): per_row[m] for m in sorted(per_row)},
        "co_occurrence": together.tolist(),
        "no_label": {"review": int(dropped.get("no_label", 0)), "dropped": int(dropped.get("missing_label", 0))},
        "splits": per_split,
    }
    balance = {"all": text_stats.balance(counts),
               "splits": {s: text_stats.balance(e["label_counts"]) for s, e in splits.items()}}
    return {"labels": labels, "class_balance": balance}


def _many_sample(sets: list[list[int]], counts: np.ndarray, cap: int, seed: int, min_per_class: int) -> np.ndarray:
    """A seeded sample of at most about ``cap`` rows, stratified by each row's rarest label."""
    rarest = np.array([min(row, key=lambda j: (counts[j], j)) if row else -1 for row in sets], dtype=np.int64)
    return _sample(rarest, cap, seed, min_per_class)


def _many_learnability(dd: DatasetDict, names: list[str], cfg: Report, seed: int, cache_dir: Path | None,
                       engine: Engine | None,
                       clock: _Clock) -> tuple[dict[str, Any], dict[str, Any], Dataset | None]:
    """The baseline and label-noise sections with several labels per row: one-vs-rest TF-IDF +
    logistic regression, its folds made by iterative stratification (:mod:`.baseline`). No model
    loads beside it: these steps select rows (fingerprinting datasets) all along, which must not
    meet a half-imported transformers (see :func:`_learnability`)."""
    k = len(names)
    originals = {name: ds.filter(lambda a: a is None, input_columns=schema.AUGMENTED_FROM)
                 if schema.AUGMENTED_FROM in ds.column_names else ds for name, ds in dd.items()}
    sets = {name: _label_sets(ds) for name, ds in originals.items()}
    counts = sum((_indicator(v, k).sum(axis=0) for v in sets.values()), np.zeros(k, dtype=np.int64))
    data = {}
    for name, ds in originals.items():
        picked = _many_sample(sets[name], counts, cfg.max_model_rows, seed, cfg.cv_folds)
        texts = _texts_of(ds, picked)
        data[name] = (texts, _indicator([sets[name][i] for i in picked], k), [sets[name][i] for i in picked])
    baseline: dict[str, Any] = {}
    if cfg.baseline and "train" in data:
        with clock("baseline"):
            train_x, train_y, train_sets = data["train"]
            fold_of = iterative_folds(train_sets, k, cfg.cv_folds, seed=seed)
            evaluated = {n: (x, y) for n, (x, y, _) in data.items() if n != "train"}
            baseline["tfidf_logreg"] = {
                "rows": {n: len(y) for n, (_, y, _) in data.items()},
                "cross_validation": baseline_mod.cross_validate_multilabel(train_x, train_y, names, fold_of=fold_of,
                                                                           seed=seed),
                "splits": baseline_mod.fit_and_score_multilabel((train_x, train_y), evaluated, names, seed=seed),
            }
        if cfg.embedding_baseline:
            with clock("embedding_baseline"):
                embedder = Embedder(cache_dir=cache_dir, progress=False, engine=engine)
                vecs = {n: (embedder.encode(x, desc=f"report: embed {n}"), y) for n, (x, y, _) in data.items()}
                baseline["embedding_logreg"] = {
                    "model": embedder.name,
                    "cross_validation": baseline_mod.cross_validate_multilabel(vecs["train"][0], train_y, names,
                                                                               fold_of=fold_of, seed=seed, embeddings=True),
                    "splits": baseline_mod.fit_and_score_multilabel(
                        vecs["train"], {n: v for n, v in vecs.items() if n != "train"}, names, seed=seed, embeddings=True),
                }
    noise: dict[str, Any] = {}
    issues = None
    if cfg.label_noise:
        with clock("label_noise"):
            every = [row for v in sets.values() for row in v]
            whole = _take(originals, _many_sample(every, counts, cfg.max_model_rows, seed, cfg.cv_folds))
            whole_sets = _label_sets(whole)
            texts, y = _texts_of(whole, np.arange(whole.num_rows)), _indicator(whole_sets, k)
            proba = baseline_mod.out_of_fold_multilabel(texts, y, fold_of=iterative_folds(whole_sets, k, cfg.cv_folds,
                                                                                          seed=seed), seed=seed)
            if proba is None:
                noise = {"skipped": "a label has too few rows for the folds"}
            else:
                found = baseline_mod.confident_learning_per_label(proba, y)
                flagged = found.pop("flagged")
                found["per_label"] = dict(zip(names, found["per_label"]))
                noise = {**found, "label_errors": len(flagged), "names": names}
                if flagged:
                    issues = _many_label_issues(whole, names, flagged)
                    noise["examples"] = [
                        {"id": r[schema.ID], "label": r["label_in_doubt"], "given": r["given"],
                         "score": round(float(r["issue_score"]), 4)}
                        for r in issues.select(range(min(_MAX_FLAGGED_SHOWN, issues.num_rows)))
                    ]
    return baseline, noise, issues


def _texts_of(ds: Dataset, rows: np.ndarray) -> list[str]:
    texts = ds.select(rows).with_format("arrow")[schema.TEXT].to_pylist()
    release_mapped_pages()
    return texts


def _many_label_issues(ds: Dataset, names: list[str], flagged: list[tuple[int, int, int, float]]) -> Dataset:
    """The flagged rows, one line per (row, label in doubt): whether the row carries the label and
    the model's case against that."""
    rows = ds.select([r for r, _, _, _ in flagged])
    return add_columns(rows, [
        ("label_in_doubt", [names[j] for _, j, _, _ in flagged], Value("string")),
        ("given", ["present" if g else "absent" for _, _, g, _ in flagged], Value("string")),
        ("issue_score", [round(m, 6) for _, _, _, m in flagged], Value("float32")),
    ])


def report(
    dd: DatasetDict,
    cfg: Report,
    *,
    context: StageContext | None = None,
    stages: list[StageStats] | None = None,
    peek: bool = False,
) -> tuple[dict[str, Any], StageStats]:
    """Compute the report sections for the built splits.

    The one stage whose product is not rows: it returns the sections of ``quality.json``.

    Only per-row counts (characters, words, tokens), labels and short columns are read for every
    row; the lexical diversity, the embedding sample, the baseline and the label-noise estimate
    read seeded samples of bounded size (``report.lexical_sample``, ``diversity_sample``,
    ``max_model_rows``), so the report's memory does not grow with the dataset.

    Args:
        dd: the splits.
        cfg: the recipe's ``report`` section.
        context: the seed of the samples and models, the cache (embeddings), the engine.
        stages: the stats of the stages before, for the noise figures.
        peek: the build stopped before ``label`` (``--until``): a person looks at what clean and
            dedup did and waits for nothing else, so the figures that load a model (token counts,
            semantic diversity) are left out, and ``peek`` lists them.

    Returns:
        The sections and the stage stats (``review_rows["label_issues"]`` holds the rows the
        label-noise estimate flags).
    """
    context = context or StageContext()
    seed, cache_dir, engine = context.seed, context.cache_dir, context.engine
    stages = stages or []
    clock = _Clock()
    splits = split_counts(dd)
    sections: dict[str, Any] = {"splits": splits}
    first = next(iter(dd.values()))
    feature = first.features.get(schema.LABEL)
    # Figures the defaults ask for but whose packages are not installed: left out, and said so.
    left_out: dict[str, str] = {}
    tokenizer = None if cfg.tokenizer == "none" else (cfg.tokenizer or DEFAULT_TOKENIZER)
    if tokenizer is not None and not extras.available("models"):
        left_out["tokens"], tokenizer = "models", None
    if cfg.diversity_sample and not extras.available("models"):
        left_out["semantic_diversity"] = "models"
    if cfg.plots and not extras.available("plots"):
        left_out["plots"] = "plots"
    peeked = []
    if peek:
        peeked = [name for name, on in (("tokens", tokenizer is not None), ("semantic_diversity", cfg.diversity_sample))
                  if on and name not in left_out]
        tokenizer = None
    if tokenizer is not None and _tokenizer(tokenizer) is None:
        tokenizer = None  # cannot be loaded: said once in the log, and token counts are left out
    total_rows = sum(ds.num_rows for ds in dd.values())
    with clock("lexical_diversity"):
        lexical = _sample(np.zeros(total_rows, dtype=np.int64), cfg.lexical_sample, seed, 0)
        texts = _texts_at(dd, lexical)
        lexical_figures, words = text_stats.lexical(texts)
        # Every row read (at most lexical_sample rows): their characters and words are the size
        # figure's counts, and no second pass over the rows counts them again.
        counted = None
        if len(lexical) == total_rows:
            bounds = np.cumsum([0, *(ds.num_rows for ds in dd.values())])
            chars = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
            counted = {name: (chars[a:b], words[a:b]) for name, a, b in zip(dd, bounds, bounds[1:])}
        del texts
    with clock("size"):
        counts = counted or {name: _row_counts(ds, engine) for name, ds in dd.items()}
        # scikit-learn is imported (2-3 s of single-threaded Python) while the tokenizer's threads
        # count, which release the GIL; the baseline then finds it imported. No fork until it is.
        if tokenizer is not None and (cfg.baseline or cfg.label_noise):
            in_background(baseline_mod.import_models)
        per_split = {name: _size(ds, counts[name], tokenizer, cfg.token_sample, seed, engine) for name, ds in dd.items()}
        release()  # the pages every row's count read, before a model is loaded on top of them
    sections["size"] = {"splits": per_split,
                        "total": {k: sum(s.get(k, 0) for s in per_split.values())
                                  for k in ("rows", "characters", "words", "tokens") if k in per_split[next(iter(per_split))]}}
    if tokenizer is not None:
        sections["size"]["tokenizer"] = tokenizer
    sections["lengths"] = text_stats.length_summary(np.concatenate([words for _, words in counts.values()]))
    sections["diversity"] = lexical_figures
    if total_rows > cfg.lexical_sample:
        sections["diversity"]["sample"] = len(lexical)
    semantic = bool(cfg.diversity_sample and total_rows > 2 and "semantic_diversity" not in left_out and not peek)
    # The embedding model loads in a background thread while the baseline's models fit: the
    # imports are single-threaded Python, the fits release the GIL, and the two overlap (the
    # import's seconds then count in the baseline's figure). Without a single-label baseline, or
    # with the embedding baseline loading its own model, it loads here, later.
    loading: list[Future] = []

    def load_embedder() -> None:
        if semantic and not cfg.embedding_baseline and not loading:
            loading.append(in_background(_diversity_embedder, cache_dir, engine))

    languages = _value_counts(dd, schema.LANGUAGE)
    if languages:
        sections["languages"] = dict(languages.most_common())
    hosts = Counter()
    for url, n in _value_counts(dd, schema.URL).items():
        hosts[urlsplit(url).hostname] += n
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
        learnability = functools.partial(_learnability, on_counted=load_embedder)
    elif (names := _many_names(first)) is not None:
        sections.update(_many_label_sections(dd, names, splits, label_stage))
        learnability = _many_learnability
    if names is not None:
        sources = _value_counts(dd, schema.LABEL_SOURCE, skip_empty=False)
        sections["label_provenance"] = {
            "sources": {str(k): v for k, v in sorted(sources.items(), key=lambda kv: str(kv[0]))},
            "score_histogram": (label_stage.details.get("score_histogram", {}) if label_stage else {}),
        }
        baseline, noise, issues = learnability(dd, names, cfg, seed, cache_dir, engine, clock)
        release()
        if baseline:
            sections["baseline"] = baseline
        if noise:
            sections["noise"]["labels"] = noise
        if issues is not None:
            review["label_issues"] = issues
    if semantic:
        with clock("semantic_diversity"):
            embedder = loading[0].result() if loading else _diversity_embedder(cache_dir, engine)
            sections["diversity"]["semantic"] = _semantic_diversity(dd, cfg.diversity_sample, seed, embedder)
            del embedder
            release()
    if peeked:
        sections["peek"] = {"left_out": peeked}
    if left_out:
        sections["left_out"] = left_out
        logger.info("report: left out %s (install %s)", ", ".join(left_out),
                       ", ".join(sorted({f"hf_ftbuilder[{extra}]" for extra in left_out.values()})))
    rows = sum(e["num_rows"] for e in splits.values())
    stats = StageStats(name="report", rows_in=rows, rows_out=rows)
    stats.review_rows = review
    stats.seconds = clock.seconds
    return sections, stats
