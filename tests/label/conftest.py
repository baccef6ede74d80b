"""Builders the people-in-the-loop label tests share: topic texts, JSONL files, built rows."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow.parquet as pq

WORDS = {
    "sports": "football match goal team league coach striker referee stadium season".split(),
    "cooking": "recipe oven flour bake sugar butter dough simmer garlic kitchen".split(),
    "space": "rocket orbit planet nasa astronaut launch satellite telescope galaxy moon".split(),
}

FILLER = "the a of and today people said new year after".split()

TOPICS = list(WORDS)

def topic_rows(n_per_topic: int, seed: int, start: int = 0) -> list[dict]:
    """Distinct texts: six topic words and three fillers each, topics interleaved."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_per_topic * len(TOPICS)):
        topic = TOPICS[i % len(TOPICS)]
        words = rng.sample(WORDS[topic], 6) + rng.sample(FILLER, 3)
        rng.shuffle(words)
        rows.append({"text": f"{' '.join(words)} number {start + i}", "gold": topic})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def read_split_rows(out: Path) -> list[dict]:
    rows = []
    for file in sorted((out / "data").glob("*.parquet")):
        rows += pq.read_table(file).to_pylist()
    return rows
