"""How learnable the dataset is: a TF-IDF + logistic regression baseline, and label noise.

The baseline is cross-validated on train (stratified k-fold: mean and standard deviation of
accuracy and macro precision, recall and F1), then fitted on all of train and scored on validation
and test, with a per-class table and a confusion matrix. Optionally the same is done on frozen
sentence embeddings.

Label noise is estimated by confident learning on out-of-fold probabilities over every row
(:func:`confident_learning`): rows whose given label the model confidently disagrees with, counted
in a joint matrix of given versus likely labels, calibrated to the class sizes. The estimate says
how many labels are probably wrong and which rows to look at first.

The report makes both from one pass (:func:`learn`): the k-fold models of the cross-validation
give the train rows' out-of-fold probabilities, and the model fitted on all of train gives the
other splits' (rows it never saw), so no model is fitted twice.

Rows with several labels (a 0/1 indicator matrix ``Y``, rows x labels) get the same figures
label by label: one-vs-rest over the same TF-IDF and logistic regression, cross-validated on the
folds the caller gives (``fold_of``, from iterative stratification), a label predicted when its
probability is above 0.5; micro and macro precision, recall and F1, subset accuracy and Hamming
loss (:func:`multilabel_scores`); and confident learning on each label's membership
(:func:`confident_learning_per_label`), which says which (row, label) memberships are in doubt,
missing or extra.

A label a training fold holds on every row or on none is predicted as that constant (what
scikit-learn's ``OneVsRestClassifier`` does): there is nothing to learn it from, and it scores as
the baseline would do with it. Iterative stratification spreads a label's rows over the folds, so
this happens to a label with a single row (or missing from a single row), which the noise
estimate leaves out.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse

from ..allocation import allocate
from ..engine import cores, on_cores
from ..minhash import word_bigram_hashes

__all__ = [
    "character_proba",
    "classification_scores",
    "confident_learning",
    "confident_learning_per_label",
    "cross_validate",
    "cross_validate_multilabel",
    "fit_and_score",
    "fit_and_score_multilabel",
    "import_models",
    "Learned",
    "learn",
    "multilabel_scores",
    "out_of_fold",
    "out_of_fold_multilabel",
]


#: Columns word 1-2-grams are hashed into: few collisions for the vocabularies of a few thousand
#: documents, and no vocabulary to build (a dict of every bigram, most of the memory of a fit).
_COLUMN_BITS = 21
_HASHED_FEATURES = 2**_COLUMN_BITS


#: Texts counted together: their (row, column) keys sort in cache (24,000 scale benchmark
#: documents: 1.9 s in chunks of 1,024, 3.1 s in one).
_COUNT_CHUNK = 1024


def _counts(texts: list[str]) -> Any:
    """Word 1-2-gram counts (TfidfVectorizer's terms: lower-cased, words of two or more word
    characters, and each pair of consecutive words), hashed into ``_HASHED_FEATURES`` columns;
    computed once for every fold.

    The terms are hashed from code points in numpy (:func:`minhash.word_bigram_hashes`), not built
    as Python strings by scikit-learn's analyzer and hashed one at a time by HashingVectorizer:
    the same counts up to which column a term lands in, 7 times faster (24,000 scale benchmark
    documents on one core: 1.9 s against 13.4 s). A long text is read a window at a time.
    """
    if len(texts) > _COUNT_CHUNK:
        return scipy.sparse.vstack([_counts(texts[at : at + _COUNT_CHUNK])
                                    for at in range(0, len(texts), _COUNT_CHUNK)], format="csr")
    values, owners = word_bigram_hashes([text.lower() for text in texts])
    # One (row, column) key per term, built in the arrays' own memory (a long row has millions).
    values &= np.uint64(_HASHED_FEATURES - 1)
    keys = values.view(np.int64)
    owners <<= _COLUMN_BITS
    keys |= owners
    del owners
    keys.sort()
    first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, dtype=np.int64)
    distinct = keys[first]
    repeats = np.diff(np.r_[first, len(keys)]).astype(np.float32)
    row_starts = np.searchsorted(distinct >> _COLUMN_BITS, np.arange(len(texts) + 1))
    columns = (distinct & (_HASHED_FEATURES - 1)).astype(np.int32)
    return scipy.sparse.csr_matrix((repeats, columns, row_starts), shape=(len(texts), _HASHED_FEATURES))


#: Rows below which counting in one process is quicker than starting others.
_PARALLEL_COUNT_ROWS = 2_000


def _counts_on_cores(texts: list[str]) -> Any:
    """:func:`_counts` with the rows cut into one range per core, each counted in a forked process.

    Counting uses one core at a time and hashing needs no vocabulary, so the ranges' matrices
    stacked are the matrix of the whole (tests/quality/test_report.py checks it).
    """
    return scipy.sparse.vstack(on_cores(_counts, texts, min_per_core=_PARALLEL_COUNT_ROWS), format="csr")


#: Characters of each text the character model reads: its analyzer lists every n-gram of a text
#: at once, and the noise estimate needs a text's style, not all of a long one.
_CHARACTER_TEXT = 20_000


def _character_counts(texts: list[str]) -> Any:
    """Character 3-5-gram counts within word boundaries (``char_wb``), hashed like the words."""
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), n_features=_HASHED_FEATURES, alternate_sign=False,
                             norm=None, dtype=np.float32).transform([t[:_CHARACTER_TEXT] for t in texts])


def _character_counts_on_cores(texts: list[str]) -> Any:
    return scipy.sparse.vstack(on_cores(_character_counts, texts, min_per_core=_PARALLEL_COUNT_ROWS), format="csr")


class _TfidfLogReg:
    """TF-IDF over the terms the training rows contain, then logistic regression.

    What a TfidfVectorizer fitted on the training rows does, on hashed counts: terms the training
    rows lack are left out of every row before the L2 norm. Kept in, they shrink a held-out row's
    known terms and make the model less sure of it (on tests/quality/test_report.py's planted flips, 9 of
    12 found instead of 11).
    """

    def __init__(self, seed: int, *, multilabel: bool = False) -> None:
        self.seed = seed
        self.multilabel = multilabel

    def fit(self, counts: Any, labels: np.ndarray) -> _TfidfLogReg:
        """``labels``: class ids, or a rows x labels indicator matrix when ``multilabel``."""
        from sklearn.feature_extraction.text import TfidfTransformer

        self.seen = np.flatnonzero(counts.getnnz(axis=0))
        self.tfidf = TfidfTransformer(sublinear_tf=True).fit(counts[:, self.seen])
        model = _model(self.seed, multilabel=self.multilabel)
        self.model = (_one_vs_rest(model) if self.multilabel else model).fit(self._features(counts), labels)
        self.classes_ = self.model.classes_
        return self

    def _features(self, counts: Any) -> Any:
        return self.tfidf.transform(counts[:, self.seen])

    def predict(self, counts: Any) -> np.ndarray:
        return self.model.predict(self._features(counts))

    def predict_proba(self, counts: Any) -> np.ndarray:
        return self.model.predict_proba(self._features(counts))


def _model(seed: int, *, multilabel: bool = False) -> Any:
    from sklearn.linear_model import LogisticRegression

    # saga with a loose tolerance: as accurate as lbfgs here (AG News 5-fold 0.871 vs 0.869, SMS
    # 0.973 vs 0.973) and 25 to 45 times faster on sparse bigram features. tol 1e-2 rather than
    # 1e-3 (measured here, 5-fold): AG News accuracy 0.8771 vs 0.8770 in 3.3 s vs 5.4 s; the
    # scale benchmark's 2 KB documents 9 epochs instead of 28, 18 s vs 40 s.
    # C=3 rather than 10: the same accuracy (AG News 0.867 vs 0.867, SMS 0.979 vs 0.977), fewer
    # epochs, and probabilities that trust a noisy label less, so the noise estimate reading them
    # flags fewer right labels: with 10% of labels flipped, F1 of the flagged rows 0.743 vs 0.733
    # on AG News and 0.889 vs 0.867 on SMS (benchmarks/label_noise.py, 3 seeds). One-vs-rest keeps
    # C=10 and tol 1e-3: each label's own two-class model needs them for the rare labels (AG News
    # multi-label test micro-F1 0.800 at C=3 and 0.845 at tol 1e-2, against 0.847,
    # benchmarks/multilabel_split.py).
    if multilabel:
        return LogisticRegression(C=10.0, solver="saga", tol=1e-3, max_iter=200, random_state=seed)
    return LogisticRegression(C=3.0, solver="saga", tol=1e-2, max_iter=200, random_state=seed)


def _one_vs_rest(model: Any) -> Any:
    from sklearn.multiclass import OneVsRestClassifier

    return OneVsRestClassifier(model)


@contextmanager
def _quiet() -> Iterator[None]:
    """saga stops at max_iter on some folds; the scores are what matter, not the warning.

    One-vs-rest warns of each label a training fold holds on every row or on none, then predicts
    it as that constant: by design here (the module docstring says why).
    """
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message="Label .* is present in all training examples", category=UserWarning)
        yield


def _embedding_model(seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=10.0, max_iter=2000, random_state=seed)


def classification_scores(y_true: np.ndarray, y_pred: np.ndarray, names: list[str]) -> dict[str, Any]:
    """Accuracy, macro precision/recall/F1, a per-class table and the confusion matrix (rows: true)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(names)))
    p, r, f, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    macro = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 6),
        "precision": round(float(macro[0]), 6),
        "recall": round(float(macro[1]), 6),
        "f1": round(float(macro[2]), 6),
        "per_class": {n: {"precision": round(float(p[i]), 6), "recall": round(float(r[i]), 6),
                          "f1": round(float(f[i]), 6), "support": int(support[i])} for i, n in enumerate(names)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


_TOO_FEW = "a class has fewer than 2 rows in train (or train has one class)"


def _folds(labels: np.ndarray, wanted: int) -> int:
    counts = np.bincount(labels)
    return int(min(wanted, counts[counts > 0].min())) if len(counts) else 0


def cross_validate(features: Any, labels: np.ndarray, names: list[str], *, folds: int, seed: int,
                   embeddings: bool = False) -> dict[str, Any]:
    """Stratified k-fold on train: mean and std of accuracy and macro precision, recall, F1."""
    from sklearn.model_selection import StratifiedKFold

    k = _folds(labels, folds)
    if k < 2 or len(set(labels.tolist())) < 2:
        return {"skipped": _TOO_FEW}
    if not embeddings:
        features = _counts(features)
    per_fold = []
    for fit_idx, held in StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels):
        model = (_embedding_model if embeddings else _TfidfLogReg)(seed)
        with _quiet():
            model.fit(_take(features, fit_idx), labels[fit_idx])
        per_fold.append(classification_scores(labels[held], model.predict(_take(features, held)), names))
    return _fold_summary(per_fold)


