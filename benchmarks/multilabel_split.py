"""Multi-label splits: hf_ftbuilder's ``iterative_stratify`` against iterative-stratification (iterstrat).

Both split the same rows in the same run, for a 0.8/0.1/0.1 train/validation/test split and for
5-fold cross-validation, over ``--seeds`` seeds (ours ``seed=s``, iterstrat ``random_state=s``):

* **hf_ftbuilder**: ``allocation.iterative_stratify(label_sets, n_labels, [0.8, 0.1, 0.1], seed=s)``
  and ``allocation.iterative_folds(label_sets, n_labels, 5, seed=s)``, given a list of label lists.
* **iterstrat** (``pip install iterative-stratification``, in the project's .venv): the usual
  chain for three splits, ``MultilabelStratifiedShuffleSplit(n_splits=1, test_size=0.2)`` for
  train against the rest, then ``test_size=0.5`` on the rest for validation against test; and
  ``MultilabelStratifiedKFold(n_splits=5, shuffle=True)``. It is given the 0/1 label matrix,
  built before the clock starts.

Data:

* **generated**: ``--rows`` (20,000) rows x 12 labels, ``numpy.random.default_rng(0)``. A hidden
  topic (4, shares 0.4/0.3/0.2/0.1) sets the odds of labels 0-7 (base rates 0.30 down to 0.01,
  times 3 for the topic's own two labels); labels 8-11 only come with another label (8 with 0,
  9 with 1 and 2 together, 10 with 5, 11 with 8). 16% of the rows carry no label.
* **AG News** (``../shared/data/text/ag_news_test.csv``, 7,600 rows): the gold topic (4 labels),
  plus keyword labels from the row's text, in this order: ``mentions_money`` (``$``, AG News's
  `` #36;`` for it, dollar(s), euro(s), yen, yuan, cent(s), "pounds sterling"),
  ``mentions_country`` (China, Japan, India, Iraq, Iran, Israel, Russia, France, Germany, Britain,
  Canada, Mexico, Brazil, Australia, Pakistan, Afghanistan, Korea; case-sensitive whole words),
  ``mentions_percent`` ("percent", "per cent" or ``%``), ``mentions_company`` (Microsoft, Google,
  Apple, IBM, Intel, Yahoo, Sony, Oracle, Dell, AOL, eBay, Nokia; case-sensitive whole words) and
  ``mentions_election`` (election(s), vote, voters, Bush, Kerry, president; any case). 9 labels;
  every row carries its topic, 3,018 rows also carry one to three keyword labels.

Metrics, averaged over the seeds: the largest and the mean (over every split and label)
``|rows of the split carrying the label / rows of the label - split's share|``; the split-size
error, the largest ``|rows of a split - allocate(n, shares)|``; and the wall time of one split.
The ratio columns are iterstrat's figure over ours (above 1: ours is closer, or faster). A
seeded random permutation cut at ``allocate``'s sizes (``random``) shows what stratifying buys.

    .venv/bin/python -m benchmarks.multilabel_split [--rows 20000] [--seeds 3]
"""

from __future__ import annotations

import argparse
import csv
import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hf_ftbuilder.allocation import allocate, iterative_folds, iterative_stratify

REPO = Path(__file__).resolve().parents[1]
AG_NEWS = REPO.parent / "shared" / "data" / "text" / "ag_news_test.csv"
TOPICS = ["World", "Sports", "Business", "Sci/Tech"]
KEYWORDS = {
    "mentions_money": re.compile(r"#36;|\$|\b(?:dollars?|euros?|yen|yuan|cents?|pounds sterling)\b"),
    "mentions_country": re.compile(r"\b(?:China|Japan|India|Iraq|Iran|Israel|Russia|France|Germany|Britain|Canada"
                                   r"|Mexico|Brazil|Australia|Pakistan|Afghanistan|Korea)\b"),
    "mentions_percent": re.compile(r"\b(?:percent|per cent)\b|%", re.IGNORECASE),
    "mentions_company": re.compile(r"\b(?:Microsoft|Google|Apple|IBM|Intel|Yahoo|Sony|Oracle|Dell|AOL|eBay|Nokia)\b"),
    "mentions_election": re.compile(r"\b(?:elections?|vote|voters|Bush|Kerry|president)\b", re.IGNORECASE),
}
SHARES = [0.8, 0.1, 0.1]
FOLDS = 5


