"""Transfer labelling by embedding similarity, refined on the data itself.

1. Every text and every label is embedded with one sentence-embedding model. A label's vector is
   the mean of its name's and its descriptions' vectors (``label.descriptions``), and of its seed
   examples' mean (``label.examples``) when there are some: a class prototype.
2. Cosine similarity to the prototypes gives a first label per row; a softmax with temperature
   (``label.temperature``, or fitted on the seed examples) turns similarities into probabilities.
3. With ``refine`` (default), the first labels teach a light classifier (:mod:`.learn`: logistic
   regression on the text's embedding and TF-IDF features, trained on the rows whose first label is
   the most certain within its label), which relabels every row, when every label has at least
   ``MIN_ROWS_TO_REFINE`` rows.
4. Rows a person labelled teach the model: their vectors join their label's prototype (as seed
   examples do), and they train the refining classifier with their human label, weighted above a
   confident row (a person's label is worth more than the model's guess).
   On AG News (benchmarks/ask_oracle.py) a prototype worth 8 rows and a weight of 20 were the
   steadiest of the settings tried: a single odd example per label dragged a prototype worth 1
   row (seed 2: 0.81 -> 0.67 after 8 labels), and fitting per-label offsets to the similarities
   on the human rows did worse still.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from datasets import Dataset

from .. import schema
from ..config import EmbeddingModel
from ..embedder import Embedder
from ..engine import Engine
from ..errors import SourceError
from ..readers import read_csv, read_jsonl
from . import learn

__all__ = ["DEFAULT_TEMPERATURE", "EmbeddingResult", "fit_temperature", "predict", "prototypes", "softmax"]

logger = logging.getLogger(__name__)

#: Softmax temperature over cosine similarities when there is nothing to fit it on. Sentence
#: embedding models trained contrastively separate classes by a few hundredths of cosine.
DEFAULT_TEMPERATURE = 0.05
#: How many human-labelled rows a label's prototype (name, descriptions, examples) is worth.
PROTOTYPE_WEIGHT = 8.0


@dataclass
class EmbeddingResult:
    """Per-row label index and score, and what the report says about how they were found."""

    labels: np.ndarray
    scores: np.ndarray
    details: dict[str, Any] = field(default_factory=dict)
    proba: np.ndarray | None = None  # rows x labels
    vectors: np.ndarray | None = None  # unit embeddings, rows x dims


def softmax(similarities: np.ndarray, temperature: float) -> np.ndarray:
    z = similarities / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(similarities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of ``labels`` (grid search)."""
    grid = np.geomspace(0.005, 1.0, 60)
    rows = np.arange(len(labels))
    losses = [-np.log(softmax(similarities, t)[rows, labels] + 1e-12).mean() for t in grid]
    return float(grid[int(np.argmin(losses))])