def _fold_summary(per_fold: list[dict[str, Any]]) -> dict[str, Any]:
    """The number of folds, and the mean and standard deviation of each fold's headline scores."""
    return {"folds": len(per_fold), **{
        key: {"mean": round(float(np.mean([f[key] for f in per_fold])), 6),
              "std": round(float(np.std([f[key] for f in per_fold])), 6)}
        for key in ("accuracy", "precision", "recall", "f1")}}


def _take(features: Any, idx: np.ndarray) -> Any:
    return [features[i] for i in idx] if isinstance(features, list) else features[idx]


def fit_and_score(train: tuple[Any, np.ndarray], evaluated: dict[str, tuple[Any, np.ndarray]], names: list[str],
                  *, seed: int, embeddings: bool = False) -> dict[str, Any]:
    """Fit on all of train; scores on each evaluated split."""
    if len(set(train[1].tolist())) < 2:
        return {}
    if embeddings:
        model, features = _embedding_model(seed), (lambda x: x)
    else:
        model, features = _TfidfLogReg(seed), _counts
    with _quiet():
        model.fit(features(train[0]), train[1])
    return {name: classification_scores(y, model.predict(features(x)), names)
            for name, (x, y) in evaluated.items() if len(y)}


@dataclass
class Learned:
    """What one pass of the TF-IDF + logistic regression baseline gives (:func:`learn`).

    Attributes:
        cross_validation: the k-fold scores on train (``{"skipped": why}`` with too few rows).
        splits: the scores on each other split of the model fitted on all of train.
        proba: per split, every row's class probabilities from a model that did not see it
            (train: out of fold); empty when a class is too small for the folds.
    """

    cross_validation: dict[str, Any]
    splits: dict[str, Any] = field(default_factory=dict)
    proba: dict[str, np.ndarray] = field(default_factory=dict)


