"""Transfer labelling with a pretrained NLI model: ``transformers``' zero-shot pipeline.

Each text is paired with one hypothesis per label (``hypothesis_template`` filled with the label
name); the label whose hypothesis the model finds most entailed wins, and its probability is the
row's ``label_score``; every label's probability is kept for choosing rows to ask about and for
learning from people's labels (:mod:`.learn`). The pipeline runs inside ``Dataset.map``: it is built once, on the first
batch that needs it, and passed in, so a rebuild whose rows are cached never loads the model.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import numpy as np
from datasets import Dataset, Features, List, Value

from .. import schema
from ..config import ZeroShotModel
from ..embedder import model_fingerprint
from ..engine import Engine, LocalEngine
from ..errors import ConfigError
from ..progress import quiet_model_loading

__all__ = ["ZeroShotBatch", "ZeroShotClassifier", "predict"]

logger = logging.getLogger(__name__)

_LABEL, _SCORE, _PROBA = "_zs_label", "_zs_score", "_zs_proba"


class ZeroShotClassifier:
    """A zero-shot pipeline built on first use, with a one-line error for a wrong model."""

    def __init__(self, cfg: ZeroShotModel, names: list[str]) -> None:
        self.model = cfg.model
        self.cfg = cfg
        self.names = names
        self._pipe: Any = None

    def pipeline(self) -> Any:
        if self._pipe is None:
            from transformers import pipeline

            device = self.cfg.device
            if device == "auto":
                import torch

                device = "cuda" if torch.cuda.is_available() else "cpu"
            try:
                with quiet_model_loading():
                    pipe = pipeline("zero-shot-classification", model=self.model, device=device)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"label.model: cannot load {self.model!r}: {str(exc).splitlines()[0]}") from exc
            if pipe.entailment_id == -1:
                labels = sorted(pipe.model.config.label2id)
                raise ConfigError(
                    f"label.model: {self.model!r} is not an NLI model (its labels {labels} have no 'entailment')"
                )
            if self.cfg.max_length:
                pipe.tokenizer.model_max_length = self.cfg.max_length
            self._pipe = pipe
        return self._pipe

    def __call__(self, texts: list[str], names: list[str]) -> tuple[list[int], list[float]]:
        """The index of the winning label and its probability, per text."""
        labels, scores, _ = self.classify(texts, names)
        return labels, scores

    def classify(self, texts: list[str], names: list[str]) -> tuple[list[int], list[float], list[list[float]]]:
        """The index of the winning label and its probability, and every label's probability (in the
        order of ``names``), per text."""
        if not texts:
            return [], [], []
        results = self.pipeline()(
            texts,
            candidate_labels=names,
            hypothesis_template=self.cfg.hypothesis_template,
            multi_label=self.cfg.multi_label,
            batch_size=self.cfg.batch_size,
        )
        if isinstance(results, dict):
            results = [results]
        index = {n: i for i, n in enumerate(names)}
        every = []
        for r in results:
            row = [0.0] * len(names)
            for name, score in zip(r["labels"], r["scores"]):
                row[index[name]] = float(score)
            every.append(row)
        return [index[r["labels"][0]] for r in results], [float(r["scores"][0]) for r in results], every

    def label_batch(self, batch: dict[str, list]) -> dict[str, list]:
        """The model step: label index and score of each ``text`` of a batch (for ``Engine.map_model``)."""
        labels, scores, every = self.classify(batch[schema.TEXT], self.names)
        return {_LABEL: labels, _SCORE: scores, _PROBA: every}


class ZeroShotBatch(ZeroShotClassifier):
    """:class:`ZeroShotClassifier` as a callable over batches: what an engine's model step builds."""

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:  # type: ignore[override]
        return self.label_batch(batch)


def predict(ds: Dataset, cfg: ZeroShotModel, names: list[str], *,
            engine: Engine | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label index and score of every row of ``ds``, and every label's probability (rows x labels).

    The map's fingerprint is the input's plus the model's files and the settings, so a rebuild
    reads the scores back from the cache without loading the model. The engine builds one
    classifier (locally) or one per Ray actor; each loads the model on its first batch.
    """
    key = json.dumps(
        ["every label", ds._fingerprint, model_fingerprint(cfg.model), names, cfg.hypothesis_template, cfg.multi_label,
         cfg.max_length],
        sort_keys=True,
    )
    out = (engine or LocalEngine()).map_model(
        ds,
        ZeroShotBatch,
        init_kwargs={"cfg": cfg, "names": names},
        batch_size=max(cfg.batch_size, 8),
        remove_columns=ds.column_names,
        features=Features({_LABEL: Value("int64"), _SCORE: Value("float32"), _PROBA: List(Value("float32"))}),
        fingerprint=hashlib.sha256(key.encode()).hexdigest()[:32],
        desc=f"label: zero-shot ({cfg.model})",
    )
    table = out.with_format("arrow")[:]
    return (
        table.column(_LABEL).to_numpy().astype(np.int64),
        table.column(_SCORE).to_numpy().astype(np.float32),
        np.array(table.column(_PROBA).to_pylist(), dtype=np.float64).reshape(len(table), len(names)),
    )
