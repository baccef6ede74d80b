"""Builders the split tests share: texts drawn from a fixed vocabulary, labelled datasets."""

from __future__ import annotations

import random

from datasets import ClassLabel, Dataset, Features, Value

NAMES = ["ham", "spam", "eggs"]

VOCAB = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec "
         "romeo sierra tango uniform victor whiskey xray yankee zulu one two three four five six seven eight nine "
         "ten red green blue black white").split()


def random_texts(n: int, seed: int, words: int = 30) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(VOCAB) for _ in range(words)) + f" n{i}" for i in range(n)]


def labelled(texts: list[str], labels: list[int], **columns) -> Dataset:
    features = {"id": Value("string"), "text": Value("string"), "label": ClassLabel(names=NAMES)}
    data = {"id": [f"r{i}" for i in range(len(texts))], "text": texts, "label": labels}
    for name, values in columns.items():
        data[name] = values
        features[name] = Value("string")
    return Dataset.from_dict(data, features=Features(features))
