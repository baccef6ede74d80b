"""The multi-label baseline: scores, one-vs-rest cross-validation, and label noise per label."""

from __future__ import annotations

import random
import sys
import warnings

import numpy as np
import pytest

from hf_ftbuilder.allocation import iterative_folds
from hf_ftbuilder.quality import METRIC_PATH, baseline

VOCAB = {
    "sports": "football match goal team league coach striker referee stadium season".split(),
    "cooking": "recipe oven flour bake sugar butter dough simmer garlic kitchen".split(),
    "space": "rocket orbit planet nasa astronaut launch satellite telescope galaxy moon".split(),
    "music": "guitar melody chord album concert drummer lyrics tempo violin choir".split(),
}
NAMES = list(VOCAB)
FILLER = "today people said about some very long note then again".split()
COOKING = NAMES.index("cooking")


def planted(n: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Rows with 0 to 3 labels, each label's rows holding 5 of its words: one-vs-rest learns them all.

    Every tenth row has no label (filler words only). Returns texts, Y and the fold of each row.
    """
    rng = random.Random(seed)
    texts, sets = [], []
    for i in range(n):
        labels = sorted(rng.sample(range(len(NAMES)), rng.choice([1, 1, 2, 2, 3]) if i % 10 else 0))
        words = [w for j in labels for w in rng.sample(VOCAB[NAMES[j]], 5)] + rng.sample(FILLER, 3)
        rng.shuffle(words)
        texts.append(" ".join(words) + f" item {i}")
        sets.append(labels)
    Y = np.zeros((n, len(NAMES)), dtype=np.int8)
    for i, labels in enumerate(sets):
        Y[i, labels] = 1
    return texts, Y, iterative_folds(sets, len(NAMES), 5, seed=0)


@pytest.fixture(scope="module")
def noisy() -> tuple[list[str], np.ndarray, np.ndarray, list[int]]:
    """The planted rows with 12 memberships of ``cooking`` flipped: 6 taken away, 6 added."""
    texts, Y, fold_of = planted(240, seed=0)
    rng = np.random.default_rng(0)
    flips = sorted(rng.choice(np.flatnonzero(Y[:, COOKING] == 1), 6, replace=False).tolist()
                   + rng.choice(np.flatnonzero(Y[:, COOKING] == 0), 6, replace=False).tolist())
    given = Y.copy()
    given[flips, COOKING] ^= 1
    return texts, given, fold_of, flips


def test_multilabel_scores_on_a_hand_computed_case() -> None:
    y_true = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]], dtype=np.int8)
    y_pred = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 0], [0, 0, 0]], dtype=np.int8)
    # Per label: a tp 2; b tp 1, fn 1; c fp 1, fn 1. Micro: tp 3, fp 1, fn 2. The empty row is right.
    assert baseline.multilabel_scores(y_true, y_pred, ["a", "b", "c"]) == {
        "micro_precision": 0.75, "micro_recall": 0.6, "micro_f1": 0.666667,
        "macro_precision": 0.666667, "macro_recall": 0.5, "macro_f1": 0.555556,
        "subset_accuracy": 0.25, "hamming_loss": 0.25,
        "per_label": {"a": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2},
                      "b": {"precision": 1.0, "recall": 0.5, "f1": 0.666667, "support": 2},
                      "c": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}},
    }
    # One label is scored as that label's membership, not as a two-class accuracy.
    one = baseline.multilabel_scores(y_true[:, 1:2], y_pred[:, 1:2], ["b"])
    assert (one["micro_f1"], one["macro_f1"], one["hamming_loss"], one["per_label"]["b"]["support"]) == (
        0.666667, 0.666667, 0.25, 2)
    with pytest.raises(ValueError, match=r"y_pred must have one column per name \(3\); got 2 columns instead"):
        baseline.multilabel_scores(y_true, y_pred[:, :2], ["a", "b", "c"])
    with pytest.raises(ValueError, match="y_true must be a 2-D indicator matrix of 0 and 1"):
        baseline.multilabel_scores(y_true * 2, y_pred, ["a", "b", "c"])


@pytest.fixture
def multilabel_metric(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """``evaluate.load(METRIC_PATH, "multilabel")`` in this process (conftest has already imported
    transformers, which ``import evaluate`` pulls in: 10 s in a fresh process), with the module's
    copy and the metric's cache in the session's temp dir instead of ~/.cache/huggingface."""
    import evaluate

    base = tmp_path_factory.getbasetemp()
    monkeypatch.setattr(evaluate.config, "HF_MODULES_CACHE", base / "hf_modules")
    monkeypatch.setattr(sys, "path", list(sys.path))  # evaluate appends its modules cache to it
    return evaluate.load(METRIC_PATH, "multilabel", cache_dir=str(base / "hf_metrics"))


def test_metric_module_multilabel_config_gives_the_same_numbers(multilabel_metric) -> None:
    rng = np.random.default_rng(0)
    hand = (np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]]),
            np.array([[1, 0, 0], [0, 1, 1], [1, 0, 0], [0, 0, 0]]))
    cases = [hand, (rng.integers(0, 2, (50, 4)), rng.integers(0, 2, (50, 4)))]
    for y_true, y_pred in cases:
        got = multilabel_metric.compute(predictions=y_pred, references=y_true)
        ours = baseline.multilabel_scores(y_true, y_pred, NAMES[: y_true.shape[1]])
        ours.pop("per_label")
        assert got == pytest.approx(ours, abs=1e-6)
    assert got["micro_f1"] == pytest.approx(2 * 65 / (111 + 110))  # random: 65 right, 111 given, 110 predicted
    with pytest.raises(ValueError, match=r"config_name must be one of \('default', 'multilabel'\); got 'multi_label'"):
        type(multilabel_metric)(config_name="multi_label")


def test_planted_labels_are_learnt_perfectly() -> None:
    texts, Y, fold_of = planted(200, seed=0)
    assert (Y.sum(axis=1) == 0).sum() == 20  # rows with no label take part too
    cv = baseline.cross_validate_multilabel(texts, Y, NAMES, fold_of=fold_of, seed=0)
    assert cv["folds"] == 5
    assert (cv["micro_f1"], cv["macro_f1"], cv["subset_accuracy"], cv["hamming_loss"]) == (1.0, 1.0, 1.0, 0.0)
    assert cv["per_fold"]["micro_f1"] == {"mean": 1.0, "std": 0.0}
    assert {n: s["support"] for n, s in cv["per_label"].items()} == dict(zip(NAMES, Y.sum(axis=0).tolist()))
    train, test = fold_of != 0, fold_of == 0
    scored = baseline.fit_and_score_multilabel(
        ([t for t, keep in zip(texts, train) if keep], Y[train]),
        {"test": ([t for t, keep in zip(texts, test) if keep], Y[test]), "validation": ([], Y[:0])}, NAMES, seed=0)
    assert list(scored) == ["test"]  # an empty split is left out
    assert (scored["test"]["micro_f1"], scored["test"]["subset_accuracy"]) == (1.0, 1.0)


def test_planted_membership_flips_are_flagged(noisy) -> None:
    texts, given, fold_of, flips = noisy
    proba = baseline.out_of_fold_multilabel(texts, given, fold_of=fold_of, seed=0)
    assert proba.shape == given.shape
    found = baseline.confident_learning_per_label(proba, given)
    flagged = {(r, j) for r, j, _, _ in found["flagged"]}
    assert len(flagged & {(r, COOKING) for r in flips}) >= 11
    # On this seeded set: exactly the 12 flips, each with the membership it was given.
    assert sorted(r for r, _ in flagged) == flips and {j for _, j in flagged} == {COOKING}
    assert all(g == given[r, j] for r, j, g, _ in found["flagged"])
    scores = [s for _, _, _, s in found["flagged"]]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    cooking = found["per_label"][COOKING]
    assert (cooking["flagged"], cooking["estimated_errors"]) == (12, 15)
    assert [e["estimated_errors"] for i, e in enumerate(found["per_label"]) if i != COOKING] == [0, 0, 0]
    assert (found["rows_flagged"], found["estimated_errors"], found["labels_estimated"]) == (12, 15, 4)
    assert found["noise_rate"] == pytest.approx(15 / (240 * 4), abs=1e-3)


def test_cross_validation_matches_a_plain_sklearn_pipeline(noisy) -> None:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline

    texts, given, fold_of, _ = noisy
    ours = baseline.cross_validate_multilabel(texts, given, NAMES, fold_of=fold_of, seed=0)
    predicted = np.zeros_like(given)
    for fold in np.unique(fold_of):
        fit_idx, held = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
        pipe = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), OneVsRestClassifier(
            LogisticRegression(C=10.0, solver="saga", tol=1e-3, max_iter=200, random_state=0)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            pipe.fit([texts[i] for i in fit_idx], given[fit_idx])
        predicted[held] = pipe.predict([texts[i] for i in held])
    theirs = f1_score(given, predicted, average="micro")
    print(f"micro-F1: cross_validate_multilabel {ours['micro_f1']}, scikit-learn pipeline {theirs:.6f}")
    assert ours["micro_f1"] < 1.0  # the flips cost something: the comparison is not of two perfect scores
    assert abs(ours["micro_f1"] - theirs) <= 0.005


def test_a_label_train_never_has_is_predicted_absent() -> None:
    texts, Y, fold_of = planted(200, seed=0)
    music = NAMES.index("music")
    no_music = Y.copy()
    no_music[:, music] = 0
    cv = baseline.cross_validate_multilabel(texts, no_music, NAMES, fold_of=fold_of, seed=0)
    assert cv["per_label"]["music"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert (cv["micro_f1"], cv["macro_f1"]) == (1.0, 0.75)  # the empty label counts 0 in the macro mean

    # Fitted on rows without music, scored on rows with it: the other labels are still right.
    train, held = Y[:, music] == 0, Y[:, music] == 1
    scored = baseline.fit_and_score_multilabel(
        ([t for t, keep in zip(texts, train) if keep], Y[train]),
        {"test": ([t for t, keep in zip(texts, held) if keep], Y[held])}, NAMES, seed=0)["test"]
    memberships = int(Y[held].sum())
    assert scored["per_label"]["music"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": int(held.sum())}
    assert scored["micro_precision"] == 1.0
    assert scored["micro_recall"] == round((memberships - held.sum()) / memberships, 6)

    # Out of fold, the label is 0.0 everywhere; on a single row, 0.0 in that row's fold, which
    # learnt it from no row. The noise estimate leaves both out.
    one_row = no_music.copy()
    one_row[7, music] = 1
    for matrix, constant in ((no_music, fold_of >= 0), (one_row, fold_of == fold_of[7])):
        proba = baseline.out_of_fold_multilabel(texts, matrix, fold_of=fold_of, seed=0)
        assert (proba[constant, music] == 0.0).all() and (proba[~constant, music] > 0).all()
        found = baseline.confident_learning_per_label(proba, matrix)
        assert found["per_label"][music] == {"positives": int(matrix[:, music].sum()),
                                             "skipped": "fewer than 2 rows with the label, or without it"}
        assert found["labels_estimated"] == 3 and found["flagged"] == []


def test_fewer_rows_than_folds() -> None:
    texts = ["football goal team", "recipe oven flour", "football recipe"]
    sets = [[0], [1], [0, 1]]
    Y = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.int8)
    fold_of = iterative_folds(sets, 2, 5, seed=0)
    assert sorted(fold_of.tolist()) == [0, 1, 2]
    assert baseline.cross_validate_multilabel(texts, Y, ["sports", "cooking"], fold_of=fold_of, seed=0)["folds"] == 3
    proba = baseline.out_of_fold_multilabel(texts, Y, fold_of=fold_of, seed=0)
    # Rows 0 and 1 are held out from training rows that all have the other label: it is 1.0.
    assert (proba[0, 1], proba[1, 0]) == (1.0, 1.0)
    assert proba[0, 0] > 0.5 and proba[1, 1] > 0.5  # and their own label is learnt from the third row

    one = iterative_folds([[0]], 2, 5, seed=0)
    assert baseline.cross_validate_multilabel(texts[:1], Y[:1], ["sports", "cooking"], fold_of=one, seed=0) == {
        "skipped": "fewer than 2 folds (train has fewer than 2 rows, or one fold id)"}
    assert baseline.out_of_fold_multilabel(texts[:1], Y[:1], fold_of=one, seed=0) is None
    # Nothing to learn: every label on every row of train.
    everywhere = np.ones((3, 2), dtype=np.int8)
    assert baseline.cross_validate_multilabel(texts, everywhere, ["sports", "cooking"], fold_of=fold_of, seed=0) == {
        "skipped": "no label is on some rows of train and not on others"}
    assert baseline.fit_and_score_multilabel((texts, everywhere), {"test": (texts, Y)}, ["sports", "cooking"],
                                             seed=0) == {}
    with pytest.raises(ValueError, match=r"fold_of must hold one fold id per row \(3\); got an array of shape \(2,\)"):
        baseline.out_of_fold_multilabel(texts, Y, fold_of=fold_of[:2], seed=0)

