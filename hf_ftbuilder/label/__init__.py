"""Label: give every row a ``label`` (a ClassLabel), ``label_score`` and ``label_source``.

Methods (``label.method``):

- ``column``: an existing column. The ClassLabel names are ``label.labels`` in that order, or the
  column's distinct values sorted (numerically when they are all integers). Rows with no label are
  dropped as ``missing_label``, rows whose label is not among the names as ``unknown_label``.
- ``zero_shot``: an NLI model through ``transformers``' zero-shot pipeline (:mod:`.zero_shot`).
- ``embedding``: similarity to label descriptions, refined on the data (:mod:`.embedding`).
- ``kmeans``: clusters a person names once (:mod:`.kmeans`).
- ``manual``: human labels from annotation files (:mod:`.manual`), with a model's suggestion for the
  rows nobody has labelled yet when ``label.suggest`` names one.

Each model method is one function that proposes a label, score and source per row; one step then
lets people speak (``label.annotations``), sends ties, unlabelled rows and scores below
``min_score`` to review, and makes the ClassLabel.

With ``label.labels_per_row: many`` the rows get ``labels``, a list of ClassLabel indices, from
every method but ``kmeans`` (:mod:`.many`), people's answers being label sets.

``label.annotations`` works with every method: a human label replaces the model's
(``label_source: human``, score 1.0). ``label_source`` says where each label came from:
``column:<name>``, ``zero_shot:<model>``, ``embedding:<model>``, ``cluster:<id>`` or ``human``.
Rows waiting for a person (score below ``label.min_score``, annotators who tie, rows not yet
annotated) are not in the dataset: they go to ``review/<reason>.parquet`` and are counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from datasets import ClassLabel, Dataset, Value

from .. import schema
from ..arrow_cache import add_columns
from ..config import (
    ColumnLabel,
    EmbeddingLabel,
    EmbeddingModel,
    KMeansLabel,
    Label,
    ManualLabel,
    ZeroShotLabel,
    ZeroShotModel,
)
from ..context import StageContext
from ..engine import Engine
from ..errors import StageError
from ..stats import StageStats, score_histogram, split_dropped
from . import ask, embedding, kmeans, learn, manual, many, zero_shot

__all__ = [
    "REVIEW_REASONS", "embedding_model", "from_column", "input_column", "label", "label_column_batch", "needs_models",
    "suggest", "suggest_sets", "suggestion_model",
]

logger = logging.getLogger(__name__)

#: Drop reasons whose rows wait for a person: written to ``review/`` rather than ``dropped/``.
REVIEW_REASONS = schema.REVIEW_REASONS


def _as_name(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _sorted_names(values: set[str]) -> list[str]:
    try:
        return sorted(values, key=int)
    except ValueError:
        return sorted(values)


def label_column_batch(batch: dict[str, list], *, column: str, names: list[str], source: str) -> dict[str, list]:
    """Map the raw labels of ``column`` to ClassLabel indices, with a drop reason where none fits."""
    index = {name: i for i, name in enumerate(names)}
    labels, reasons = [], []
    for value in batch[column]:
        name = _as_name(value)
        if name is None:
            labels.append(None)
            reasons.append("missing_label")
        elif name not in index:
            labels.append(None)
            reasons.append("unknown_label")
        else:
            labels.append(index[name])
            reasons.append(None)
    n = len(labels)
    return {
        schema.LABEL: labels,
        schema.LABEL_SCORE: [None] * n,
        schema.LABEL_SOURCE: [source] * n,
        schema.DROP_REASON: reasons,
    }


def _unusable(raw: list[Any], names: list[str], column: str) -> list[str]:
    """What the column held that is not a label: per drop reason, the count and up to three values."""
    known = set(names)
    missing = sum(1 for v in raw if _as_name(v) is None)
    unknown = Counter(n for v in raw if (n := _as_name(v)) is not None and n not in known)
    notes = []
    if unknown:
        shown = ", ".join(repr(v) for v, _ in unknown.most_common(3))
        count = sum(unknown.values())
        notes.append(f"{count} row{'s' if count != 1 else ''} dropped as unknown_label "
                     f"(values of {column!r} not in label.labels, e.g. {shown})")
    if missing:
        notes.append(f"{missing} row{'s' if missing != 1 else ''} dropped as missing_label "
                     f"(no value in column {column!r})")
    return notes


def _check_classes(kept: Dataset, names: list[str], notes: list[str]) -> None:
    """A classification dataset needs two classes with rows: say so before any later step runs
    (with what was dropped, which is usually why); otherwise warn once per kind of dropped label.
    With several labels per row, a class's rows are the rows carrying it."""
    if schema.LABELS in kept.column_names:
        counts = Counter(i for labels in kept.with_format("arrow")[schema.LABELS].to_pylist() for i in labels)
    else:
        counts = Counter(kept.with_format("arrow")[schema.LABEL].to_pylist())
    present = [name for i, name in enumerate(names) if counts.get(i)]
    if len(present) < 2:
        listed = "; ".join(f"{name}: {counts.get(i, 0)}" for i, name in enumerate(names))
        left = f"only {present[0]!r} has rows" if present else "no class has rows"
        why = f"; {'; '.join(notes)}" if notes else ""
        raise StageError(f"label: {left} after labelling ({listed}){why}; a classification dataset needs at least two")
    for note in notes:
        logger.warning("label: %s", note)


