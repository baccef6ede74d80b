"""Embedding-labelling throughput on 2,000 AG News texts, against sentence-transformers, in one run.

For each way of embedding the same texts with all-MiniLM-L6-v2 (the offline copy): rows per
second, the mean cosine of its vectors to the peer's, and the labelling accuracy it leads to
(label descriptions, then refine, as ``label.method: embedding`` does; and, to show what the
vectors alone are worth, the similarity to the descriptions before refining). The gold labels
only score.

- ``sentence_transformers.SentenceTransformer.encode`` at default settings (the peer);
- hf_ftbuilder's embedder, cold (empty cache): fp32 (``quantize: null``), ``quantize: int8``, and
  the default (``quantize: auto``: bf16 on a CPU with AMX or AVX512-BF16, else int8);
- hf_ftbuilder's embedder, warm: a rebuild that finds every vector in ``cache_dir``.

Model loading (and quantising) is outside every timing. On a shared machine the times swing from
one pass to the next: ``--repeat N`` runs the passes N times, interleaved, and reports each one's
median time. Needs ../shared/data.
Run: ``.venv/bin/python -m benchmarks.label_throughput [--rows 5000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.label_quality import DESCRIPTIONS, NAMES, scores

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared" / "data"


def _labels(vectors: np.ndarray, texts: list[str], protos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels by similarity to the prototypes alone, and after refining (as the label stage does)."""
    from hf_ftbuilder.label import learn

    similarities = vectors @ protos.T
    first = similarities.argmax(axis=1)
    proba, _ = learn.refine(learn.features(texts, vectors), first, learn.margin(similarities),
                            len(NAMES), seed=42)
    return first, proba.argmax(axis=1)


def _timed(encode, texts: list[str]) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    vectors = encode(texts)
    return time.perf_counter() - start, vectors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=1, help="passes of each cold and warm embedding (median time)")
    args = parser.parse_args(argv)

    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()  # the "Loading weights" bars

    from hf_ftbuilder.embedder import Embedder, resolve_model

    with open(args.shared / "text" / "ag_news_test.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[: args.rows]
    texts = [r["text"] for r in rows]
    gold = np.array([NAMES.index(r["label"]) for r in rows])
    print(f"{len(texts)} AG News texts, all-MiniLM-L6-v2, {torch.get_num_threads()} torch threads, "
          f"median of {args.repeat} pass(es)\n")

    from hf_ftbuilder.label import embedding

    peer = SentenceTransformer(resolve_model(None), device="cpu")
    peer_protos = peer.encode([p for n in NAMES for p in [n, *DESCRIPTIONS[n]]], normalize_embeddings=True)
    bounds = np.cumsum([0, *[1 + len(DESCRIPTIONS[n]) for n in NAMES]])
    protos = np.stack([peer_protos[bounds[i] : bounds[i + 1]].mean(axis=0) for i in range(len(NAMES))])
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    # Loading, quantising and the first calls' one-off costs are not embedding: all before timing.
    peer.encode(texts[:64])
    schemes = (None, "int8", "auto")
    for quantize in schemes:
        Embedder(quantize=quantize, progress=False).encode(texts[:64])

    # "auto" is label.method: embedding's default: bf16 on a CPU with bf16 instructions, else int8.
    auto = Embedder(quantize="auto", progress=False).quantize
    names = {"peer": "sentence-transformers encode (peer)", None: "hf_ftbuilder cold, fp32 (quantize: null)",
             "int8": "hf_ftbuilder cold, quantize: int8",
             "auto": f"hf_ftbuilder cold, default (quantize: auto, here {auto})", "warm": "hf_ftbuilder warm (cache_dir)"}
    seconds: dict[str | None, list[float]] = {key: [] for key in names}
    vectors: dict[str | None, np.ndarray] = {}
    embedders: dict[str | None, Embedder] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in range(args.repeat):
            took, vectors["peer"] = _timed(lambda t: peer.encode(t, normalize_embeddings=True), texts)
            seconds["peer"].append(took)
            for quantize in schemes:
                cache = Path(tmp) / f"{quantize}-{attempt}"  # empty: a cold build
                embedders[quantize] = Embedder(quantize=quantize, cache_dir=cache, progress=False)
                took, vectors[quantize] = _timed(embedders[quantize].encode, texts)
                seconds[quantize].append(took)
                if quantize is None:
                    embedders["warm"] = Embedder(cache_dir=cache, progress=False)
                    took, vectors["warm"] = _timed(embedders["warm"].encode, texts)
                    seconds["warm"].append(took)
                    assert embedders["warm"]._step._model is None, "a warm rebuild ran the model"
        results = []
        for key, name in names.items():
            key_protos = protos if key == "peer" else embedding.prototypes(embedders[key], NAMES, DESCRIPTIONS)
            first, refined = _labels(vectors[key], texts, key_protos)
            cosine = float((vectors[key] * vectors["peer"]).sum(axis=1).mean())
            results.append((name, float(np.median(seconds[key])), cosine, first, refined))
    peer_seconds = results[0][1]

    print("| embedding | seconds | rows/s | × peer | cosine to peer | accuracy, similarity only "
          "| accuracy | macro-F1 |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, took, cosine, first, refined in results:
        s = scores(gold, refined)
        print(f"| {name} | {took:.2f} | {len(texts) / took:,.0f} | {peer_seconds / took:.2f} | {cosine:.4f} "
              f"| {scores(gold, first)['accuracy']:.4f} | {s['accuracy']:.4f} | {s['macro_f1']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