def import_models() -> None:
    """Import the parts of scikit-learn the baseline uses (2-3 s: scikit-learn imports
    scipy.stats, which parses docstrings as it loads), for :func:`engine.in_background`."""
    import sklearn.feature_extraction.text
    import sklearn.linear_model
    import sklearn.model_selection  # noqa: F401


def learn(train: tuple[list[str], np.ndarray], evaluated: dict[str, tuple[list[str], np.ndarray]], names: list[str],
          *, folds: int, seed: int, on_counted: Callable[[], Any] | None = None) -> Learned:
    """Cross-validate on train, fit on all of train and score the other splits, and keep every
    row's probabilities from a model that did not see it: one pass serves the baseline and the
    label-noise estimate.

    The scores are those of :func:`cross_validate` and :func:`fit_and_score` (the same folds and
    models; a fold's predictions are its probabilities' argmax, which is what the model predicts).
    ``on_counted`` is called once the rows are counted, before the fits: no process is forked
    after it, so the report starts loading the embedding model there, beside the fits.
    """
    texts, labels = train
    n_classes = len(names)
    k = _folds(labels, folds)
    if k < 2 or len(set(labels.tolist())) < 2:
        return Learned({"skipped": _TOO_FEW})
    # Every split's rows counted at once, over the cores; then the k fold models and the model on
    # all of train fitted side by side in threads (saga runs without the GIL). Each fit is the
    # same seeded fit as one after the other, so the scores do not depend on the cores.
    others = [name for name, (_, y) in evaluated.items() if len(y)]
    # The folds first: they import scikit-learn (2-3 s of single-threaded Python), which is best
    # done before on_counted's loading starts beside the fits.
    folds_of = _fold_rows(labels, k, seed)
    everything = _counts_on_cores([*texts, *(t for name in others for t in evaluated[name][0])])
    if on_counted is not None:
        on_counted()
    proba = _probabilities(everything, labels, {name: len(evaluated[name][1]) for name in evaluated}, folds_of,
                           n_classes, seed)
    per_fold = [classification_scores(labels[held], proba["train"][held].argmax(axis=1), names) for _, held in folds_of]
    splits = {name: classification_scores(evaluated[name][1], proba[name].argmax(axis=1), names) for name in others}
    return Learned(_fold_summary(per_fold), splits, proba)