def _from_column(ds: Dataset, cfg: ColumnLabel, engine: Engine) -> tuple[Dataset, list[str], list[str]]:
    column = cfg.column
    if column not in ds.column_names:
        raise StageError(
            f"label.column: no column {column!r} in the collected rows (columns: {', '.join(ds.column_names)})"
        )
    raw = ds.with_format("arrow")[column].to_pylist()
    names = list(cfg.labels) if cfg.labels else _sorted_names({n for v in raw if (n := _as_name(v)) is not None})
    if not names:
        raise StageError(f"label: column {column!r} holds no labels")
    notes = _unusable(raw, names, column)
    features = ds.features.copy()
    if column != schema.LABEL:
        del features[column]
    features[schema.LABEL] = Value("int64")
    features[schema.LABEL_SCORE] = Value("float32")
    features[schema.LABEL_SOURCE] = Value("string")
    features[schema.DROP_REASON] = Value("string")
    out = engine.map(
        ds,
        label_column_batch,
        fn_kwargs={"column": column, "names": names, "source": f"column:{column}"},
        remove_columns=[column] if column != schema.LABEL else None,
        features=features,
        desc="label",
    )
    return out, names, notes


@dataclass
class _Proposal:
    """What a model method proposes for each row, before people and the score threshold speak:
    a label index (-1: none), a score (nan: none), where it came from, and a drop reason."""

    names: list[str]
    labels: np.ndarray
    scores: np.ndarray
    sources: list[str | None]
    reasons: list[str | None]
    details: dict[str, Any] = field(default_factory=dict)
    review_files: dict[str, str] = field(default_factory=dict)
    proba: np.ndarray | None = None  # rows x labels, when the method knows every label's probability
    vectors: np.ndarray | None = None  # unit embeddings, when the method made them
    untaught: np.ndarray | None = None  # the labels before the model learned from people, when known
    people: tuple[manual.Annotations | None, dict[str, int]] | None = None  # read by the method itself

    @classmethod
    def empty(cls, n: int, names: list[str]) -> _Proposal:
        return cls(names, np.full(n, -1, dtype=np.int64), np.full(n, np.nan, dtype=np.float32), [None] * n, [None] * n)


def _label_cache(context: StageContext) -> Path:
    return context.cache_dir if context.cache_dir is not None else context.base_dir / ".ftbuild" / "label"


