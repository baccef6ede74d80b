"""The refining classifier that every model method shares: it learns from the model's most certain
rows and from the rows people labelled, then relabels every row.

Similarity to a short description, an NLI model's entailment or a cluster's centroid is a coarse
signal; a light classifier (logistic regression on the text's TF-IDF features, beside whatever
dense features the method has: sentence embeddings, the zero-shot probabilities) picks up the
words and regions that each label's most certain rows share. People's labels train it too,
weighted above the model's own guesses: that is how a few human labels move every row's label,
not only their own. The confident rows' own scores come from cross-validation, so no row vouches
for itself. Three rounds; the result is the classifier's probability per label.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = ["HUMAN_SHARE", "HUMAN_WEIGHT", "MIN_PEOPLE", "MIN_ROWS_TO_REFINE", "Human", "features", "margin", "refine", "refinable"]

#: Positions of the rows a person labelled, and their label indices.
Human = tuple[np.ndarray, np.ndarray]

_CONFIDENT_SHARE = 0.5  # the most certain half of each label's rows trains the refining classifier
_ROUNDS = 3
#: Refining needs this many rows per label: on fewer, a classifier learns less than the model knows.
MIN_ROWS_TO_REFINE = 50
#: A zero-shot model learns from people once they labelled this many rows (fewer teach a classifier
#: on the texts' words more noise than signal).
MIN_PEOPLE = 8
#: How much a human-labelled row weighs in the refining classifier, against one confident model row.
HUMAN_WEIGHT = 20.0
#: ... but all human rows together at most this share of the confident rows' weight.
HUMAN_SHARE = 0.25


def features(texts: list[str], dense: np.ndarray | None = None) -> Any:
    """TF-IDF words and word pairs of ``texts``, beside ``dense`` columns (one row per text)."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer

    tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=50_000, ngram_range=(1, 2), dtype=np.float32)
    try:
        words = tfidf.fit_transform(texts)
    except ValueError:  # too few texts or words for min_df: the dense columns alone
        if dense is None:
            raise ConfigError("label: the texts have no words to learn from; set refine: false") from None
        return csr_matrix(dense)
    return words if dense is None else hstack([words, csr_matrix(dense)], format="csr")


def margin(scores: np.ndarray) -> np.ndarray:
    """How far each row's best label is ahead of its second (its best score with one label)."""
    top = np.sort(scores, axis=1)
    return top[:, -1] - top[:, -2] if scores.shape[1] > 1 else top[:, -1]


def refinable(first: np.ndarray, n_classes: int, human: Human | None) -> bool:
    """Whether every label has enough rows to learn from: ``MIN_ROWS_TO_REFINE`` by the model's
    first labels, or at least one row a person gave that label."""
    counts = np.bincount(first[first >= 0], minlength=n_classes)
    if human is not None:
        given = np.unique(human[1])
        counts[given] = np.maximum(counts[given], MIN_ROWS_TO_REFINE)
    return bool(counts.min() >= MIN_ROWS_TO_REFINE)


def _confident(labels: np.ndarray, certainty: np.ndarray, n_classes: int) -> np.ndarray:
    """Indices of the most certain share of each label's rows (stable order: by index)."""
    chosen = []
    for c in range(n_classes):
        members = np.flatnonzero(labels == c)
        take = max(1, int(round(len(members) * _CONFIDENT_SHARE))) if len(members) else 0
        order = members[np.argsort(-certainty[members], kind="stable")]
        chosen.append(order[:take])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def refine(x: Any, first: np.ndarray, certainty: np.ndarray, n_classes: int, seed: int,
           human: Human | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Label probabilities from a classifier trained on the most certain rows of ``first`` and on
    the rows people labelled (with their labels, weighted ``HUMAN_WEIGHT``).

    Args:
        x: one row of features per row (:func:`features`).
        first: the model's label index per row; -1 for a row that has none (it is relabelled but
            never trains the classifier).
        certainty: per row, how sure the model is of ``first`` (a margin, a similarity).
        n_classes: how many labels.
        seed: the classifier's and the folds' seed.
        human: the rows people labelled; they keep their label through the rounds.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    labels = first.copy()
    weight = np.ones(x.shape[0])
    if human is not None:
        labels[human[0]] = human[1]
        # People's rows weigh HUMAN_WEIGHT each, but all of them together at most HUMAN_SHARE of the
        # model's confident rows: many labels on the rows the model doubted most are atypical rows,
        # and a classifier fitted mostly to them misses the typical ones.
        confident = int((labels >= 0).sum()) * _CONFIDENT_SHARE
        weight[human[0]] = min(HUMAN_WEIGHT, HUMAN_SHARE * confident / len(human[0]))
    proba = np.zeros((x.shape[0], n_classes))
    rounds = []
    for _ in range(_ROUNDS):
        train = _confident(labels, certainty, n_classes)
        if human is not None:
            train = np.union1d(train, human[0])
        y = labels[train]
        present = np.unique(y)
        if len(present) < 2:
            raise ConfigError("label: refining needs confident rows of at least two labels; set refine: false")
        proba[:] = 0.0

        def fit(rows: np.ndarray) -> Any:
            model = LogisticRegression(C=4.0, max_iter=2000, random_state=seed)
            if human is None:  # the unweighted fit, as before people spoke: the same bytes
                return model.fit(x[rows], labels[rows])
            return model.fit(x[rows], labels[rows], sample_weight=weight[rows])

        proba[:, present] = fit(train).predict_proba(x)
        counts = np.bincount(y, minlength=n_classes)
        folds = min(5, int(counts[present].min()))
        if folds >= 2:  # out-of-fold scores for the rows the classifier was trained on
            for fit_idx, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(train, y):
                model = fit(train[fit_idx])
                proba[np.ix_(train[held], model.classes_)] = model.predict_proba(x[train[held]])
                missing = np.setdiff1d(present, model.classes_)
                proba[np.ix_(train[held], missing)] = 0.0
        changed = int((proba.argmax(axis=1) != labels).sum())
        rounds.append({"trained_on": int(len(train)), "changed": changed})
        labels = proba.argmax(axis=1)
        certainty = margin(proba)
        if human is not None:
            labels[human[0]] = human[1]
    return proba, {"rounds": rounds}
