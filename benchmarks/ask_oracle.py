"""The few labels that matter: label accuracy after 0, 8, 16, 40 and 80 human labels on AG News,
and after 0, 20 and 40 on SMS spam (two labels, 13% spam).

A simulated person (an oracle answering from the gold column) labels the rows the build asks about
(``label.ask``, in rounds of 8, 8, 24 and 40), and, as the peer in the same run, the same number of
rows drawn at random (5 draws), fed through the same path (the annotations file the build reads).
The label method is ``embedding`` with the label names only (no descriptions, no examples) and the
default refine. Accuracy is measured on the rows no person labelled.

SMS spam is the imbalanced set: 2,000 distinct messages labelled from the names ``ham`` and
``spam`` alone, two rounds of 20 asked rows (the issue's aim: 0.93 on the rows no person labelled).

Then, for 5 seeds, the card's estimate: the accuracy of the last round's model on its randomly drawn
rows that people answered, with its 95% (Wilson) interval, against the true accuracy of that model.

Needs ``../shared/data`` (AG News test, SMS spam). Run: ``.venv/bin/python -m benchmarks.ask_oracle [--rows 2000]``.
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
from datasets import Dataset

from hf_ftbuilder import schema
from hf_ftbuilder.config import EmbeddingLabel
from hf_ftbuilder.context import StageContext
from hf_ftbuilder.embedder import Embedder
from hf_ftbuilder.label import label, learn

REPO = Path(__file__).resolve().parents[1]
TEXT_DATA = REPO.parent / "shared" / "data" / "text"


@dataclass(frozen=True)
class Task:
    """A labelled file of the shared data, the label names the build is given, and the rounds."""

    file: str
    names: list[str]
    rounds: tuple[int, ...]  # rows asked per round


AG_NEWS = Task("ag_news_test.csv", ["World", "Sports", "Business", "Sci/Tech"], (8, 8, 24, 40))  # 8, 16, 40, 80
SMS_SPAM = Task("sms_spam.csv", ["ham", "spam"], (20, 20))  # 20, 40


def _rows(task: Task, n: int, seed: int, data: Path = TEXT_DATA) -> tuple[Dataset, dict[str, str]]:
    """``n`` distinct texts of the task's file (seeded order), and their gold labels by id."""
    with (data / task.file).open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    random.Random(seed).shuffle(rows)
    seen: set[str] = set()
    rows = [r for r in rows if not (r["text"] in seen or seen.add(r["text"]))][:n]  # dedup keeps one copy
    ids = [f"r{i:05d}" for i in range(len(rows))]
    ds = Dataset.from_dict({schema.ID: ids, schema.TEXT: [r["text"] for r in rows]})
    return ds, dict(zip(ids, (r["label"] for r in rows)))


class Person:
    """The oracle and the annotations file it writes, beside a recipe folder."""

    def __init__(self, folder: Path, gold: dict[str, str]) -> None:
        self.path, self.gold = folder / "answers.csv", gold
        self.path.write_text("id,label,annotator,time\n")

    def answer(self, ids: list[str]) -> None:
        with self.path.open("a", newline="") as fh:
            csv.writer(fh).writerows([i, self.gold[i], "oracle", ""] for i in ids)


def _label(task: Task, ds: Dataset, folder: Path, cache: Path, ask: int, seed: int):
    """The label stage with its own cache (its ask log), sharing the vectors of every run."""
    shared = cache.parent / "embeddings"
    shared.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / "embeddings").exists():
        (cache / "embeddings").symlink_to(shared, target_is_directory=True)
    cfg = EmbeddingLabel(labels=task.names, annotations="answers.csv", ask=ask)
    return label(ds, cfg, context=StageContext(seed=seed, base_dir=folder, cache_dir=cache, progress=False))


def _accuracy(task: Task, out: Dataset, gold: dict[str, str]) -> float:
    table = out.with_format("arrow")[:]
    right = total = 0
    for row_id, lab, source in zip(table[schema.ID].to_pylist(), table[schema.LABEL].to_pylist(),
                                   table[schema.LABEL_SOURCE].to_pylist()):
        if source != "human":
            total += 1
            right += task.names[lab] == gold[row_id]
    return right / total


def chosen_by_build(task: Task, ds: Dataset, gold: dict[str, str], cache: Path,
                    seed: int) -> tuple[list[float], list[dict]]:
    """Accuracy after each round of the build's asked rows answered, and the last round's card figures."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        person = Person(folder, gold)
        curve, details = [], {}
        for k, ask in enumerate((*task.rounds, 0)):
            out, stats = _label(task, ds, folder, cache / f"run-{seed}", ask or 1, seed)
            curve.append(_accuracy(task, out, gold))
            details = stats.details["ask"]
            if k < len(task.rounds):
                person.answer(stats.review_rows["ask"]["id"])
        return curve, details["rounds"]


def drawn_at_random(task: Task, ds: Dataset, gold: dict[str, str], cache: Path, budget: int, draw: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        person = Person(folder, gold)
        person.answer(random.Random(100 + draw).sample(ds[schema.ID], budget))
        out, _ = _label(task, ds, folder, cache / f"random-{budget}-{draw}", 0, 0)
        return _accuracy(task, out, gold)


def supervised_ceiling(task: Task, ds: Dataset, gold: dict[str, str], cache: Path) -> float:
    """What the refining classifier's features can reach with every row's gold label (5-fold): the
    most any number of human labels could give through this path."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    vectors = Embedder(cache_dir=cache / "run-0", progress=False).encode(ds)
    x = learn.features(ds[schema.TEXT], vectors)
    y = np.array([task.names.index(gold[i]) for i in ds[schema.ID]])
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    predicted = cross_val_predict(LogisticRegression(C=4.0, max_iter=2000, random_state=0), x, y, cv=folds)
    return float((predicted == y).mean())