def generated(n: int) -> np.ndarray:
    """``n`` rows x 12 labels (boolean): skewed, topic-driven, with labels that only come with others."""
    rng = np.random.default_rng(0)
    topic = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1])
    base = np.array([0.30, 0.20, 0.15, 0.10, 0.06, 0.04, 0.02, 0.01])
    odds = np.tile(base, (4, 1))
    for t in range(4):
        odds[t, [2 * t, 2 * t + 1]] *= 3
    y = np.zeros((n, 12), dtype=bool)
    y[:, :8] = rng.random((n, 8)) < odds[topic]
    y[:, 8] = y[:, 0] & (rng.random(n) < 0.2)
    y[:, 9] = y[:, 1] & y[:, 2] & (rng.random(n) < 0.5)
    y[:, 10] = y[:, 5] & (rng.random(n) < 0.3)
    y[:, 11] = y[:, 8] & (rng.random(n) < 0.25)
    return y


def _ag_news_texts() -> list[str]:
    with AG_NEWS.open(encoding="utf-8", newline="") as fh:
        return [row["text"] for row in csv.DictReader(fh)]


def ag_news() -> np.ndarray:
    """AG News test rows x (4 topics + the keyword labels), boolean."""
    with AG_NEWS.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    y = np.zeros((len(rows), len(TOPICS) + len(KEYWORDS)), dtype=bool)
    for i, row in enumerate(rows):
        y[i, TOPICS.index(row["label"])] = True
        for k, pattern in enumerate(KEYWORDS.values()):
            y[i, len(TOPICS) + k] = pattern.search(row["text"]) is not None
    return y


def _ours_split(sets: list[list[int]], n_labels: int, seed: int) -> np.ndarray:
    return iterative_stratify(sets, n_labels, SHARES, seed=seed)


def _ours_folds(sets: list[list[int]], n_labels: int, seed: int) -> np.ndarray:
    return iterative_folds(sets, n_labels, FOLDS, seed=seed)


def _iterstrat_split(y: np.ndarray, seed: int) -> np.ndarray:
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    x = np.zeros((len(y), 1))
    _, rest = next(MultilabelStratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=seed).split(x, y))
    validation, test = next(MultilabelStratifiedShuffleSplit(n_splits=1, test_size=0.5, random_state=seed)
                            .split(x[rest], y[rest]))
    split = np.zeros(len(y), dtype=np.int64)
    split[rest[validation]], split[rest[test]] = 1, 2
    return split


def _iterstrat_folds(y: np.ndarray, seed: int) -> np.ndarray:
    from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

    fold = np.zeros(len(y), dtype=np.int64)
    splitter = MultilabelStratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    for k, (_, held_out) in enumerate(splitter.split(np.zeros((len(y), 1)), y)):
        fold[held_out] = k
    return fold


def _random(n: int, shares: list[float], seed: int) -> np.ndarray:
    split = np.empty(n, dtype=np.int64)
    split[np.random.default_rng(seed).permutation(n)] = np.repeat(np.arange(len(shares)), allocate(n, shares))
    return split


def scores(y: np.ndarray, split: np.ndarray, shares: list[float]) -> tuple[float, float, int]:
    """Largest and mean label-share gap, and the largest split-size error in rows."""
    present = y.sum(axis=0) > 0
    counts = np.stack([y[split == j].sum(axis=0) for j in range(len(shares))])[:, present]
    gap = np.abs(counts / y.sum(axis=0)[present] - np.asarray(shares)[:, None])
    sizes = np.bincount(split, minlength=len(shares))
    return float(gap.max()), float(gap.mean()), int(np.abs(sizes - allocate(len(y), shares)).max())


