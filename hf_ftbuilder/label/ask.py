"""Which rows to ask a person about (``label.ask: N``): the few labels that would help most.

After the model has labelled the rows, up to N rows that no person labelled yet are chosen:

1. **Coverage**: every label first, the rarest first: the row the model gives that label the
   highest probability (so a label the model rarely or never picks still gets a human example).
2. **Doubt**: then the rows whose top two probabilities are closest (the smallest margin).
3. **Spread**: a candidate whose embedding is nearly the same as an already chosen row's (cosine
   at or above ``SAME``) is passed over: two answers about one kind of row teach little more
   than one.
4. **Random**: about one asked row in four is drawn uniformly from the rows not yet labelled
   (``why: random``). The people's answers on those rows are a sample the model did not choose,
   so the share the model got right is an unbiased estimate of its label accuracy.

Everything is seeded: the same rows and labels give the same rows to ask.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic_file import write_atomic

__all__ = ["RANDOM_SHARE", "SAME", "Asked", "choose", "rounds", "wilson"]

#: The share of asked rows drawn at random (rounded, at least one once N >= 2).
RANDOM_SHARE = 0.25
#: Cosine similarity at which two candidates count as the same kind of row.
SAME = 0.92


@dataclass
class Asked:
    """The rows chosen (positions in the labelled rows) and why each was chosen."""

    rows: list[int]
    why: list[str]


def _margin(proba: np.ndarray) -> np.ndarray:
    top = np.sort(proba, axis=1)
    return top[:, -1] - top[:, -2] if proba.shape[1] > 1 else top[:, -1]


def choose(
    n: int,
    *,
    proba: np.ndarray,
    open_rows: np.ndarray,
    seed: int,
    vectors: np.ndarray | None = None,
    names: list[str] | None = None,
) -> Asked:
    """Choose up to ``n`` of ``open_rows`` to ask a person about.

    Args:
        n: how many rows to ask about.
        proba: the model's probability per row and label (rows x labels); a method that only knows
            its top label's score passes a one-hot matrix scaled by that score.
        open_rows: positions of the rows that may be asked (no person has labelled them).
        seed: the build's seed.
        vectors: unit embeddings per row, for spreading the choice (None: no spreading).
        names: label names, for the ``why`` of coverage picks.
    """
    open_rows = np.asarray(open_rows, dtype=np.int64)
    n = min(n, len(open_rows))
    if n <= 0:
        return Asked([], [])
    rng = np.random.default_rng(seed)
    n_random = int(round(n * RANDOM_SHARE)) if n >= 2 else 0
    drawn = sorted(rng.choice(open_rows, size=n_random, replace=False).tolist()) if n_random else []
    taken = set(drawn)
    chosen: list[int] = []
    why: list[str] = []

    def far_enough(row: int) -> bool:
        if vectors is None or not chosen:
            return True
        return float((vectors[chosen] @ vectors[row]).max()) < SAME

    candidates = np.array([r for r in open_rows.tolist() if r not in taken], dtype=np.int64)
    budget = n - len(drawn)
    if len(candidates) and budget > 0:
        predicted = proba[candidates].argmax(axis=1)
        counts = np.bincount(predicted, minlength=proba.shape[1])
        for label in np.argsort(counts, kind="stable"):  # the rarest label first
            if len(chosen) >= budget:
                break
            order = candidates[np.argsort(-proba[candidates, label], kind="stable")]
            for row in order.tolist():
                if row not in taken and far_enough(row):
                    chosen.append(row)
                    taken.add(row)
                    why.append(f"coverage: {names[label] if names else label}")
                    break
        by_doubt = candidates[np.argsort(_margin(proba[candidates]), kind="stable")].tolist()
        for spread in (True, False):  # the second pass only when every row left is a near-copy of a chosen one
            for row in by_doubt:
                if len(chosen) >= budget:
                    break
                if row not in taken and (not spread or far_enough(row)):
                    chosen.append(row)
                    taken.add(row)
                    why.append("doubt")
    return Asked(rows=chosen + drawn, why=why + ["random"] * len(drawn))


def wilson(right: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default): sound at small counts and at 0 or 1."""
    if total == 0:
        return 0.0, 1.0
    p = right / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, float(centre - half)), min(1.0, float(centre + half))


def rounds(
    log_path: Path,
    *,
    asked: list[dict[str, Any]],
    human: dict[str, str],
) -> list[dict[str, Any]]:
    """Record this build's asked rows as a round, and measure every round against people's answers.

    A build with more human labels than the last round had starts a new round; a rebuild without
    new labels redoes the last one (it asks the same rows). The log lives in the build's cache
    (``label/ask-log.json``), written atomically.

    Args:
        log_path: the log file.
        asked: this build's asked rows: ``id``, ``suggested`` (the model's label then), ``why``.
        human: every row id a person labelled, and the label.

    Returns:
        Per round: the human labels the model had, the rows asked and drawn at random, and, over
        the random rows people have answered since, the model's accuracy with its 95% interval:
        an estimate of label accuracy on rows nobody chose.
    """
    log: list[dict[str, Any]] = []
    if log_path.is_file():
        try:
            log = json.loads(log_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            log = []  # a log from a killed write of an older version: start the history again
    entry = {"human_labels": len(human), "asked": asked}
    if log and log[-1]["human_labels"] >= len(human):
        log[-1] = {**entry, "round": log[-1]["round"]}
    else:
        log.append({**entry, "round": len(log) + 1})
    write_atomic(log_path, json.dumps(log, ensure_ascii=False, indent=1) + "\n")
    curve = []
    for r in log:
        drawn = [a for a in r["asked"] if a["why"] == "random" and a["id"] in human]
        right = sum(1 for a in drawn if a["suggested"] == human[a["id"]])
        point: dict[str, Any] = {"round": r["round"], "human_labels": r["human_labels"], "asked": len(r["asked"]),
                                 "random_answered": len(drawn)}
        if drawn:
            low, high = wilson(right, len(drawn))
            point.update(accuracy=round(right / len(drawn), 4), ci95=[round(low, 4), round(high, 4)])
        curve.append(point)
    return curve