def _fold_rows(labels: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The seeded stratified folds (fit rows, held rows) every pass over train uses."""
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels))


def _probabilities(everything: Any, labels: np.ndarray, evaluated: dict[str, int],
                   folds_of: list[tuple[np.ndarray, np.ndarray]], n_classes: int, seed: int) -> dict[str, np.ndarray]:
    """Every row's class probabilities from a model that did not see it: train's out of fold,
    each other split's (``evaluated``: its rows, in order after train's in ``everything``) from
    the model fitted on all of train. The fits run side by side in threads."""
    counts = everything[: len(labels)]
    # The model on all of train only when another split has rows for it.
    fits = [fit_idx for fit_idx, _ in folds_of] + ([np.arange(len(labels))] if any(evaluated.values()) else [])
    with _quiet(), ThreadPoolExecutor(min(cores(), len(fits))) as pool:
        models = list(pool.map(lambda rows: _TfidfLogReg(seed).fit(counts[rows], labels[rows]), fits))
    proba = {"train": np.zeros((len(labels), n_classes))}
    for (_, held), model in zip(folds_of, models):
        proba["train"][np.ix_(held, model.classes_)] = model.predict_proba(counts[held])
    start = len(labels)
    for name, rows in evaluated.items():
        proba[name] = np.zeros((rows, n_classes))
        if rows:
            proba[name][:, models[-1].classes_] = models[-1].predict_proba(everything[start : start + rows])
        start += rows
    return proba


def character_proba(train: tuple[list[str], np.ndarray], evaluated: dict[str, tuple[list[str], np.ndarray]],
                    n_classes: int, *, folds: int, seed: int) -> dict[str, np.ndarray]:
    """:meth:`learn`'s probabilities from a second model, on character 3-5-grams (TF-IDF +
    logistic regression, the same folds): the label-noise estimate averages the two.

    The words say what a text is about; the characters catch its spelling and style (an SMS
    spam's "FREE", "£", "txt"), and a flipped label has to fool both: with 10% of labels
    flipped on SMS spam the average flags the flips better than the words alone on every seed
    measured (benchmarks/label_noise.py, figures in the README), at 3 to 4 times the word
    model's cost, so the report uses it on small sets only (``report.label_noise_characters``).
    Empty when a class is too small for the folds.
    """
    texts, labels = train
    k = _folds(labels, folds)
    if k < 2 or len(set(labels.tolist())) < 2:
        return {}
    everything = _character_counts_on_cores([*texts, *(t for x, _ in evaluated.values() for t in x)])
    return _probabilities(everything, labels, {name: len(y) for name, (_, y) in evaluated.items()},
                          _fold_rows(labels, k, seed), n_classes, seed)


def out_of_fold(texts: list[str], labels: np.ndarray, n_classes: int, *, folds: int, seed: int,
                characters: bool = False) -> np.ndarray | None:
    """Out-of-fold class probabilities of every row (None when a class is too small for 2 folds).

    With ``characters``, the mean of the word model's and :func:`character_proba`'s, as the
    report's noise estimate reads them on a set within ``report.label_noise_characters``.
    """
    from sklearn.model_selection import StratifiedKFold

    k = _folds(labels, folds)
    if k < 2:
        return None
    proba = np.zeros((len(labels), n_classes))
    counts = _counts(texts)
    # Counted once; terms and IDF weights are fitted per fold, on its training rows only.
    for fit_idx, held in StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels):
        with _quiet():
            model = _TfidfLogReg(seed).fit(counts[fit_idx], labels[fit_idx])
        proba[np.ix_(held, model.classes_)] = model.predict_proba(counts[held])
    if characters:
        proba = (proba + character_proba((texts, labels), {}, n_classes, folds=folds, seed=seed)["train"]) / 2
    return proba


def confident_learning(proba: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Estimate label noise from out-of-fold probabilities (confident learning).

    1. Each class's threshold is the mean probability of that class over the rows labelled with it.
    2. A row counts in the confident joint at (given label, likely label), the likely label being
       the most probable class whose probability reaches its threshold (rows reaching none are
       left out).
    3. The joint is rescaled so that each given label's row adds up to its class size; its
       off-diagonal mass over all rows is the estimated noise rate.
    4. For each pair (given i, likely j), the rows labelled i with the largest ``p[j] - p[i]``
       are candidates, as many as the calibrated joint estimates (each given label's counts
       rounded by largest remainder, so they keep their total), among rows the model does not
       predict as i.
    5. A candidate is flagged when it is also among the least self-confident rows of its given
       label (the lowest ``p[i]``, as many as that label's estimated errors): both views must
       agree, which buys precision for a little recall (on AG News with 10% flipped labels,
       F1 0.72-0.74 against 0.69-0.71 for the margin ranking alone).

    Returns:
        ``noise_rate``, ``health`` (1 - noise rate), ``flip_matrix`` (P(likely | given), rows
        given), ``joint`` (calibrated counts), and ``flagged``: row indices with likely label and
        margin, most certain first.
    """
    n, k = proba.shape
    counts = np.bincount(labels, minlength=k)
    thresholds = np.array([proba[labels == j, j].mean() if counts[j] else 1.0 for j in range(k)])
    above = proba >= thresholds[None, :] - 1e-12
    masked = np.where(above, proba, -1.0)
    likely = masked.argmax(axis=1)
    counted = above.any(axis=1)
    joint = np.zeros((k, k))
    np.add.at(joint, (labels[counted], likely[counted]), 1)
    row_sums = joint.sum(axis=1, keepdims=True)
    calibrated = np.divide(joint, row_sums, out=np.zeros_like(joint), where=row_sums > 0) * counts[:, None]
    noise_rate = float((calibrated.sum() - np.trace(calibrated)) / n) if n else 0.0
    predicted = proba.argmax(axis=1)
    flagged: list[tuple[int, int, float]] = []
    for i in range(k):
        total = int(round(calibrated[i].sum()))
        quotas = allocate(total, (calibrated[i] / calibrated[i].sum()).tolist(), at_least_one=False) if total else [0] * k
        errors = total - quotas[i]
        members = np.flatnonzero(labels == i)
        least_confident = set(members[np.argsort(proba[members, i], kind="stable")][:errors].tolist())
        for j in range(k):
            if i == j or not quotas[j]:
                continue
            rows = np.flatnonzero((labels == i) & (predicted != i))
            margin = proba[rows, j] - proba[rows, i]
            order = rows[np.argsort(-margin, kind="stable")][: quotas[j]]
            flagged.extend((int(r), j, float(proba[r, j] - proba[r, i])) for r in order if int(r) in least_confident)
    best: dict[int, tuple[int, float]] = {}
    for row, j, margin in flagged:  # a row flagged for two likely labels keeps the stronger one
        if row not in best or margin > best[row][1]:
            best[row] = (j, margin)
    flip = np.divide(calibrated, calibrated.sum(axis=1, keepdims=True), out=np.zeros_like(calibrated),
                     where=calibrated.sum(axis=1, keepdims=True) > 0)
    return {
        "noise_rate": round(noise_rate, 6),
        "health": round(1 - noise_rate, 6),
        "flip_matrix": np.round(flip, 6).tolist(),
        "joint": np.round(calibrated, 3).tolist(),
        "flagged": sorted(((r, j, m) for r, (j, m) in best.items()), key=lambda x: (-x[2], x[0])),
    }


def _indicator(Y: np.ndarray, names: list[str] | None = None, what: str = "Y") -> np.ndarray:
    """``Y`` as an int8 rows x labels matrix of 0 and 1 (one column per name when names are given)."""
    Y = np.asarray(Y)
    if Y.ndim != 2 or not np.isin(Y, (0, 1)).all():
        raise ValueError(f"{what} must be a 2-D indicator matrix of 0 and 1 (rows x labels); got an array of shape"
                         f" {Y.shape} and values {np.unique(Y)[:5].tolist()} instead")
    if names is not None and Y.shape[1] != len(names):
        raise ValueError(f"{what} must have one column per name ({len(names)}); got {Y.shape[1]} columns instead")
    return Y.astype(np.int8)


def _fold_ids(fold_of: np.ndarray, rows: int) -> np.ndarray:
    fold_of = np.asarray(fold_of)
    if fold_of.shape != (rows,):
        raise ValueError(f"fold_of must hold one fold id per row ({rows}); got an array of shape {fold_of.shape}"
                         " instead")
    return fold_of


def multilabel_scores(y_true: np.ndarray, y_pred: np.ndarray, names: list[str]) -> dict[str, Any]:
    """Micro and macro precision/recall/F1, subset accuracy, Hamming loss and a per-label table.

    Args:
        y_true: the given labels, a rows x labels 0/1 matrix.
        y_pred: the predicted labels, the same shape.
        names: one name per column.

    Returns:
        ``micro_precision``, ``micro_recall``, ``micro_f1``, the same three ``macro_`` (a label
        never given nor predicted counts 0), ``subset_accuracy`` (rows whose whole label set is
        right), ``hamming_loss`` (share of wrong row-label cells) and ``per_label``: precision,
        recall, F1 and support (rows given the label) of each name.

    Raises:
        ValueError: a matrix is not 0/1 with one column per name, or the shapes differ.
    """
    from sklearn.metrics import accuracy_score, hamming_loss, precision_recall_fscore_support

    y_true, y_pred = _indicator(y_true, names, "y_true"), _indicator(y_pred, names, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape; got {y_true.shape} and {y_pred.shape} instead")
    if len(names) == 1:  # one column is a binary target to scikit-learn, not a label set: score its class 1
        y_true, y_pred, labels = y_true[:, 0], y_pred[:, 0], [1]
    else:
        labels = list(range(len(names)))

    def averaged(average: str | None) -> Any:
        return precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average, zero_division=0)

    p, r, f, support = averaged(None)
    micro, macro = averaged("micro"), averaged("macro")
    return {
        "micro_precision": round(float(micro[0]), 6),
        "micro_recall": round(float(micro[1]), 6),
        "micro_f1": round(float(micro[2]), 6),
        "macro_precision": round(float(macro[0]), 6),
        "macro_recall": round(float(macro[1]), 6),
        "macro_f1": round(float(macro[2]), 6),
        "subset_accuracy": round(float(accuracy_score(y_true, y_pred)), 6),
        "hamming_loss": round(float(hamming_loss(y_true, y_pred)), 6),
        "per_label": {n: {"precision": round(float(p[i]), 6), "recall": round(float(r[i]), 6),
                          "f1": round(float(f[i]), 6), "support": int(support[i])} for i, n in enumerate(names)},
    }


def _multilabel_model(seed: int, embeddings: bool) -> Any:
    return _one_vs_rest(_embedding_model(seed)) if embeddings else _TfidfLogReg(seed, multilabel=True)


def _label_proba(model: Any, features: Any, n_labels: int) -> np.ndarray:
    """Each label's probability, rows x labels, from a fitted one-vs-rest model.

    One label is a binary target to ``OneVsRestClassifier``, which then gives a column per class:
    the label's is the second; and when the training rows all had one value, the only column is
    always 1, whichever value it was, so that value is the probability.
    """
    if n_labels == 1 and len(model.classes_) == 1:
        rows = features.shape[0] if hasattr(features, "shape") else len(features)  # sparse counts have no len()
        return np.full((rows, 1), float(model.classes_[0]))
    proba = model.predict_proba(features)
    return proba[:, 1:] if n_labels == 1 else proba


def _out_of_fold_proba(features: Any, Y: np.ndarray, fold_of: np.ndarray, seed: int, embeddings: bool) -> np.ndarray:
    """Each row's label probabilities from the model fitted on the other folds (features counted once)."""
    proba = np.zeros(Y.shape)
    for fold in np.unique(fold_of):
        fit_idx, held = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
        with _quiet():
            model = _multilabel_model(seed, embeddings).fit(_take(features, fit_idx), Y[fit_idx])
        proba[held] = _label_proba(model, _take(features, held), Y.shape[1])
    return proba


def _predicted(proba: np.ndarray) -> np.ndarray:
    """Labels above 0.5, as one-vs-rest's ``predict`` has them (a decision function above 0)."""
    return (proba > 0.5).astype(np.int8)


def _learnable(Y: np.ndarray) -> bool:
    """Whether some label has rows with it and rows without it."""
    positives = Y.sum(axis=0)
    return bool(((positives > 0) & (positives < len(Y))).any())


def cross_validate_multilabel(features: Any, Y: np.ndarray, names: list[str], *, fold_of: np.ndarray, seed: int,
                              embeddings: bool = False) -> dict[str, Any]:
    """One-vs-rest TF-IDF + logistic regression, cross-validated on the given folds of train.

    Args:
        features: the rows' texts (or embeddings, a rows x dims array, with ``embeddings``).
        Y: the rows' labels, a rows x labels 0/1 matrix (a row may have none).
        names: one name per label.
        fold_of: the fold id of each row (from iterative stratification); each fold is held out
            once. Fewer rows than folds asked for simply gives fewer fold ids.
        seed: the models' seed.
        embeddings: ``features`` are embeddings (logistic regression on them, no TF-IDF).

    Returns:
        ``folds`` (fold ids seen), the :func:`multilabel_scores` of the out-of-fold predictions
        of every row, and ``per_fold``: mean and std over the folds of each headline score, as
        :func:`cross_validate` gives them. ``{"skipped": reason}`` with fewer than 2 folds or
        when no label is both present and absent in train.

    Raises:
        ValueError: ``Y`` is not 0/1 with one column per name, or ``fold_of`` is not one id per row.
    """
    Y = _indicator(Y, names)
    fold_of = _fold_ids(fold_of, len(Y))
    folds = np.unique(fold_of)
    if len(folds) < 2:
        return {"skipped": "fewer than 2 folds (train has fewer than 2 rows, or one fold id)"}
    if not _learnable(Y):
        return {"skipped": "no label is on some rows of train and not on others"}
    proba = _out_of_fold_proba(features if embeddings else _counts(features), Y, fold_of, seed, embeddings)
    predicted = _predicted(proba)
    per_fold = [multilabel_scores(Y[fold_of == f], predicted[fold_of == f], names) for f in folds]
    headline = [key for key in per_fold[0] if key != "per_label"]
    return {
        "folds": len(folds),
        **multilabel_scores(Y, predicted, names),
        "per_fold": {key: {"mean": round(float(np.mean([s[key] for s in per_fold])), 6),
                           "std": round(float(np.std([s[key] for s in per_fold])), 6)} for key in headline},
    }


def fit_and_score_multilabel(train: tuple[Any, np.ndarray], evaluated: dict[str, tuple[Any, np.ndarray]],
                             names: list[str], *, seed: int, embeddings: bool = False) -> dict[str, Any]:
    """Fit one-vs-rest on all of train; :func:`multilabel_scores` on each evaluated split.

    Empty splits are left out; ``{}`` when no label is both present and absent in train. A label
    train never has (or always has) is predicted absent (present) everywhere.

    Raises:
        ValueError: a label matrix is not 0/1 with one column per name.
    """
    Y = _indicator(train[1], names)
    if not _learnable(Y):
        return {}
    model = _multilabel_model(seed, embeddings)
    features = (lambda x: x) if embeddings else _counts
    with _quiet():
        model.fit(features(train[0]), Y)
    return {name: multilabel_scores(y, _predicted(_label_proba(model, features(x), len(names))), names)
            for name, (x, y) in evaluated.items() if len(y)}


def out_of_fold_multilabel(texts: list[str], Y: np.ndarray, *, fold_of: np.ndarray, seed: int) -> np.ndarray | None:
    """Out-of-fold probability of every row and label (TF-IDF + one-vs-rest logistic regression).

    Args:
        texts: the rows' texts.
        Y: the rows' labels, a rows x labels 0/1 matrix.
        fold_of: the fold id of each row; each fold's probabilities come from the other folds.
        seed: the models' seed.

    Returns:
        A float rows x labels matrix, or None with fewer than 2 folds. A label the other folds
        hold on every row or on none gets that constant, 1.0 or 0.0, in the fold held out (see
        the module's docstring).

    Raises:
        ValueError: ``Y`` is not a 0/1 matrix of one row per text, or ``fold_of`` not one id per row.
    """
    Y = _indicator(Y)
    if len(Y) != len(texts):
        raise ValueError(f"Y must have one row per text ({len(texts)}); got {len(Y)} rows instead")
    fold_of = _fold_ids(fold_of, len(Y))
    if len(np.unique(fold_of)) < 2:
        return None
    return _out_of_fold_proba(_counts(texts), Y, fold_of, seed, embeddings=False)


def confident_learning_per_label(proba: np.ndarray, Y: np.ndarray) -> dict[str, Any]:
    """Confident learning on each label's membership: which (row, label) pairs are in doubt.

    Each label is a two-class problem, absent or present, with probabilities ``[1 - p, p]``:
    :func:`confident_learning` on it estimates how many of the label's memberships are wrong
    (given 1 but likely 0: an extra label; given 0 but likely 1: a missing one) and flags the rows
    both of its views agree on. A label on fewer than 2 rows, or missing from fewer than 2, is
    left out: its out-of-fold probabilities come from folds that never saw it (or its absence).

    Args:
        proba: out-of-fold probabilities, rows x labels (:func:`out_of_fold_multilabel`).
        Y: the given labels, a rows x labels 0/1 matrix.

    Returns:
        ``per_label``, one entry per label in order: ``positives`` (rows given it), and
        ``noise_rate`` (estimated wrong memberships over rows), ``estimated_errors``, ``joint``
        (calibrated counts, rows given 0/1, columns likely 0/1) and ``flagged`` (count); or
        ``skipped`` with the reason. Totals: ``rows``, ``labels``, ``labels_estimated``,
        ``estimated_errors``, ``noise_rate`` (over the rows x estimated labels cells),
        ``rows_flagged``. And ``flagged``: ``(row, label index, given 0/1, score)``, the score
        being how much more probable the other value is (0 to 1), highest first, then by row
        and label.

    Raises:
        ValueError: ``Y`` is not a 0/1 matrix, or ``proba`` has another shape.
    """
    Y = _indicator(Y)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.shape != Y.shape:
        raise ValueError(f"proba must have the shape of Y {Y.shape}; got {proba.shape} instead")
    rows, n_labels = Y.shape
    per_label: list[dict[str, Any]] = []
    flagged: list[tuple[int, int, int, float]] = []
    errors = 0.0
    for j in range(n_labels):
        given = Y[:, j].astype(np.int64)
        positives = int(given.sum())
        if min(positives, rows - positives) < 2:
            per_label.append({"positives": positives, "skipped": "fewer than 2 rows with the label, or without it"})
            continue
        found = confident_learning(np.column_stack([1 - proba[:, j], proba[:, j]]), given)
        joint = found["joint"]
        wrong = joint[0][1] + joint[1][0]
        errors += wrong
        flagged.extend((r, j, int(given[r]), m) for r, _, m in found["flagged"])
        per_label.append({"positives": positives, "noise_rate": found["noise_rate"],
                          "estimated_errors": int(round(wrong)), "joint": joint,
                          "flagged": len(found["flagged"])})
    estimated = sum("skipped" not in e for e in per_label)
    return {
        "per_label": per_label,
        "rows": rows,
        "labels": n_labels,
        "labels_estimated": estimated,
        "estimated_errors": int(round(errors)),
        "noise_rate": round(errors / (rows * estimated), 6) if estimated else 0.0,
        "rows_flagged": len({r for r, _, _, _ in flagged}),
        "flagged": sorted(flagged, key=lambda x: (-x[3], x[0], x[1])),
    }
