"""KMeans clusters named by a person, then refined: label accuracy on AG News with and without the
refining classifier, and with people's labels teaching it.

A simulated person names each cluster with the gold label most of its rows carry (the best naming
a person can give), then, for the last column, labels 40 rows drawn at random. Accuracy is on the
rows no person labelled. This is what the default of ``label.refine`` for ``kmeans`` rests on.

Needs ``../shared/data`` (AG News test). Run: ``.venv/bin/python -m benchmarks.kmeans_refine [--rows 2000]``.
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import datasets
import yaml
from datasets import Dataset

from hf_ftbuilder import schema
from hf_ftbuilder.config import KMeansLabel
from hf_ftbuilder.context import StageContext
from hf_ftbuilder.label import label

REPO = Path(__file__).resolve().parents[1]
AG_NEWS = REPO.parent / "shared" / "data" / "text" / "ag_news_test.csv"
NAMES = ["World", "Sports", "Business", "Sci/Tech"]
PEOPLE = 40


def _rows(n: int) -> tuple[Dataset, dict[str, str]]:
    with AG_NEWS.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    random.Random(0).shuffle(rows)
    rows = rows[:n]
    ids = [f"r{i:05d}" for i in range(len(rows))]
    return (Dataset.from_dict({schema.ID: ids, schema.TEXT: [r["text"] for r in rows]}),
            dict(zip(ids, (r["label"] for r in rows))))


def _accuracy(out: Dataset, gold: dict[str, str]) -> float:
    table = out.with_format("arrow")[:]
    pairs = [(NAMES[lab], gold[i]) for i, lab, src in zip(table[schema.ID].to_pylist(), table[schema.LABEL].to_pylist(),
                                                         table[schema.LABEL_SOURCE].to_pylist()) if src != "human"]
    return sum(a == b for a, b in pairs) / len(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    datasets.disable_progress_bars()
    ds, gold = _rows(args.rows)
    started = time.perf_counter()
    print(f"AG News test, {args.rows} rows; clusters named by their majority gold label; accuracy on rows no person labelled")
    print(f"| features | k | names only | refined | refined, {PEOPLE} random rows labelled by people |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shared = folder / "embeddings"
        shared.mkdir()
        people = random.Random(1).sample(sorted(gold), PEOPLE)
        (folder / "people.csv").write_text("id,label\n" + "".join(f"{i},{gold[i]}\n" for i in people))
        for features in ("embedding", "tfidf"):
            for k in (4, 8, 12):
                cache = folder / f"cache-{features}-{k}"
                cache.mkdir()
                (cache / "embeddings").symlink_to(shared, target_is_directory=True)
                context = StageContext(seed=0, base_dir=folder, cache_dir=cache, progress=False)
                base = {"kmeans": {"features": features, "k": k}}
                out, _ = label(ds, KMeansLabel(**base), context=context)
                members: dict[str, list[str]] = {}
                for row_id, source in zip(out[schema.ID], out[schema.LABEL_SOURCE]):
                    members.setdefault(source.split(":")[1], []).append(gold[row_id])
                mapping = {int(c): Counter(v).most_common(1)[0][0] for c, v in members.items()}
                (folder / f"names-{features}-{k}.yaml").write_text(yaml.safe_dump(mapping))
                named = {**base, "labels": NAMES, "cluster_names": f"names-{features}-{k}.yaml"}
                scores = []
                for extra in ({"refine": False}, {"refine": True}, {"refine": True, "annotations": "people.csv"}):
                    out, _ = label(ds, KMeansLabel(**named, **extra), context=context)
                    scores.append(_accuracy(out, gold))
                print(f"| {features} | {k} | " + " | ".join(f"{s:.4f}" for s in scores) + " |", flush=True)
    print(f"\n{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