def _timed(call: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = call()
    return out, time.perf_counter() - start


def measure(y: np.ndarray, seeds: int) -> dict[tuple[str, str], np.ndarray]:
    """(task, tool) -> mean over seeds of (largest gap, mean gap, size error, seconds)."""
    sets = [np.flatnonzero(row).tolist() for row in y]
    yi = y.astype(np.int64)
    runs = {
        ("0.8/0.1/0.1", "hf_ftbuilder"): (lambda s: _ours_split(sets, y.shape[1], s), SHARES),
        ("0.8/0.1/0.1", "iterstrat"): (lambda s: _iterstrat_split(yi, s), SHARES),
        (f"{FOLDS}-fold", "hf_ftbuilder"): (lambda s: _ours_folds(sets, y.shape[1], s), [1 / FOLDS] * FOLDS),
        (f"{FOLDS}-fold", "iterstrat"): (lambda s: _iterstrat_folds(yi, s), [1 / FOLDS] * FOLDS),
        ("0.8/0.1/0.1", "random"): (lambda s: _random(len(y), SHARES, s), SHARES),
        (f"{FOLDS}-fold", "random"): (lambda s: _random(len(y), [1 / FOLDS] * FOLDS, s), [1 / FOLDS] * FOLDS),
    }
    out = {}
    for key, (run, shares) in runs.items():
        figures = []
        for seed in range(seeds):
            split, seconds = _timed(lambda: run(seed))  # noqa: B023 (called at once)
            figures.append((*scores(y, split, shares), seconds))
        out[key] = np.mean(figures, axis=0)
    return out


def baseline_against_scikit_learn(texts: list[str], y: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Test micro-F1, on our 0.8/0.1/0.1 split, of the report's one-vs-rest baseline and of plain
    scikit-learn pipelines (TfidfVectorizer + OneVsRestClassifier(LogisticRegression)): one with
    the baseline's settings (word 1-2-grams, sublinear TF, C=10, saga), which it must match, and
    one with scikit-learn's defaults, for scale."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline

    from hf_ftbuilder.quality.baseline import fit_and_score_multilabel

    names = [*TOPICS, *KEYWORDS]
    split = _ours_split([np.flatnonzero(row).tolist() for row in y], y.shape[1], seed)
    train, test = np.flatnonzero(split == 0), np.flatnonzero(split == 2)
    yi = y.astype(np.int8)
    train_x, test_x = [texts[i] for i in train], [texts[i] for i in test]
    out = {"hf_ftbuilder baseline": fit_and_score_multilabel((train_x, yi[train]), {"test": (test_x, yi[test])}, names,
                                                             seed=seed)["test"]["micro_f1"]}
    same = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                         OneVsRestClassifier(LogisticRegression(C=10.0, solver="saga", tol=1e-3, max_iter=200,
                                                                random_state=seed)))
    defaults = make_pipeline(TfidfVectorizer(), OneVsRestClassifier(LogisticRegression(random_state=seed)))
    for name, pipeline in (("scikit-learn, the baseline's settings", same), ("scikit-learn defaults", defaults)):
        pipeline.fit(train_x, yi[train])
        out[name] = float(f1_score(yi[test], pipeline.predict(test_x), average="micro", zero_division=0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the generated set")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    try:
        import iterstrat  # noqa: F401
    except ImportError:
        raise SystemExit("needs iterstrat: .venv/bin/pip install iterative-stratification") from None
    data = {f"generated, {args.rows:,} x 12": generated(args.rows)}
    if AG_NEWS.exists():
        data["AG News test, 7,600 x 9"] = ag_news()
    else:
        print(f"{AG_NEWS} not found; AG News skipped")
    print(f"mean over seeds 0-{args.seeds - 1}; gap = |label's share in a split - split's share|; "
          "ratio = iterstrat / hf_ftbuilder\n")
    print("| data | task | tool | largest gap | mean gap | size error (rows) | seconds | largest gap ratio | "
          "mean gap ratio | time ratio |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, y in data.items():
        figures = measure(y, args.seeds)
        for task in ("0.8/0.1/0.1", f"{FOLDS}-fold"):
            ours, theirs = figures[(task, "hf_ftbuilder")], figures[(task, "iterstrat")]
            for tool, row in (("hf_ftbuilder", ours), ("iterstrat", theirs), ("random", figures[(task, "random")])):
                ratios = "| | |" if tool != "hf_ftbuilder" else (
                    f"| {theirs[0] / ours[0]:.2f} | {theirs[1] / ours[1]:.2f} | {theirs[3] / ours[3]:.1f} |")
                print(f"| {name} | {task} | {tool} | {row[0]:.5f} | {row[1]:.5f} | {row[2]:.1f} | {row[3]:.3f} {ratios}",
                      flush=True)
    if AG_NEWS.exists():
        scores = baseline_against_scikit_learn(_ag_news_texts(), data["AG News test, 7,600 x 9"])
        ours = scores["hf_ftbuilder baseline"]
        print("\nAG News multi-label, test rows of the 0.8/0.1/0.1 split (seed 0), micro-F1:\n")
        print("| model | micro-F1 | against the baseline |\n|---|---:|---:|")
        for name, value in scores.items():
            print(f"| {name} | {value:.4f} | {(value - ours) * 100:+.2f} points |")


if __name__ == "__main__":
    main()