def _suggest(
    ds: Dataset, model: ZeroShotModel | EmbeddingModel, names: list[str], context: StageContext,
    human: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[_Proposal, str]:
    proposal = _Proposal.empty(ds.num_rows, names)
    if isinstance(model, ZeroShotModel):
        proposal.labels, proposal.scores, proposal.proba = zero_shot.predict(ds, model, names, engine=context.engine)
        proposal.details = {"model": model.model, "template": model.hypothesis_template}
        if human is not None and len(human[0]) >= learn.MIN_PEOPLE:
            # The entailment probabilities are the classifier's dense features: it keeps what the NLI
            # model knows and learns from people's labels which words it gets wrong.
            proposal.untaught = proposal.labels.copy()
            proposal.details["learned"] = _learn(ds, proposal, dense=proposal.proba,
                                                 certainty=learn.margin(proposal.proba), human=human, seed=context.seed)
        return proposal, f"zero_shot:{model.model}"
    result = embedding.predict(ds, model, names, base_dir=context.base_dir, cache_dir=_label_cache(context),
                               seed=context.seed, progress=context.progress, engine=context.engine, human=human)
    proposal.labels, proposal.scores, proposal.details = result.labels, result.scores, result.details
    proposal.proba, proposal.vectors = result.proba, result.vectors
    return proposal, f"embedding:{result.details['model']}"


def suggest(
    ds: Dataset, model: ZeroShotModel | EmbeddingModel, names: list[str], *, context: StageContext | None = None,
) -> tuple[np.ndarray, np.ndarray, str, dict[str, Any]]:
    """A model's label index and score per row, its ``label_source`` and its report details.

    Args:
        ds: rows with ``text``.
        model: the zero-shot or embedding model settings (a label section, or ``label.suggest``).
        names: the ClassLabel names.
        context: seed, folders, engine and progress of the build.
    """
    proposal, source = _suggest(ds, model, names, context or StageContext(), None)
    return proposal.labels, proposal.scores, source, proposal.details


def suggest_sets(
    ds: Dataset, model: ZeroShotModel | EmbeddingModel, names: list[str], *, context: StageContext | None = None,
) -> tuple[list[list[int]], list[list[float]], str]:
    """Several labels per row: the label indices a model gives each row, their scores, and its ``label_source``."""
    context = context or StageContext()
    proba, sets, source, _ = many.propose(many.free_name(ds), model, names, context, _label_cache(context))
    return sets, [[float(proba[i, j]) for j in row] for i, row in enumerate(sets)], source


def _by_model(ds: Dataset, cfg: ZeroShotLabel | EmbeddingLabel, context: StageContext,
              human: tuple[np.ndarray, np.ndarray] | None) -> _Proposal:
    proposal, source = _suggest(ds, cfg, list(cfg.labels or []), context, human)
    proposal.sources = [source] * ds.num_rows
    return proposal


def _learn(ds: Dataset, proposal: _Proposal, *, dense: np.ndarray | None, certainty: np.ndarray,
           human: learn.Human | None, seed: int) -> dict[str, Any]:
    """Relabel the proposal's rows that have a label (or a person's) with the refining classifier
    (:mod:`.learn`), trained on the most certain of them and on people's labels; what it did."""
    n_labels = len(proposal.names)
    taught = np.zeros(ds.num_rows, dtype=bool)
    if human is not None:
        taught[human[0]] = True
    rows = np.flatnonzero((proposal.labels >= 0) | taught)
    mine = None if human is None else (np.searchsorted(rows, human[0]), human[1])
    if not learn.refinable(proposal.labels[rows], n_labels, mine):
        return {"skipped": f"a label has fewer than {learn.MIN_ROWS_TO_REFINE} rows and no row a person labelled"}
    texts = ds.with_format("arrow")[schema.TEXT].to_pylist()
    x = learn.features([texts[i] for i in rows], None if dense is None else dense[rows])
    proba, info = learn.refine(x, proposal.labels[rows], certainty[rows], n_labels, seed, mine)
    before = proposal.labels[rows].copy()
    proposal.labels[rows] = proba.argmax(axis=1)
    proposal.scores[rows] = proba.max(axis=1)
    proposal.proba = np.zeros((ds.num_rows, n_labels))
    proposal.proba[rows] = proba
    return {**info, "people": 0 if human is None else int(len(human[0])),
            "changed": int((proposal.labels[rows] != before).sum())}


def _by_clusters(ds: Dataset, cfg: KMeansLabel, context: StageContext,
                 human: tuple[np.ndarray, np.ndarray] | None) -> _Proposal:
    """Clusters, named by a person once; then (``refine``) the classifier that fixes their borders,
    taught by people's labels (read here: the label names are known only once the clusters are named)."""
    result, cluster_names = kmeans.assign(ds, cfg, base_dir=context.base_dir, cache_dir=_label_cache(context),
                                          seed=context.seed, progress=context.progress, engine=context.engine)
    if cluster_names is None:
        names = [f"cluster_{c}" for c in range(len(result.details["sizes"]))]
        proposal = _Proposal.empty(ds.num_rows, names)
        proposal.labels = result.clusters.copy()
    else:
        names = list(cfg.labels or []) or sorted({v for v in cluster_names.values() if v != kmeans.DROP})
        index = {name: i for i, name in enumerate(names)}
        mapped = [cluster_names[int(c)] for c in result.clusters]
        proposal = _Proposal.empty(ds.num_rows, names)
        proposal.labels = np.array([index.get(m, -1) for m in mapped], dtype=np.int64)
        proposal.reasons = ["dropped_cluster" if m == kmeans.DROP else None for m in mapped]
    proposal.scores = result.scores
    proposal.sources = [f"cluster:{int(c)}" for c in result.clusters]
    proposal.details = {"kmeans": result.details}
    # People's labels: they propose names for the clusters whose rows they agree on, and once the
    # clusters are named they teach the classifier. Before that, the labels are cluster ids and
    # people's labels (in the names of label.labels) wait.
    label_names = proposal.names if cluster_names is not None else list(cfg.labels or [])
    people = _read_people(ds, cfg, label_names, context.base_dir) if label_names else (None, {})
    if people[0] is not None:
        ids = ds.with_format("arrow")[schema.ID].to_pylist()
        proposed = result.propose(ids, {r: label_names[v] for r, v in people[0].labels.items()})
        proposal.details["kmeans"]["proposed"] = {str(c): p for c, p in proposed.items()}
    proposal.people = people if cluster_names is not None else (None, people[1])
    proposal.review_files = dict(result.review)
    human = _teaching(*people) if cluster_names is not None else None
    # Refining by default where it was measured to help (benchmarks/kmeans_refine.py, AG News): on
    # embedding clusters (+0.7 and +2.5 points at k 8 and 12, -0.9 at k 4). TF-IDF clusters of news
    # are too uneven to teach a classifier (0.42 -> 0.26; 0.31 with 40 people's labels): there it
    # is `refine: true` for data where a label shares a cluster with another (tests/label).
    refine = cfg.refine if cfg.refine is not None else cfg.kmeans.features == "embedding"
    if cluster_names is not None and refine:
        proposal.untaught = proposal.labels.copy()
        proposal.details["refine"] = _learn(ds, proposal, dense=result.vectors, certainty=result.scores.astype(np.float64),
                                            human=human, seed=context.seed)
    return proposal


def _by_hand(ds: Dataset, cfg: ManualLabel, context: StageContext,
             human: tuple[np.ndarray, np.ndarray] | None) -> _Proposal:
    if cfg.suggest is None:
        if not cfg.annotations:
            raise StageError("label: method manual has no annotations yet; run `ftbuild label export RECIPE`, "
                             "annotate, then set label.annotations (or set label.suggest)")
        return _Proposal.empty(ds.num_rows, list(cfg.labels or []))
    proposal, source = _suggest(ds, cfg.suggest, list(cfg.labels or []), context, human)
    proposal.sources = [source] * ds.num_rows
    return proposal


#: One function per model method: what it proposes for each row (taught by the rows people labelled).
_PROPOSE: dict[type, Callable[[Dataset, Any, StageContext, tuple[np.ndarray, np.ndarray] | None], _Proposal]] = {
    ZeroShotLabel: _by_model, EmbeddingLabel: _by_model, KMeansLabel: _by_clusters, ManualLabel: _by_hand,
}


def _read_people(ds: Dataset, cfg: ZeroShotLabel | EmbeddingLabel | KMeansLabel | ManualLabel, names: list[str],
                 base_dir: Path, *, many: bool = False,
                 delimiter: str | None = None) -> tuple[manual.Annotations | None, dict[str, int]]:
    """The human labels (None without annotation files; label sets with ``many``) and each row id's position."""
    ids = ds.with_format("arrow")[schema.ID].to_pylist()
    position = {row_id: i for i, row_id in enumerate(ids)}
    if not cfg.annotations:
        return None, position
    files = [base_dir / f for f in cfg.annotation_files()]
    return manual.read_annotations(files, names, many=many, delimiter=delimiter), position


def _teaching(human: manual.Annotations | None, position: dict[str, int]) -> tuple[np.ndarray, np.ndarray] | None:
    """Positions and label indices of the rows people labelled, for the model to learn from."""
    if human is None:
        return None
    pairs = sorted((position[r], label) for r, label in human.labels.items() if r in position)
    if not pairs:
        return None
    return np.array([p for p, _ in pairs], dtype=np.int64), np.array([lab for _, lab in pairs], dtype=np.int64)


def _with_people(ds: Dataset, cfg: ZeroShotLabel | EmbeddingLabel | KMeansLabel | ManualLabel, proposal: _Proposal,
                 people: tuple[manual.Annotations | None, dict[str, int]], details: dict[str, Any],
                 suggested: np.ndarray) -> Dataset:
    """Human labels over the proposal (``label_source: human``, score 1.0), ties and rows nobody
    labelled sent to review, and scores below ``min_score`` too; the rows with the label columns.
    ``suggested``: the model's labels before it learned from people, for the agreement figures."""
    labels, scores, sources, reasons = proposal.labels.copy(), proposal.scores.copy(), proposal.sources, proposal.reasons
    n = ds.num_rows
    human, position = people
    if human is not None:
        files = cfg.annotation_files()
        pairs_model, pairs_human = [], []
        for row_id, value in human.labels.items():
            i = position.get(row_id)
            if i is None:
                continue
            if sources[i] is not None and suggested[i] >= 0:
                pairs_model.append(int(suggested[i]))
                pairs_human.append(value)
            labels[i], scores[i], sources[i], reasons[i] = value, 1.0, "human", None
        for row_id in human.ties:
            if (i := position.get(row_id)) is not None:
                reasons[i] = "annotation_tie"
        details["annotations"] = human.summary(files, position, pairs_model, pairs_human)
    for i in range(n):
        if reasons[i] is None and labels[i] < 0:
            reasons[i] = "not_annotated"
        elif reasons[i] is None and cfg.min_score is not None and sources[i] != "human" and scores[i] < cfg.min_score:
            reasons[i] = "low_confidence"
    kept_scores = [float(s) for s, r in zip(scores, reasons) if r is None and not np.isnan(s)]
    details["score_histogram"] = score_histogram(kept_scores)
    details["min_score"] = cfg.min_score
    proposal.labels, proposal.scores = labels, scores  # what the dataset holds, for choosing rows to ask
    return add_columns(ds, [
        (schema.LABEL, [int(v) if v >= 0 else None for v in labels], Value("int64")),
        (schema.LABEL_SCORE, [None if np.isnan(s) else float(s) for s in scores], Value("float32")),
        (schema.LABEL_SOURCE, sources, Value("string")),
        (schema.DROP_REASON, reasons, Value("string")),
    ])


def label(ds: Dataset, cfg: Label, *, context: StageContext | None = None) -> tuple[Dataset, StageStats]:
    """Label the rows as the recipe's ``label`` section says.

    Args:
        ds: rows with ``id`` and ``text`` (and the label column for ``method: column``).
        cfg: the recipe's ``label`` section (one model per method).
        context: the seed (clustering, the refining classifier), the recipe's folder (examples,
            cluster names and annotations are beside it), the cache (embeddings, the fitted
            clusterer), the engine (maps and models) and whether to draw bars.

    Returns:
        The labelled rows and the stats. Rows dropped (``missing_label``, ``unknown_label``,
        ``dropped_cluster``) are in ``stats.dropped_rows``; rows for a person in ``stats.review_rows``.

    Raises:
        StageError: the label column is missing or empty, or fewer than two classes have rows.
        ConfigError: a model cannot be loaded or is not the right kind; a cluster mapping is wrong.
        SourceError: an examples, cluster-names or annotations file is missing or malformed.
    """
    context = context or StageContext()
    if cfg.labels_per_row == "many":
        return _label_many(ds, cfg, context)
    details: dict[str, Any] = {"method": cfg.method}
    review_files: dict[str, str] = {}
    notes: list[str] = []
    asked: Dataset | None = None
    if isinstance(cfg, ColumnLabel):
        out, names, notes = _from_column(ds, cfg, context.engine)
        details["column"] = cfg.column
    else:
        # People speak first, so that the model learns from them (a kmeans build's names are known
        # only once the clusters are, so its people are read after).
        known = not isinstance(cfg, KMeansLabel)
        people = _read_people(ds, cfg, list(cfg.labels or []), context.base_dir) if known else None
        teaching = _teaching(*people) if people else None
        proposal = _PROPOSE[type(cfg)](ds, cfg, context, teaching)
        # How often the model agreed with people is measured on what it said before it learned from them.
        suggested = proposal.labels if proposal.untaught is None else proposal.untaught
        if teaching is not None and proposal.untaught is None and _learns(cfg):
            suggested = _PROPOSE[type(cfg)](ds, cfg, context, None).labels
        names, review_files = proposal.names, proposal.review_files
        details.update(proposal.details)
        people = people or proposal.people or _read_people(ds, cfg, names, context.base_dir)
        out = _with_people(ds, cfg, proposal, people, details, suggested)
        asked = _ask(out, cfg, proposal, context, details)

    kept, stats = split_dropped(out, "label")
    _check_classes(kept, names, notes)
    kept = kept.cast_column(schema.LABEL, ClassLabel(names=names))
    sources_kept = kept.with_format("arrow")[schema.LABEL_SOURCE].to_pylist()
    details["names"] = names
    details["label_source_counts"] = dict(sorted(_count(sources_kept).items()))
    stats.details = details
    stats.review_files = review_files
    _route_review(stats)
    if asked is not None:  # these rows stay in the dataset; the file lists them for a person
        stats.review_rows["ask"] = asked
    return kept, stats


def _label_many(ds: Dataset, cfg: Label, context: StageContext) -> tuple[Dataset, StageStats]:
    """Several labels per row (:mod:`.many`): ``labels``, a list of ClassLabel indices."""
    details: dict[str, Any] = {"method": cfg.method, "labels_per_row": "many"}
    notes: list[str] = []
    if isinstance(cfg, ColumnLabel):
        out, names, notes = many.from_column(ds, cfg, context.engine)
        details["column"] = cfg.column
    else:
        assert isinstance(cfg, (ZeroShotLabel, EmbeddingLabel, ManualLabel))  # the config refuses kmeans
        ds = many.free_name(ds)
        names = list(cfg.labels or [])
        model = suggestion_model(cfg)
        if model is None and not cfg.annotations:
            raise StageError("label: method manual has no annotations yet; run `ftbuild label export RECIPE`, "
                             "annotate, then set label.annotations (or set label.suggest)")
        proposed = None
        if model is not None:
            proba, sets, source, found = many.propose(ds, model, names, context, _label_cache(context))
            proposed = (proba, sets, source)
            details.update(found)
        people = _read_people(ds, cfg, names, context.base_dir, many=True, delimiter=cfg.label_delimiter)
        out, annotated, scores = many.with_people(ds, names, proposed, people, min_score=cfg.min_score,
                                                  files=cfg.annotation_files())
        if annotated:
            details["annotations"] = annotated
        details["score_histogram"] = score_histogram(scores)
        details["min_score"] = cfg.min_score
    kept, stats = split_dropped(out, "label")
    _check_classes(kept, names, notes)
    kept = kept.cast_column(schema.LABELS, many.feature(names))
    details["names"] = names
    details["label_source_counts"] = dict(sorted(_count(kept.with_format("arrow")[schema.LABEL_SOURCE].to_pylist()).items()))
    stats.details = details
    _route_review(stats)
    return kept, stats


def _learns(cfg: Label) -> bool:
    """Whether the method's model must run again, untaught, to say what it thought before people
    spoke (embedding, also as manual's suggest: people move its prototypes)."""
    return isinstance(cfg, EmbeddingLabel) or (isinstance(cfg, ManualLabel) and isinstance(cfg.suggest, EmbeddingModel))


def _ask(out: Dataset, cfg: ZeroShotLabel | EmbeddingLabel | KMeansLabel | ManualLabel, proposal: _Proposal,
         context: StageContext, details: dict[str, Any]) -> Dataset | None:
    """The rows to ask a person about (``label.ask``), with the model's label, score and why."""
    if not cfg.ask:
        return None
    reasons = out.with_format("arrow")[schema.DROP_REASON].to_pylist()
    open_rows = np.array([i for i, (r, src) in enumerate(zip(reasons, proposal.sources)) if r is None and src != "human"],
                         dtype=np.int64)
    proba = proposal.proba
    if proba is None:  # only the top label's score is known: a one-hot row scaled by it
        proba = np.zeros((out.num_rows, max(len(proposal.names), 1)))
        have = proposal.labels >= 0
        proba[np.flatnonzero(have), proposal.labels[have]] = np.nan_to_num(proposal.scores[have], nan=0.0)
    chosen = ask.choose(cfg.ask, proba=proba, open_rows=open_rows, seed=context.seed, vectors=proposal.vectors,
                        names=proposal.names)
    ids = out.with_format("arrow")[schema.ID].to_pylist()
    names = proposal.names
    labels = [names[int(proposal.labels[i])] if proposal.labels[i] >= 0 else None for i in chosen.rows]
    human = {ids[i]: names[int(proposal.labels[i])] for i, src in enumerate(proposal.sources) if src == "human"}
    curve = ask.rounds(_label_cache(context) / "label" / "ask-log.json", human=human,
                       asked=[{"id": ids[i], "suggested": lab, "why": why}
                              for i, lab, why in zip(chosen.rows, labels, chosen.why)])
    details["ask"] = {"asked": len(chosen.rows), "random": chosen.why.count("random"),
                      "open_rows": int(len(open_rows)), "human_labels": len(human), "rounds": curve}
    if not chosen.rows:
        return None
    rows = out.select(chosen.rows).select_columns([schema.ID, schema.TEXT])
    return add_columns(rows, [
        ("suggested_label", labels, Value("string")),
        (schema.LABEL_SCORE, [float(proposal.scores[i]) for i in chosen.rows], Value("float32")),
        ("why", chosen.why, Value("string")),
    ])


def input_column(cfg: Label) -> str | None:
    """The input column collect must keep under its own name: the labels of ``method: column``.

    With any other method an input ``label`` column is not the label: collect keeps it as
    ``source_label``, to compare with the labels given.
    """
    return cfg.column if isinstance(cfg, ColumnLabel) else None


def suggestion_model(cfg: Label) -> ZeroShotModel | EmbeddingModel | None:
    """The model whose label and score go with each annotation task: the method's own, or ``suggest``."""
    if isinstance(cfg, (ZeroShotLabel, EmbeddingLabel)):
        return cfg
    return cfg.suggest if isinstance(cfg, ManualLabel) else None


def needs_models(cfg: Label) -> str | None:
    """The recipe setting that needs the ``models`` extra (torch, transformers), or None."""
    if isinstance(cfg, (ZeroShotLabel, EmbeddingLabel)):
        return f"label.method: {cfg.method}"
    if isinstance(cfg, KMeansLabel) and cfg.kmeans.features == "embedding":
        return "label.kmeans.features: embedding"
    if isinstance(cfg, ManualLabel) and cfg.suggest is not None:
        return f"label.suggest: {cfg.suggest.method}"
    return None


def embedding_model(cfg: Label | None) -> str | None:
    """The embedding model the labels came from (the leakage check's embeddings use it too)."""
    return cfg.model if isinstance(cfg, EmbeddingLabel) else None


def _count(values: list[str | None]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        key = v if v is None or not v.startswith("cluster:") else "cluster"
        out[str(key)] = out.get(str(key), 0) + 1
    return out


def _route_review(stats: StageStats) -> None:
    """Move the rows that wait for a person from ``dropped_rows`` to ``review_rows``."""
    rows = stats.dropped_rows
    if rows is None:
        return
    reasons = rows.with_format("arrow")[schema.DROP_REASON].to_pylist()
    for reason in REVIEW_REASONS:
        picked = [i for i, r in enumerate(reasons) if r == reason]
        if picked:
            stats.review_rows[reason] = rows.select(picked)
    rest = [i for i, r in enumerate(reasons) if r not in REVIEW_REASONS]
    stats.dropped_rows = rows.select(rest) if rest else None


def from_column(ds: Dataset, column: str = "label", labels: list[str] | None = None) -> tuple[Dataset, StageStats]:
    """Turn an existing column into a ClassLabel ``label``, e.g. ``from_column(ds, "category")``."""
    return label(ds, ColumnLabel(column=column, labels=labels))
