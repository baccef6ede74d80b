"""The few labels that matter: label accuracy after 0, 8, 16, 40 and 80 human labels on AG News.

A simulated person (an oracle answering from the gold column) labels the rows the build asks about
(``label.ask``, in rounds of 8, 8, 24 and 40), and, as the peer in the same run, the same number of
rows drawn at random (5 draws), fed through the same path (the annotations file the build reads).
The label method is ``embedding`` with the label names only (no descriptions, no examples) and the
default refine. Accuracy is measured on the rows no person labelled.

Then, for 5 seeds, the card's estimate: the accuracy of the last round's model on its randomly drawn
rows that people answered, with its 95% (Wilson) interval, against the true accuracy of that model.

Needs ``../shared/data`` (AG News test). Run: ``.venv/bin/python -m benchmarks.ask_oracle [--rows 2000]``.
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from pathlib import Path

import datasets
import numpy as np
from datasets import Dataset

from hf_ftbuilder import schema
from hf_ftbuilder.config import EmbeddingLabel
from hf_ftbuilder.context import StageContext
from hf_ftbuilder.label import label

REPO = Path(__file__).resolve().parents[1]
AG_NEWS = REPO.parent / "shared" / "data" / "text" / "ag_news_test.csv"
NAMES = ["World", "Sports", "Business", "Sci/Tech"]
ROUNDS = (8, 8, 24, 40)  # cumulative: 8, 16, 40, 80


def _rows(n: int, seed: int) -> tuple[Dataset, dict[str, str]]:
    with AG_NEWS.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    random.Random(seed).shuffle(rows)
    rows = rows[:n]
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


def _label(ds: Dataset, folder: Path, cache: Path, ask: int, seed: int):
    """The label stage with its own cache (its ask log), sharing the vectors of every run."""
    shared = cache.parent / "embeddings"
    shared.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / "embeddings").exists():
        (cache / "embeddings").symlink_to(shared, target_is_directory=True)
    cfg = EmbeddingLabel(labels=NAMES, annotations="answers.csv", ask=ask)
    return label(ds, cfg, context=StageContext(seed=seed, base_dir=folder, cache_dir=cache, progress=False))


def _accuracy(out: Dataset, gold: dict[str, str]) -> float:
    table = out.with_format("arrow")[:]
    right = total = 0
    for row_id, lab, source in zip(table[schema.ID].to_pylist(), table[schema.LABEL].to_pylist(),
                                   table[schema.LABEL_SOURCE].to_pylist()):
        if source != "human":
            total += 1
            right += NAMES[lab] == gold[row_id]
    return right / total


def chosen_by_build(ds: Dataset, gold: dict[str, str], cache: Path, seed: int) -> tuple[list[float], list[dict]]:
    """Accuracy after each round of the build's asked rows answered, and the last round's card figures."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        person = Person(folder, gold)
        curve, details = [], {}
        for k, ask in enumerate((*ROUNDS, 0)):
            out, stats = _label(ds, folder, cache / f"run-{seed}", ask or 1, seed)
            curve.append(_accuracy(out, gold))
            details = stats.details["ask"]
            if k < len(ROUNDS):
                person.answer(stats.review_rows["ask"]["id"])
        return curve, details["rounds"]


def drawn_at_random(ds: Dataset, gold: dict[str, str], cache: Path, budget: int, draw: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        person = Person(folder, gold)
        person.answer(random.Random(100 + draw).sample(ds[schema.ID], budget))
        out, _ = _label(ds, folder, cache / f"random-{budget}-{draw}", 0, 0)
        return _accuracy(out, gold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    datasets.disable_progress_bars()  # the label stage is called as a library here: no build to turn them off
    ds, gold = _rows(args.rows, seed=0)
    budgets = np.cumsum((0, *ROUNDS)).tolist()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache_dir:
        cache = Path(cache_dir)
        built, _ = chosen_by_build(ds, gold, cache, seed=0)
        print(f"AG News test, {args.rows} rows, 4 labels, embedding labels (names only), accuracy on rows no person labelled")
        print("| human labels | asked by the build | random rows (mean of 5) | difference |")
        print("|---|---|---|---|")
        for budget, acc in zip(budgets, built):
            draws = [drawn_at_random(ds, gold, cache, budget, d) for d in range(5)] if budget else [acc]
            mean = float(np.mean(draws))
            print(f"| {budget} | {acc:.4f} | {mean:.4f} (min {min(draws):.4f}, max {max(draws):.4f}) | "
                  f"{(acc - mean) * 100:+.1f} points |", flush=True)
        print("\nThe card's estimate after 40 labels (round 3's random rows that people answered) against the truth:")
        print("| seed | estimate | 95% interval | true accuracy of that round's model | inside |")
        print("|---|---|---|---|---|")
        inside = 0
        for seed in range(1, args.seeds + 1):
            curve, rounds = chosen_by_build(ds, gold, cache, seed=seed)
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