def learning_curve(task: Task, rows: int = 2000, data: Path = TEXT_DATA, draws: int = 5) -> dict[str, list[float]]:
    """Accuracy on the rows no person labelled after each round: the build's choice, the mean of
    ``draws`` random draws of as many rows (0: none drawn), and the features' supervised ceiling."""
    ds, gold = _rows(task, rows, seed=0, data=data)
    budgets = np.cumsum((0, *task.rounds)).tolist()
    with tempfile.TemporaryDirectory() as cache_dir:
        cache = Path(cache_dir)
        built, _ = chosen_by_build(task, ds, gold, cache, seed=0)
        drawn = [[drawn_at_random(task, ds, gold, cache, b, d) for d in range(draws)] if b and draws else [acc]
                 for b, acc in zip(budgets, built)]
        return {"budgets": budgets, "built": built, "random": [float(np.mean(d)) for d in drawn],
                "random_min": [min(d) for d in drawn], "random_max": [max(d) for d in drawn],
                "ceiling": [supervised_ceiling(task, ds, gold, cache)]}


def _table(task: Task, rows: int, figures: dict[str, list[float]]) -> None:
    print(f"\n{task.file}, {rows} rows, labels {task.names} (names only), embedding labels; "
          "accuracy on rows no person labelled")
    print("| human labels | asked by the build | random rows (mean of 5) | difference |")
    print("|---|---|---|---|")
    for k, budget in enumerate(figures["budgets"]):
        acc, mean = figures["built"][k], figures["random"][k]
        print(f"| {budget} | {acc:.4f} | {mean:.4f} (min {figures['random_min'][k]:.4f}, max "
              f"{figures['random_max'][k]:.4f}) | {(acc - mean) * 100:+.1f} points |")
    print(f"Every row's gold label, 5-fold, on the same features: {figures['ceiling'][0]:.4f}", flush=True)


def plot(curves: dict[str, dict[str, list[float]]], path: Path) -> None:
    """One panel per set: the build's choice against random rows (mean, and min-max band)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.6), dpi=100)
    for ax, (title, figures) in zip(np.atleast_1d(axes), curves.items()):
        x = figures["budgets"]
        ax.fill_between(x, figures["random_min"], figures["random_max"], color="tab:gray", alpha=0.2)
        ax.plot(x, figures["random"], "o--", color="tab:gray", label="random rows (mean of 5, min-max)")
        ax.plot(x, figures["built"], "o-", color="tab:blue", label="asked by the build")
        ax.axhline(figures["ceiling"][0], color="tab:green", lw=1, ls=":", label="every row's gold label (5-fold)")
        ax.set(title=title, xlabel="human labels", ylabel="accuracy on rows no person labelled", xticks=x)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--plot", type=Path, help="write the learning curves as a PNG here (docs/ask-oracle.png)")
    args = parser.parse_args()
    datasets.disable_progress_bars()  # the label stage is called as a library here: no build to turn them off
    started = time.perf_counter()
    curves = {}
    for task, title in ((AG_NEWS, "AG News, 4 topics"), (SMS_SPAM, "SMS spam, 13% spam")):
        curves[title] = learning_curve(task, args.rows)
        _table(task, args.rows, curves[title])
    if args.plot:
        plot(curves, args.plot)
    ds, gold = _rows(AG_NEWS, args.rows, seed=0)
    with tempfile.TemporaryDirectory() as cache_dir:
        cache = Path(cache_dir)
        print("\nThe card's estimate on AG News after 40 labels (round 3's random rows that people answered) "
              "against the truth:")
        print("| seed | estimate | 95% interval | true accuracy of that round's model | inside |")
        print("|---|---|---|---|---|")
        inside = 0
        for seed in range(1, args.seeds + 1):
            curve, rounds = chosen_by_build(AG_NEWS, ds, gold, cache, seed=seed)
            answered = [r for r in rounds if r["random_answered"]]
            # All rounds' random rows pooled up to round 3 (40 labels): the card's figure per round is
            # each round's own; pooling the first three rounds' draws gives the estimate at 40 labels.
            last = answered[min(2, len(answered) - 1)]
            truth = curve[last["round"] - 1]
            ok = last["ci95"][0] <= truth <= last["ci95"][1]
            inside += ok
            print(f"| {seed} | {last['accuracy']:.4f} (n={last['random_answered']}) | {last['ci95'][0]:.4f}-"
                  f"{last['ci95'][1]:.4f} | {truth:.4f} | {'yes' if ok else 'no'} |", flush=True)
        print(f"\ninside in {inside} of {args.seeds} seeds; {time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
