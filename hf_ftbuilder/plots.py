"""The card's plots, drawn from ``quality.json`` alone (so ``ftbuild card`` can redraw them).

matplotlib with the Agg backend (no display), PNG without a software or date stamp, so the same
figures give the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["render"]

_PNG_METADATA = {"Software": None}


def _figure(width: float = 6.4, height: float = 3.6) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), dpi=100)


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, format="png", metadata=_PNG_METADATA)
    plt.close(fig)


def _class_distribution(quality: dict[str, Any], path: Path) -> bool:
    names = quality.get("labels", {}).get("names")
    if not names:
        return False
    import numpy as np

    fig, ax = _figure()
    splits = list(quality["splits"])
    width = 0.8 / max(len(splits), 1)
    x = np.arange(len(names))
    for k, split in enumerate(splits):
        counts = [quality["splits"][split]["label_counts"][n] for n in names]
        ax.bar(x + k * width, counts, width, label=split)
    ax.set_xticks(x + width * (len(splits) - 1) / 2, names, rotation=30 if len(names) > 6 else 0, ha="right" if len(names) > 6 else "center")
    ax.set_ylabel("rows")
    ax.set_title("Rows per class and split")
    ax.legend()
    _save(fig, path)
    return True


def _bars(histogram: dict[str, int], title: str, xlabel: str, path: Path) -> bool:
    if not histogram:
        return False
    fig, ax = _figure()
    ax.bar(range(len(histogram)), list(histogram.values()), color="#4c72b0")
    ax.set_xticks(range(len(histogram)), list(histogram), rotation=30, ha="right")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("rows")
    ax.set_title(title)
    _save(fig, path)
    return True


def _confusion(quality: dict[str, Any], path: Path) -> str | None:
    splits = quality.get("baseline", {}).get("tfidf_logreg", {}).get("splits", {})
    split = "test" if "test" in splits else "validation" if "validation" in splits else None
    names = quality.get("labels", {}).get("names")
    if split is None or not names or "confusion_matrix" not in splits[split]:  # several labels per row: none
        return None
    _heatmap(splits[split]["confusion_matrix"], names, ("predicted", "true"), f"Baseline confusion matrix ({split})",
             path)
    return split


def _heatmap(matrix: list[list[int]], names: list[str], axes: tuple[str, str], title: str, path: Path) -> None:
    size = 2.2 + 0.5 * len(names)
    fig, ax = _figure(size + 1, size)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    top = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", color="white" if value > top / 2 else "black")
    ax.set_title(title)
    _save(fig, path)


def _co_occurrence(quality: dict[str, Any], path: Path) -> bool:
    """With several labels per row: rows carrying both labels (the diagonal: each label's rows)."""
    labels = quality.get("labels", {})
    if "co_occurrence" not in labels:
        return False
    _heatmap(labels["co_occurrence"], labels["names"], ("label", "label"), "Rows carrying both labels", path)
    return True


def _learning_curve(quality: dict[str, Any], path: Path) -> bool:
    """Label accuracy per round of asked rows (``label.ask``): the estimate and its 95% interval
    against the human labels the round's model had."""
    label = next((s for s in quality.get("stages", []) if s.get("name") == "label"), {})
    rounds = [r for r in (label.get("details") or {}).get("ask", {}).get("rounds", []) if "accuracy" in r]
    if not rounds:
        return False
    fig, ax = _figure()
    x = [r["human_labels"] for r in rounds]
    y = [r["accuracy"] for r in rounds]
    low = [r["accuracy"] - r["ci95"][0] for r in rounds]
    high = [r["ci95"][1] - r["accuracy"] for r in rounds]
    ax.errorbar(x, y, yerr=[low, high], marker="o", capsize=4, color="#4c72b0")
    for r, xi, yi in zip(rounds, x, y):
        ax.annotate(f"n={r['random_answered']}", (xi, yi), textcoords="offset points", xytext=(6, -12), fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("human labels the model had")
    ax.set_ylabel("label accuracy (random rows)")
    ax.set_title("Label accuracy per round of asked rows (95% interval)")
    _save(fig, path)
    return True


def render(quality: dict[str, Any], images: Path) -> dict[str, str]:
    """Draw every plot the figures allow; returns ``{plot: relative path}`` for the card."""
    images.mkdir(parents=True, exist_ok=True)
    out: dict[str, str] = {}
    if _class_distribution(quality, images / "class_distribution.png"):
        out["class_distribution"] = "images/class_distribution.png"
    if _bars(quality.get("lengths", {}).get("histogram", {}), "Words per row", "words", images / "lengths.png"):
        out["lengths"] = "images/lengths.png"
    scores = quality.get("label_provenance", {}).get("score_histogram", {})
    if _bars(scores, "Label scores", "label_score", images / "label_scores.png"):
        out["label_scores"] = "images/label_scores.png"
    if _confusion(quality, images / "confusion_matrix.png"):
        out["confusion_matrix"] = "images/confusion_matrix.png"
    if _co_occurrence(quality, images / "co_occurrence.png"):
        out["co_occurrence"] = "images/co_occurrence.png"
    if _learning_curve(quality, images / "learning_curve.png"):
        out["learning_curve"] = "images/learning_curve.png"
    return out
