"""Labelling accuracy without gold labels on AG News (7,600 headlines, 4 topics).

hf_ftbuilder builds the file with ``label.method: embedding`` (the offline all-MiniLM-L6-v2) and
one-line label descriptions, until the label stage; the gold label passes through as
``source_label`` and is used only to score. Printed side by side, all with the same model and
vectors: cosine similarity to the label names alone, to the descriptions, and the project's labels
(descriptions, then refined by a classifier trained on the confident rows). Accuracy and macro-F1.
Needs ../shared/data. Run: ``.venv/bin/python -m benchmarks.label_quality``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared" / "data"

NAMES = ["World", "Sports", "Business", "Sci/Tech"]
#: One line per label, written from the label names and general knowledge of news topics only.
DESCRIPTIONS = {
    "World": ["world news", "international politics and government", "war, conflict and diplomacy",
              "elections and presidents"],
    "Sports": ["sports", "football, baseball, basketball and soccer games", "olympics, tennis and golf",
               "team wins championship"],
    "Business": ["business", "stock market and shares", "company earnings and profits",
                 "economy, oil prices and trade"],
    "Sci/Tech": ["science and technology", "computers, software and the internet", "space, NASA and research",
                 "mobile phones, gadgets and video games"],
}


def scores(gold: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import f1_score

    return {"accuracy": round(float((gold == predicted).mean()), 4),
            "macro_f1": round(float(f1_score(gold, predicted, average="macro")), 4)}


def measure(shared_data: Path, *, limit: int | None = None, cache_dir: Path | None = None) -> dict[str, dict[str, float]]:
    """Accuracy and macro-F1 of the three ways of labelling (see the module docstring)."""
    import hf_ftbuilder
    from hf_ftbuilder.embedder import Embedder
    from hf_ftbuilder.label import embedding

    source = shared_data / "text" / "ag_news_test.csv"
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        recipe = {
            "name": "ag_news_embedding",
            "seed": 42,
            "cache_dir": str(cache_dir or tmp_path / "cache"),
            "sources": [{"type": "csv", "path": str(source), "text_column": "text"}],
            "dedup": {"near": {"enabled": False}},  # score every row the file has
            "label": {"method": "embedding", "labels": NAMES, "descriptions": DESCRIPTIONS},
        }
        if limit:
            import csv

            with open(source, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))[:limit]
            small = tmp_path / "ag_small.csv"
            with open(small, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
            recipe["sources"][0]["path"] = str(small)
        path = tmp_path / "recipe.yaml"
        path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
        start = time.perf_counter()
        result = hf_ftbuilder.build(path, output_dir=tmp_path / "out", until="label", progress=False)
        seconds = time.perf_counter() - start
        ds = result.dataset["train"]
        gold = np.array([NAMES.index(v) for v in ds["source_label"]])
        ours = np.array(ds["label"])
        embedder = Embedder(cache_dir=Path(recipe["cache_dir"]), progress=False)
        vectors = embedder.encode(ds["text"])  # from the cache the build filled
        by_name = vectors @ embedding.prototypes(embedder, NAMES, {}).T
        by_description = vectors @ embedding.prototypes(embedder, NAMES, DESCRIPTIONS).T
    return {
        "rows": {"n": int(len(gold)), "build_seconds": round(seconds, 1)},
        "similarity to label names": scores(gold, by_name.argmax(axis=1)),
        "similarity to descriptions": scores(gold, by_description.argmax(axis=1)),
        "hf_ftbuilder (descriptions + refine)": scores(gold, ours),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--limit", type=int, help="only the first N rows")
    args = parser.parse_args(argv)
    figures = measure(args.shared, limit=args.limit)
    rows = figures.pop("rows")
    print(f"AG News test, {rows['n']} rows, no gold label used; build until label: {rows['build_seconds']} s\n")
    print("| labels from | accuracy | macro-F1 |\n|---|---:|---:|")
    for name, s in figures.items():
        print(f"| {name} | {s['accuracy']:.4f} | {s['macro_f1']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