def read_examples(path: Path, names: list[str]) -> tuple[list[str], np.ndarray]:
    """Texts and label indices of a seed-example file (CSV or JSONL with ``text`` and ``label``)."""
    if not path.is_file():
        raise SourceError(f"label.examples: {path}: file not found")
    table: pa.Table = read_jsonl(path)[0] if path.suffix in (".jsonl", ".json") else read_csv(path)[0]
    for column in (schema.TEXT, schema.LABEL):
        if column not in table.column_names:
            raise SourceError(f"label.examples: {path}: no {column!r} column (columns: {', '.join(table.column_names)})")
    index = {n: i for i, n in enumerate(names)}
    texts, labels = [], []
    for line, (text, label) in enumerate(zip(table.column(schema.TEXT).to_pylist(), table.column(schema.LABEL).to_pylist()), 2):
        name = None if label is None else str(label).strip()
        if name not in index:
            raise SourceError(f"label.examples: {path}: row {line - 1}: label {label!r} is not one of {names}")
        texts.append(str(text or ""))
        labels.append(index[name])
    return texts, np.array(labels, dtype=np.int64)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def prototypes(
    embedder: Embedder,
    names: list[str],
    descriptions: dict[str, str | list[str]],
    examples: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """One unit vector per label: name and descriptions, averaged with the seed examples' mean."""
    phrases: list[str] = []
    owner: list[int] = []
    for i, name in enumerate(names):
        extra = descriptions.get(name, [])
        for phrase in [name, *([extra] if isinstance(extra, str) else extra)]:
            phrases.append(phrase)
            owner.append(i)
    vectors = embedder.encode(phrases, desc="label: embed label names")
    owner_arr = np.array(owner)
    protos = np.stack([_unit(vectors[owner_arr == i].mean(axis=0)) for i in range(len(names))])
    if examples is not None:
        vecs, labels = examples
        for i in range(len(names)):
            if (labels == i).any():
                protos[i] = _unit(protos[i] + _unit(vecs[labels == i].mean(axis=0)))
    return protos


def _with_people(protos: np.ndarray, vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each prototype moved toward its human-labelled rows, each row counting as one example
    against ``PROTOTYPE_WEIGHT`` for what the prototype was (a single odd row cannot drag a
    label's prototype away from its name; many rows do)."""
    out = protos.copy()
    for i in range(len(protos)):
        mine = vectors[labels == i]
        if len(mine):
            out[i] = _unit(protos[i] * PROTOTYPE_WEIGHT + _unit(mine).sum(axis=0))
    return out


def _prepared(ds: Dataset, cfg: EmbeddingModel, names: list[str], *, base_dir: Path, cache_dir: Path | None,
              progress: bool, embedder: Embedder | None, engine: Engine | None,
              ) -> tuple[np.ndarray, np.ndarray, float, dict[str, Any]]:
    """The rows' unit vectors, the label prototypes, the softmax temperature and the details."""
    embedder = embedder or Embedder(
        cfg.model, batch_size=cfg.batch_size, max_length=cfg.max_length, device=cfg.device,
        quantize=cfg.quantize, cache_dir=cache_dir, progress=progress, engine=engine,
    )
    vectors = embedder.encode(ds, desc=f"label: embed ({embedder.name})")
    examples = None
    temperature = cfg.temperature
    details: dict[str, Any] = {"model": embedder.name, "descriptions": bool(cfg.descriptions)}
    if cfg.examples:
        ex_texts, ex_labels = read_examples(base_dir / cfg.examples, names)
        ex_vectors = embedder.encode(ex_texts, desc="label: embed examples")
        examples = (ex_vectors, ex_labels)
        details["examples"] = len(ex_texts)
    protos = prototypes(embedder, names, dict(cfg.descriptions), examples)
    if temperature is None:
        temperature = fit_temperature(examples[0] @ protos.T, examples[1]) if examples else DEFAULT_TEMPERATURE
    return vectors, protos, temperature, details


def two_groups(values: np.ndarray) -> float:
    """The cut that splits ``values`` into two groups with the largest between-group variance
    (Otsu's method on one dimension): where one label's similarities part into rows that carry it
    and rows that do not. The midpoint between the two values it falls between."""
    ordered = np.sort(values.astype(np.float64))
    n = len(ordered)
    if n < 2 or ordered[0] == ordered[-1]:
        return float(ordered[-1]) if n else 0.0
    k = np.arange(1, n)
    left = np.cumsum(ordered)[:-1]
    mean_left, mean_right = left / k, (ordered.sum() - left) / (n - k)
    between = k * (n - k) * (mean_left - mean_right) ** 2
    best = int(np.argmax(between))
    return float((ordered[best] + ordered[best + 1]) / 2)


def predict_many(
    ds: Dataset,
    cfg: EmbeddingModel,
    names: list[str],
    *,
    base_dir: Path,
    cache_dir: Path | None,
    seed: int,
    progress: bool = True,
    embedder: Embedder | None = None,
    engine: Engine | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Each label's probability per row, decided label by label (several labels per row).

    A label's similarities are cut in two (:func:`two_groups`): the rows above the cut carry it,
    with probability ``sigmoid((similarity - cut) / temperature)``. With ``refine``, and when every
    label has ``MIN_ROWS_TO_REFINE`` rows on each side of its cut, each label's decision teaches its
    own classifier (:func:`.learn.refine` with two classes, the rows farthest from the cut first),
    a one-vs-rest model on the text's TF-IDF and embedding that relabels every row.
    """
    vectors, protos, temperature, details = _prepared(ds, cfg, names, base_dir=base_dir, cache_dir=cache_dir,
                                                      progress=progress, embedder=embedder, engine=engine)
    similarities = vectors @ protos.T
    cuts = np.array([two_groups(similarities[:, j]) for j in range(len(names))])
    proba = 1.0 / (1.0 + np.exp(-(similarities - cuts) / temperature))
    details["temperature"] = round(float(temperature), 6)
    details["cuts"] = {n: round(float(c), 6) for n, c in zip(names, cuts)}
    given = similarities >= cuts
    sides = np.minimum(given.sum(axis=0), (~given).sum(axis=0))
    if cfg.refine and sides.min() >= learn.MIN_ROWS_TO_REFINE:
        texts = ds.with_format("arrow")[schema.TEXT].to_pylist()
        x = learn.features(texts, vectors)
        refined = np.zeros_like(proba)
        changed = 0
        for j in range(len(names)):
            p, _ = learn.refine(x, given[:, j].astype(np.int64), np.abs(similarities[:, j] - cuts[j]), 2, seed)
            refined[:, j] = p[:, 1]
            changed += int(((p[:, 1] >= 0.5) != given[:, j]).sum())
        proba = refined
        details["refine"] = {"one_vs_rest": len(names), "changed_from_similarity": changed}
    elif cfg.refine:
        details["refine"] = {"skipped": f"a label has fewer than {learn.MIN_ROWS_TO_REFINE} rows on one side of its cut"}
    return proba, details


def predict(
    ds: Dataset,
    cfg: EmbeddingModel,
    names: list[str],
    *,
    base_dir: Path,
    cache_dir: Path | None,
    seed: int,
    progress: bool = True,
    embedder: Embedder | None = None,
    engine: Engine | None = None,
    human: tuple[np.ndarray, np.ndarray] | None = None,
) -> EmbeddingResult:
    """Label every row of ``ds`` by similarity to the label prototypes (and refine, see above).

    ``human``: positions of rows a person labelled and their label indices; they teach the
    prototypes and the refining classifier.
    """
    vectors, protos, temperature, details = _prepared(ds, cfg, names, base_dir=base_dir, cache_dir=cache_dir,
                                                      progress=progress, embedder=embedder, engine=engine)
    if human is not None and len(human[0]):
        protos = _with_people(protos, vectors[human[0]], human[1])
        details["human_examples"] = int(len(human[0]))
    else:
        human = None
    similarities = vectors @ protos.T
    proba = softmax(similarities, temperature)
    first = similarities.argmax(axis=1)
    details["temperature"] = round(float(temperature), 6)
    if cfg.refine and learn.refinable(first, len(names), human):
        # The refining classifier reads the texts too (TF-IDF): the one place this method holds them all.
        texts = ds.with_format("arrow")[schema.TEXT].to_pylist()
        proba, refine_details = learn.refine(learn.features(texts, vectors), first, learn.margin(similarities),
                                             len(names), seed, human)
        details["refine"] = {**refine_details, "changed_from_similarity": int((proba.argmax(axis=1) != first).sum())}
    elif cfg.refine:
        details["refine"] = {"skipped": f"a label has fewer than {learn.MIN_ROWS_TO_REFINE} rows by similarity"}
    labels = proba.argmax(axis=1).astype(np.int64)
    return EmbeddingResult(labels=labels, scores=proba.max(axis=1).astype(np.float32), details=details,
                           proba=proba, vectors=vectors)
