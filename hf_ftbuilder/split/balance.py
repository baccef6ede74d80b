"""Balance: class balancing applied to train only, after splitting, so no copy of a train row
can reach validation or test.

- ``oversample``: classes below the target get copies of their rows, drawn with replacement.
- ``augment``: classes below the target get new texts made from their rows by word-level edits
  (:mod:`.augment`).
- ``undersample``: classes above the target keep ``target`` rows, drawn at random, or with
  ``diverse`` spread over TF-IDF KMeans clusters of the class in proportion to their sizes, so
  the rows kept still cover what the class talks about.

With several labels per row (``labels``), ``oversample`` counts rows per label: the labels below
the target, rarest first, get copies of rows that carry them (a copy counts for every label of its
row, so a label that often comes with a rare one can end above the target); ``undersample`` and
``augment`` are refused, since a row with several labels is in several classes at once.

``target`` is ``max``, ``median`` or ``min`` of train's class counts, or a count. Copies and
augmented rows get their own ``id`` and ``augmented_from`` (the source row's id); every split has
the ``augmented_from`` column, empty for original rows. All draws derive from the recipe's seed.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Value, concatenate_datasets

from .. import schema
from ..allocation import allocate
from ..arrow_cache import add_columns
from ..config import Balance
from ..context import StageContext
from ..errors import StageError
from ..stats import StageStats
from .augment import Augmenter, load_lexicon

__all__ = ["balance"]


def _target(counts: np.ndarray, target: str | int) -> int:
    present = counts[counts > 0]
    if isinstance(target, int):
        return target
    return int({"max": present.max(), "min": present.min(), "median": np.median(present)}[target])


def _derived_id(source: str, kind: str, k: int) -> str:
    return hashlib.sha256(f"{source}:{kind}:{k}".encode()).hexdigest()[:16]


def _diverse_pick(texts: list[str], keep: int, seed: int) -> list[int]:
    """``keep`` positions spread over KMeans clusters of the texts (TF-IDF), proportional to size."""
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    rng = np.random.default_rng(seed)
    k = min(10, keep, len(texts))
    try:
        x = TfidfVectorizer(sublinear_tf=True, max_features=20_000).fit_transform(texts)
        clusters = KMeans(k, n_init=3, random_state=seed).fit_predict(x) if k > 1 else np.zeros(len(texts), int)
    except ValueError:  # no words to cluster on
        clusters = np.zeros(len(texts), dtype=int)
    members = [np.flatnonzero(clusters == c) for c in range(clusters.max() + 1)]
    sizes = np.array([len(m) for m in members])
    quota = allocate(keep, (sizes / sizes.sum()).tolist(), at_least_one=False)
    picked: list[int] = []
    for m, q in zip(members, quota):
        picked.extend(rng.choice(m, size=min(q, len(m)), replace=False).tolist())
    if len(picked) < keep:  # a cluster smaller than its quota: fill from the rest
        rest = np.setdiff1d(np.arange(len(texts)), picked)
        picked.extend(rng.choice(rest, size=keep - len(picked), replace=False).tolist())
    return sorted(picked)


def _with_column(ds: Dataset, values: list[Any] | None = None) -> Dataset:
    if schema.AUGMENTED_FROM in ds.column_names and values is None:
        return ds
    return add_columns(ds, [(schema.AUGMENTED_FROM, values or [None] * ds.num_rows, Value("string"))])


def _added(train: Dataset, out: Dataset, sources: list[int], new_ids: list[str], ids: list[str],
           texts: list[str] | None = None) -> Dataset:
    """``out`` with copies of ``train``'s rows at ``sources`` appended: their own ids, the source's
    id in ``augmented_from``, and new ``texts`` when augmented."""
    added = train.select(sources)
    columns: list[tuple[str, list, Any]] = [(schema.ID, new_ids, Value("string"))]
    if texts is not None:
        columns.append((schema.TEXT, texts, Value("string")))
    columns.append((schema.AUGMENTED_FROM, [ids[s] for s in sources], Value("string")))
    added = add_columns(added, columns).select_columns(out.column_names).cast(out.features)
    return concatenate_datasets([out, added])


def _oversample_many(dd: DatasetDict, cfg: Balance, seed: int) -> tuple[DatasetDict, StageStats]:
    """Copies of train rows for the labels below the target, rarest label first (several labels per row)."""
    if cfg.method != "oversample":
        raise StageError(f"balance: method {cfg.method} needs one label per row; with several use oversample")
    train = dd["train"]
    names = train.features[schema.LABELS].feature.names
    sets = train.with_format("arrow")[schema.LABELS].to_pylist()
    ids = train.with_format("arrow")[schema.ID].to_pylist()
    counts = np.bincount([lab for row in sets for lab in row], minlength=len(names))
    before = counts.copy()
    target = _target(counts, cfg.target)
    carriers = {lab: [i for i, row in enumerate(sets) if lab in row] for lab in range(len(names))}
    sources: list[int] = []
    for lab in sorted(range(len(names)), key=lambda j: (int(before[j]), j)):
        members = carriers[lab]
        rng = random.Random(f"{seed}:{lab}")
        while members and counts[lab] < target:
            source = members[rng.randrange(len(members))]
            sources.append(source)
            for other in sets[source]:
                counts[other] += 1
    out = _with_column(train)
    if sources:
        new_ids = [_derived_id(ids[s], cfg.method, k) for k, s in enumerate(sources)]
        out = _added(train, out, sources, new_ids, ids)
    result = DatasetDict({name: out if name == "train" else _with_column(ds) for name, ds in dd.items()})
    details = {
        "method": cfg.method, "target": target, "per": "label",
        "before": {n: int(before[i]) for i, n in enumerate(names)},
        "after": {n: int(counts[i]) for i, n in enumerate(names)},
        "unique_source_rows": {n: int(before[i]) for i, n in enumerate(names)},
        "added": len(sources), "removed": 0,
    }
    return result, StageStats(name="balance", rows_in=train.num_rows, rows_out=out.num_rows, details=details)


def balance(dd: DatasetDict, cfg: Balance, *, context: StageContext | None = None) -> tuple[DatasetDict, StageStats]:
    """Balance the train split as ``cfg.method`` says; validation and test pass through.

    ``context.seed`` seeds every draw; a lexicon (``augment.lexicon``) is read beside the recipe
    (``context.base_dir``).

    Returns:
        The splits (every one with ``augmented_from``), and the stats: class counts before and
        after, rows added or removed, unique source rows per class. Undersampled rows are in
        ``dropped_rows`` (reason ``undersampled``).

    Raises:
        StageError: train has no ClassLabel ``label``, or a class cannot be augmented.
    """
    context = context or StageContext()
    seed, base_dir = context.seed, context.base_dir
    train = dd["train"]
    rows = train.num_rows
    if cfg.method == "none":
        return dd, StageStats(name="balance", rows_in=rows, rows_out=rows, details={"method": "none"})
    if schema.LABELS in train.column_names:
        return _oversample_many(dd, cfg, seed)
    feature = train.features.get(schema.LABEL)
    if not isinstance(feature, ClassLabel):
        raise StageError("balance: train has no ClassLabel label column to balance on")
    names = feature.names
    labels = np.array(train.with_format("arrow")[schema.LABEL].to_pylist())
    counts = np.bincount(labels, minlength=len(names))
    target = _target(counts, cfg.target)
    ids = train.with_format("arrow")[schema.ID].to_pylist()
    keep = np.ones(rows, dtype=bool)
    sources: list[int] = []
    new_ids: list[str] = []
    new_texts: list[str] | None = [] if cfg.method == "augment" else None
    augmenter = None
    if cfg.method == "augment":
        extra = Path(base_dir) / cfg.augment.lexicon if cfg.augment.lexicon else None
        augmenter = Augmenter(cfg.augment.operations, cfg.augment.rate, load_lexicon(extra))
    texts = train.with_format("arrow")[schema.TEXT].to_pylist() if cfg.method != "oversample" else []

    for c, name in enumerate(names):
        members = np.flatnonzero(labels == c)
        if not len(members):
            continue
        if cfg.method == "undersample":
            if len(members) > target:
                if cfg.diverse:
                    chosen = members[_diverse_pick([texts[i] for i in members], target, seed + c)]
                else:
                    chosen = np.sort(np.random.default_rng([seed, c]).choice(members, size=target, replace=False))
                keep[np.setdiff1d(members, chosen)] = False
            continue
        rng = random.Random(f"{seed}:{c}")
        k = 0
        tries = 0
        while k < target - len(members):
            source = int(members[rng.randrange(len(members))])
            if augmenter is not None and new_texts is not None:
                new = augmenter(texts[source], rng)
                tries += 1
                if new is None:
                    if tries > 20 * (target - len(members)) + 100:
                        raise StageError(f"balance: rows of class {name!r} are too short to augment")
                    continue
                new_texts.append(new)
            sources.append(source)
            new_ids.append(_derived_id(ids[source], cfg.method, k))
            k += 1

    before = {n: int(counts[i]) for i, n in enumerate(names)}
    out = _with_column(train)
    if not keep.all():
        out = out.select(np.flatnonzero(keep).tolist())
    if sources:
        out = _added(train, out, sources, new_ids, ids, new_texts)
    result = DatasetDict({name: out if name == "train" else _with_column(ds) for name, ds in dd.items()})
    after_labels = np.array(out.with_format("arrow")[schema.LABEL].to_pylist())
    after = np.bincount(after_labels, minlength=len(names))
    originals = np.bincount(labels[keep], minlength=len(names))
    details = {
        "method": cfg.method,
        "target": target,
        "before": before,
        "after": {n: int(after[i]) for i, n in enumerate(names)},
        "unique_source_rows": {n: int(originals[i]) for i, n in enumerate(names)},
        "added": len(sources),
        "removed": int((~keep).sum()),
    }
    stats = StageStats(name="balance", rows_in=rows, rows_out=out.num_rows, details=details)
    stats.drop(train, {"undersampled": np.flatnonzero(~keep).tolist()})
    return result, stats
