"""embedder: the offline MiniLM as sentence-transformers pools it, token-length batches, int8, the vector cache."""

from __future__ import annotations

import numpy as np
import pytest

from hf_ftbuilder.embedder import Embedder
from hf_ftbuilder.errors import ConfigError

from .conftest import SENTENCE_TOPICS as TOPICS
from .conftest import SENTENCES


def test_embedder_matches_sentence_transformers_pooling(minilm) -> None:
    texts = ["A short sentence.", "A much longer sentence about the rocket launch that was delayed by wind."]
    vectors = minilm.encode(texts)
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(minilm.ref, device="cpu").encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(vectors, reference, atol=1e-4)


def test_embedder_batches_by_tokens_keep_each_text_its_vector(minilm) -> None:
    """Texts reordered by token count, in several batches, come back in their own order."""
    texts = [t for topic in TOPICS for t in SENTENCES[topic]] + ["", "Mars."]
    vectors = Embedder(batch_size=5, progress=False).encode(texts)
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(minilm.ref, device="cpu").encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(vectors, reference, atol=1e-4)


def test_int8_embedder_stays_near_fp32_under_its_own_key(minilm) -> None:
    import warnings

    texts = [t for topic in TOPICS for t in SENTENCES[topic]]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # torch.ao.quantization's are silenced
        warnings.simplefilter("error", UserWarning)
        int8 = Embedder(quantize="int8", progress=False)
        vectors = int8.encode(texts)
    assert (vectors * minilm.encode(texts)).sum(axis=1).min() > 0.97  # torch's default int8 scheme: 0.93 here
    assert int8.key != minilm.key
    with pytest.raises(ConfigError, match="quantize"):
        Embedder(quantize="int4")


def test_embedding_labels_quantize_int8_on_the_cpu_by_default() -> None:
    from hf_ftbuilder.config import EmbeddingLabel

    import torch

    label = EmbeddingLabel(labels=["a", "b"])
    assert label.quantize == "auto"
    native_bf16 = torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
    picked = "bf16" if native_bf16 else "int8"
    assert Embedder(quantize=label.quantize, device=label.device, progress=False).quantize == picked
    assert Embedder(quantize="auto", device="cuda", progress=False).quantize is None
    assert Embedder(quantize=None, progress=False).quantize is None  # quantize: null in a recipe
    assert Embedder(quantize="auto", progress=False).key == Embedder(quantize=picked, progress=False).key
    assert len({Embedder(quantize=q, progress=False).key for q in (None, "int8", "bf16")}) == 3
    with pytest.raises(ValueError, match="quantize: int8 runs on the CPU only, not on device 'cuda'"):
        EmbeddingLabel(labels=["a", "b"], quantize="int8", device="cuda")


def test_bf16_embedder_stays_at_fp32_vectors(minilm) -> None:
    texts = [t for topic in TOPICS for t in SENTENCES[topic]]
    vectors = Embedder(quantize="bf16", progress=False).encode(texts)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert (vectors * minilm.encode(texts)).sum(axis=1).min() > 0.999  # measured 0.9999 on AG News


def test_embedder_cache_skips_the_model(tmp_path, minilm) -> None:
    cold = Embedder(cache_dir=tmp_path, progress=False)
    first = cold.encode(["one text", "two texts", "one text"])
    assert len(list((tmp_path / "embeddings").rglob("*.npz"))) == 1
    warm = Embedder(cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(warm.encode(["two texts", "one text"]), first[[1, 0]])
    assert warm._step._model is None  # every vector came from the cache: the model was never loaded


